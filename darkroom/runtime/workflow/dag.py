"""Workflow definitions: DAGs of task, map and reduce steps, written in Python.

>>> wf = Workflow("thumbnails", inputs=["photos"])
>>> listing = wf.task("list", list_photos, photos=wf.input("photos"))
>>> thumbs = wf.map("thumb", make_thumbnail, over=listing["items"], width=320)
>>> sheet = wf.reduce("sheet", contact_sheet, over=thumbs, options=StepOptions(timeout_s=60))
>>> wf.output("sheet", sheet["path"])

A step calls a function given as the callable registered with ``@registry.function``, its
:class:`~darkroom.runtime.functions.Function`, or its registered name; a callable's return type
types the step's handle (``Step[T]``; a map's is ``Step[list[T]]``). The function's arguments are
keyword arguments; a name the step method uses itself (``options``, ``over``, ``item_arg``,
``results_arg``) goes in the positional ``args`` mapping instead. How the step runs (``after``,
``timeout_s``, ``max_attempts``) is a :class:`StepOptions`, so it never shares a namespace with
the function's arguments.

Steps name their inputs with references (:class:`Ref`) to workflow inputs or to earlier steps'
outputs; a step runs when every step it references (and every ``after`` step) has succeeded.
Steps can only reference steps defined before them, so a definition is acyclic by construction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeAlias, TypeVar, overload

from darkroom.runtime.errors import InvalidWorkflow
from darkroom.runtime.functions import Function, registered_as

__all__ = ["INPUT", "PRIORITIES", "FunctionRef", "Ref", "Step", "StepKind", "StepOptions", "Workflow", "resolve"]

StepKind = Literal["task", "map", "reduce"]
INPUT = "$input"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# Priority classes become deadlines (seconds from the start of the run): the queue serves the
# earliest deadline first, so a studio preview overtakes a catalogue re-encode.
PRIORITIES: dict[str, float] = {
    "interactive": 60.0,
    "preview": 300.0,
    "standard": 3600.0,
    "batch": 86400.0,
}


@dataclass(frozen=True)
class Ref(Generic[T_co]):
    """A value produced elsewhere: a workflow input, or (a part of) a step's output; ``T_co`` is
    its type when known (a whole step's output)."""

    source: str
    path: tuple[str | int, ...] = ()

    def __getitem__(self, key: str | int) -> Ref[object]:
        return Ref(self.source, (*self.path, key))

    def __str__(self) -> str:
        return ".".join([self.source, *map(str, self.path)])


@dataclass(frozen=True)
class StepOptions:
    """How a step runs, apart from its function's arguments: ``after`` (steps that must succeed
    first although no argument references them), ``timeout_s`` (the whole step's; default none)
    and ``max_attempts`` per task (default the function's)."""

    after: Sequence[Step[object]] = ()
    timeout_s: float | None = None
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "after", tuple(self.after))
        if not all(isinstance(s, Step) for s in self.after):
            raise InvalidWorkflow(f"StepOptions.after={self.after!r} must list steps of the workflow")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise InvalidWorkflow(f"StepOptions.timeout_s={self.timeout_s!r} must be positive")
        if self.max_attempts is not None and (isinstance(self.max_attempts, bool) or self.max_attempts < 1):
            raise InvalidWorkflow(f"StepOptions.max_attempts={self.max_attempts!r} must be at least 1")


_DEFAULT = StepOptions()


@dataclass(frozen=True)
class Step(Generic[T_co]):
    """A step of a workflow; ``T_co`` is the type of its output (a map's: the list of its items')."""

    name: str
    kind: StepKind
    fn: str  # the function's registered name
    args: Mapping[str, object] = field(default_factory=dict)
    over: Ref[object] | None = None
    options: StepOptions = _DEFAULT
    item_arg: str = "item"
    results_arg: str = "results"
    # the callable or Function the step was given (None: a name), checked when registered
    target: object = field(default=None, compare=False, repr=False)

    def __getitem__(self, key: str | int) -> Ref[object]:
        return Ref(self.name, (key,))

    @property
    def ref(self) -> Ref[T_co]:
        """The step's whole output."""
        return Ref(self.name)

    @property
    def after(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.options.after)

    @property
    def timeout_s(self) -> float | None:
        return self.options.timeout_s

    @property
    def max_attempts(self) -> int | None:
        return self.options.max_attempts

    @property
    def deps(self) -> frozenset[str]:
        refs = [*_refs(self.args), *([self.over] if self.over else [])]
        return frozenset({r.source for r in refs if r.source != INPUT} | set(self.after))


# What a step may call: the registered callable (typing the step's output), its Function, or its name.
FunctionRef: TypeAlias = Callable[..., object] | Function | str


def _refs(value: object) -> Iterable[Ref[object]]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _refs(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _refs(v)


def resolve(value: object, inputs: Mapping[str, object], outputs: Mapping[str, object]) -> Any:
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
        self.steps: dict[str, Step[object]] = {}
        self.outputs: dict[str, Ref[object]] = {}

    def input(self, name: str) -> Ref[object]:
        if name not in self.inputs:
            raise InvalidWorkflow(f"workflow {self.name!r} declares no input {name!r} (inputs: {self.inputs})")
        return Ref(INPUT, (name,))

    @overload
    def task(
        self,
        name: str,
        fn: Callable[..., T],
        args: Mapping[str, object] | None = None,
        /,
        *,
        options: StepOptions = _DEFAULT,
        **kwargs: object,
    ) -> Step[T]: ...
    @overload
    def task(
        self,
        name: str,
        fn: Function | str,
        args: Mapping[str, object] | None = None,
        /,
        *,
        options: StepOptions = _DEFAULT,
        **kwargs: object,
    ) -> Step[object]: ...
    def task(
        self,
        name: str,
        fn: FunctionRef,
        args: Mapping[str, object] | None = None,
        /,
        *,
        options: StepOptions = _DEFAULT,
        **kwargs: object,
    ) -> Step[object]:
        """Call ``fn`` once with ``args`` and the keyword arguments."""
        fn_name, target = _function(name, fn)
        step: Step[object] = Step(
            name, "task", fn_name, _args(name, args, kwargs), None, _options(name, options), target=target
        )
        return self._add(step)

    @overload
    def map(
        self,
        name: str,
        fn: Callable[..., T],
        args: Mapping[str, object] | None = None,
        /,
        *,
        over: Ref[object],
        item_arg: str = "item",
        options: StepOptions = _DEFAULT,
        **kwargs: object,
    ) -> Step[list[T]]: ...
    @overload
    def map(
        self,
        name: str,
        fn: Function | str,
        args: Mapping[str, object] | None = None,
        /,
        *,
        over: Ref[object],
        item_arg: str = "item",
        options: StepOptions = _DEFAULT,
        **kwargs: object,
    ) -> Step[list[object]]: ...
    def map(
        self,
        name: str,
        fn: FunctionRef,
        args: Mapping[str, object] | None = None,
        /,
        *,
        over: Ref[object],
        item_arg: str = "item",
        options: StepOptions = _DEFAULT,
        **kwargs: object,
    ) -> Step[Sequence[object]]:
        """Run ``fn`` once per item of the list ``over`` points at, passing the item as ``item_arg``."""
        if not isinstance(over, Ref):
            raise InvalidWorkflow(f"map {name!r}: over must reference a list produced earlier")
        fn_name, target = _function(name, fn)
        step: Step[list[object]] = Step(
            name,
            "map",
            fn_name,
            _args(name, args, kwargs),
            over,
            _options(name, options),
            item_arg=item_arg,
            target=target,
        )
        return self._add(step)

    @overload
    def reduce(
        self,
        name: str,
        fn: Callable[..., T],
        args: Mapping[str, object] | None = None,
        /,
        *,
        over: Step[Sequence[object]],
        results_arg: str = "results",
        options: StepOptions = _DEFAULT,
        **kwargs: object,
    ) -> Step[T]: ...
    @overload
    def reduce(
        self,
        name: str,
        fn: Function | str,
        args: Mapping[str, object] | None = None,
        /,
        *,
        over: Step[Sequence[object]],
        results_arg: str = "results",
        options: StepOptions = _DEFAULT,
        **kwargs: object,
    ) -> Step[object]: ...
    def reduce(
        self,
        name: str,
        fn: FunctionRef,
        args: Mapping[str, object] | None = None,
        /,
        *,
        over: Step[Sequence[object]],
        results_arg: str = "results",
        options: StepOptions = _DEFAULT,
        **kwargs: object,
    ) -> Step[object]:
        """Run ``fn`` once after every item of the map ``over``, with their outputs as ``results_arg``."""
        if not isinstance(over, Step) or over.kind != "map":
            raise InvalidWorkflow(f"reduce {name!r}: over must be a map step")
        fn_name, target = _function(name, fn)
        step: Step[object] = Step(
            name,
            "reduce",
            fn_name,
            _args(name, args, kwargs),
            over.ref,
            _options(name, options),
            results_arg=results_arg,
            target=target,
        )
        return self._add(step)

    def output(self, name: str, ref: Ref[object] | Step[object]) -> None:
        ref = ref.ref if isinstance(ref, Step) else ref
        if ref.source != INPUT and ref.source not in self.steps:
            raise InvalidWorkflow(f"output {name!r} references unknown step {ref.source!r}")
        self.outputs[name] = ref

    def _add(self, step: Step[T]) -> Step[T]:
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
        for dep in step.options.after:
            if self.steps.get(dep.name) is not dep:
                raise InvalidWorkflow(f"step {step.name!r} runs after {dep.name!r}, which is not an earlier step")
        reserved = {step.item_arg} if step.kind == "map" else {step.results_arg} if step.kind == "reduce" else set()
        if reserved & set(step.args):
            raise InvalidWorkflow(f"step {step.name!r}: argument {sorted(reserved)[0]!r} is filled by the runtime")
        self.steps[step.name] = step
        return step

    def check_inputs(self, inputs: Mapping[str, object]) -> None:
        missing = [n for n in self.inputs if n not in inputs]
        unknown = [n for n in inputs if n not in self.inputs]
        if missing or unknown:
            raise InvalidWorkflow(
                f"workflow {self.name!r}: missing inputs {missing}, unknown inputs {unknown}"
                if missing
                else f"workflow {self.name!r}: unknown inputs {unknown} (declared: {list(self.inputs)})"
            )


def _function(step: str, fn: object) -> tuple[str, object]:
    """The registered name of what ``step`` calls, and the object it was given (None for a name)."""
    if isinstance(fn, str):
        return fn, None
    if isinstance(fn, Function):
        return fn.name, fn
    if callable(fn):
        registered = registered_as(fn)
        # an unregistered callable keeps its own name: Registry.add_workflow refuses it. One
        # registered under several names is named by its last registration (pass another's
        # name or Function to call that one).
        return (registered.name if registered is not None else getattr(fn, "__name__", repr(fn))), fn
    raise InvalidWorkflow(f"step {step!r}: {fn!r} is not a function, a Function or a function's name")


def _args(step: str, args: Mapping[str, object] | None, kwargs: Mapping[str, object]) -> dict[str, object]:
    both = dict(args or {})
    twice = sorted(both.keys() & kwargs.keys())
    if twice:
        raise InvalidWorkflow(f"step {step!r}: argument {twice[0]!r} is given both in args and as a keyword")
    both.update(kwargs)
    return both


def _options(step: str, options: object) -> StepOptions:
    if not isinstance(options, StepOptions):
        raise InvalidWorkflow(
            f"step {step!r}: options={options!r} is not a StepOptions (a function argument named "
            "'options' goes in the args mapping)"
        )
    return options
