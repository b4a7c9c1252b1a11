"""Workflow definitions: DAGs of task, map and reduce steps, written in Python.

>>> wf = Workflow("thumbnails", inputs=["photos"])
>>> sizes = wf.task("list", "list_photos", photos=wf.input("photos"))
>>> thumbs = wf.map("thumb", "make_thumbnail", over=sizes["items"], width=320)
>>> sheet = wf.reduce("sheet", "contact_sheet", over=thumbs)
>>> wf.output("sheet", sheet["path"])

Steps name their inputs with references (:class:`Ref`) to workflow inputs or to earlier steps'
outputs; a step runs when every step it references (and every ``after`` step) has succeeded.
Steps can only reference steps defined before them, so a definition is acyclic by construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from darkroom.runtime.errors import InvalidWorkflow

__all__ = ["PRIORITIES", "INPUT", "Ref", "Step", "StepKind", "Workflow", "resolve"]

StepKind = Literal["task", "map", "reduce"]
INPUT = "$input"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

# Priority classes become deadlines (seconds from the start of the run): the queue serves the
# earliest deadline first, so a studio preview overtakes a catalogue re-encode.
PRIORITIES: dict[str, float] = {
    "interactive": 60.0,
    "preview": 300.0,
    "standard": 3600.0,
    "batch": 86400.0,
}


@dataclass(frozen=True)
class Ref:
    """A value produced elsewhere: a workflow input, or (a part of) a step's output."""

    source: str
    path: tuple[str | int, ...] = ()

    def __getitem__(self, key: str | int) -> Ref:
        return Ref(self.source, (*self.path, key))

    def __str__(self) -> str:
        return ".".join([self.source, *map(str, self.path)])


@dataclass(frozen=True)
class Step:
    name: str
    kind: StepKind
    fn: str
    args: Mapping[str, Any] = field(default_factory=dict)
    over: Ref | None = None
    after: tuple[str, ...] = ()
    timeout_s: float | None = None
    max_attempts: int | None = None
    item_arg: str = "item"
    results_arg: str = "results"

    def __getitem__(self, key: str | int) -> Ref:
        return Ref(self.name, (key,))

    @property
    def ref(self) -> Ref:
        """The step's whole output."""
        return Ref(self.name)

    @property
    def deps(self) -> frozenset[str]:
        refs = [*_refs(self.args), *([self.over] if self.over else [])]
        return frozenset({r.source for r in refs if r.source != INPUT} | set(self.after))


def _refs(value: Any) -> Iterable[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _refs(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _refs(v)


def resolve(value: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    """``value`` with every reference replaced by what it points at."""
    if isinstance(value, Ref):
        target: Any = inputs if value.source == INPUT else outputs[value.source]
        for key in value.path:
            try:
                target = target[key]
            except (KeyError, IndexError, TypeError):
                raise InvalidWorkflow(f"{value} does not exist in the produced value") from None
        return target
    if isinstance(value, Mapping):
        return {k: resolve(v, inputs, outputs) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, inputs, outputs) for v in value]
    return value


class Workflow:
    """A named DAG of steps with declared inputs and outputs."""

    def __init__(
        self, name: str, *, inputs: Sequence[str] = (), priority: str = "standard", description: str = ""
    ) -> None:
        if not re.match(r"^[a-z][a-z0-9_.-]{0,99}$", name):
            raise InvalidWorkflow(f"workflow name {name!r} must match [a-z][a-z0-9_.-]{{0,99}}")
        if priority not in PRIORITIES:
            raise InvalidWorkflow(f"priority {priority!r} is not one of {sorted(PRIORITIES)}")
        self.name = name
        self.inputs = tuple(inputs)
        self.priority = priority
        self.description = description
        self.steps: dict[str, Step] = {}
        self.outputs: dict[str, Ref] = {}

    def input(self, name: str) -> Ref:
        if name not in self.inputs:
            raise InvalidWorkflow(f"workflow {self.name!r} declares no input {name!r} (inputs: {self.inputs})")
        return Ref(INPUT, (name,))

    def task(
        self,
        name: str,
        fn: str,
        *,
        after: Sequence[Step] = (),
        timeout_s: float | None = None,
        max_attempts: int | None = None,
        **args: Any,
    ) -> Step:
        return self._add(Step(name, "task", fn, args, None, _names(after), timeout_s, max_attempts))

    def map(
        self,
        name: str,
        fn: str,
        *,
        over: Ref,
        item_arg: str = "item",
        after: Sequence[Step] = (),
        timeout_s: float | None = None,
        max_attempts: int | None = None,
        **args: Any,
    ) -> Step:
        """Run ``fn`` once per item of the list ``over`` points at, passing the item as ``item_arg``."""
        if not isinstance(over, Ref):
            raise InvalidWorkflow(f"map {name!r}: over must reference a list produced earlier")
        return self._add(Step(name, "map", fn, args, over, _names(after), timeout_s, max_attempts, item_arg=item_arg))

    def reduce(
        self,
        name: str,
        fn: str,
        *,
        over: Step,
        results_arg: str = "results",
        timeout_s: float | None = None,
        max_attempts: int | None = None,
        **args: Any,
    ) -> Step:
        """Run ``fn`` once after every item of the map ``over``, with their outputs as ``results_arg``."""
        if not isinstance(over, Step) or over.kind != "map":
            raise InvalidWorkflow(f"reduce {name!r}: over must be a map step")
        step = Step(name, "reduce", fn, args, over.ref, (), timeout_s, max_attempts, results_arg=results_arg)
        return self._add(step)

    def output(self, name: str, ref: Ref | Step) -> None:
        ref = ref.ref if isinstance(ref, Step) else ref
        if ref.source != INPUT and ref.source not in self.steps:
            raise InvalidWorkflow(f"output {name!r} references unknown step {ref.source!r}")
        self.outputs[name] = ref

    def _add(self, step: Step) -> Step:
        if not _NAME.match(step.name):
            raise InvalidWorkflow(f"step name {step.name!r} must match {_NAME.pattern}")
        if step.name in self.steps:
            raise InvalidWorkflow(f"workflow {self.name!r} already has a step {step.name!r}")
        for ref in _refs([step.args, step.over]):
            if ref.source == INPUT:
                if not ref.path or ref.path[0] not in self.inputs:
                    raise InvalidWorkflow(f"step {step.name!r} references undeclared input {ref}")
            elif ref.source not in self.steps:
                raise InvalidWorkflow(f"step {step.name!r} references {ref}, which is not an earlier step")
        for dep in step.after:
            if dep not in self.steps:
                raise InvalidWorkflow(f"step {step.name!r} runs after unknown step {dep!r}")
        reserved = {step.item_arg} if step.kind == "map" else {step.results_arg} if step.kind == "reduce" else set()
        if reserved & set(step.args):
            raise InvalidWorkflow(f"step {step.name!r}: argument {sorted(reserved)[0]!r} is filled by the runtime")
        self.steps[step.name] = step
        return step

    def check_inputs(self, inputs: Mapping[str, Any]) -> None:
        missing = [n for n in self.inputs if n not in inputs]
        unknown = [n for n in inputs if n not in self.inputs]
        if missing or unknown:
            raise InvalidWorkflow(
                f"workflow {self.name!r}: missing inputs {missing}, unknown inputs {unknown}"
                if missing
                else f"workflow {self.name!r}: unknown inputs {unknown} (declared: {list(self.inputs)})"
            )


def _names(steps: Sequence[Step]) -> tuple[str, ...]:
    return tuple(s.name for s in steps)
