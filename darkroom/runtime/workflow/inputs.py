"""Checking a run's inputs against the functions that consume them, when the run starts.

A workflow input passed whole to a step argument (``wf.task("plan", "plan", n=wf.input("n"))``)
must fit that argument's annotation (``def plan(ctx, n: int)``); an input a map runs ``over`` must
be a list whose items fit the item argument. A value that does not fit is refused before anything
runs, naming the input, the value, the step and the function, instead of failing the step on every
attempt. Scalars are coerced the way the annotation reads them (``"50"`` for an ``int`` becomes 50,
``123`` for a ``str`` becomes ``"123"``), since a command line cannot tell them apart; containers
are only checked. Values holding a blob reference, unannotated arguments and annotations that
cannot be resolved are not checked: the runtime turns blob references into local paths later.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import ConfigDict, PydanticSchemaGenerationError, TypeAdapter, ValidationError

from darkroom.runtime.errors import InvalidWorkflow
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow.dag import INPUT, Ref, Workflow

__all__ = ["Consumer", "check_run_inputs", "consumers"]

_SCALARS = (str, int, float, bool, type(None))
_CONFIG = ConfigDict(coerce_numbers_to_str=True, arbitrary_types_allowed=True)


@dataclass(frozen=True)
class Consumer:
    """A step argument that receives a workflow input whole (``each``: one item per map task)."""

    input: str
    step: str
    function: str
    argument: str
    each: bool = False


def consumers(definition: Workflow) -> Iterator[Consumer]:
    """Every step argument of ``definition`` fed directly by a workflow input."""
    for step in definition.steps.values():
        for argument, value in step.args.items():
            name = _whole_input(value)
            if name is not None:
                yield Consumer(name, step.name, step.fn, argument)
        if step.kind == "map" and step.over is not None:
            name = _whole_input(step.over)
            if name is not None:
                yield Consumer(name, step.name, step.fn, step.item_arg, each=True)


def check_run_inputs(definition: Workflow, registry: Registry, inputs: Mapping[str, object]) -> dict[str, object]:
    """``inputs`` with scalars coerced to their consumers' annotations; a value that does not fit
    raises :class:`InvalidWorkflow` naming the input, the value, the step and the function."""
    checked = dict(inputs)
    for consumer in consumers(definition):
        if consumer.input not in checked or consumer.function not in registry:
            continue
        adapter = _adapter(registry.get(consumer.function).fn, consumer.argument)
        if adapter is None:
            continue
        value = checked[consumer.input]
        if consumer.each:
            if not isinstance(value, list):
                raise InvalidWorkflow(
                    f"workflow {definition.name!r}: input {consumer.input!r}={_show(value)} must be a list "
                    f"(step {consumer.step!r} maps over it)"
                )
            checked[consumer.input] = [_fit(adapter, item, definition, consumer) for item in value]
        else:
            checked[consumer.input] = _fit(adapter, value, definition, consumer)
    return checked


def _fit(adapter: TypeAdapter[object], value: object, definition: Workflow, consumer: Consumer) -> object:
    if _has_blob(value):
        return value
    try:
        fitted = adapter.validate_python(value)
    except ValidationError as exc:
        problem = "; ".join(e["msg"] for e in exc.errors()[:3])
        what = "an item of input" if consumer.each else "input"
        raise InvalidWorkflow(
            f"workflow {definition.name!r}: {what} {consumer.input!r}={_show(value)} does not fit "
            f"{consumer.function}({consumer.argument}: {_type_name(adapter)}) of step {consumer.step!r}: {problem}"
        ) from None
    if isinstance(value, _SCALARS) and isinstance(fitted, _SCALARS):
        return fitted
    return value


@cache
def _adapter(fn: Callable[..., object], argument: str) -> TypeAdapter[object] | None:
    """A validator for ``fn``'s ``argument``, or None when it takes anything (or cannot be read)."""
    try:
        parameter = inspect.signature(fn).parameters.get(argument)
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError, ValueError):  # unresolvable forward references, builtins
        return None
    if parameter is None or argument not in hints or hints[argument] is Any:
        return None
    try:
        return TypeAdapter(hints[argument], config=_CONFIG)
    except (PydanticSchemaGenerationError, TypeError):
        return None


def _whole_input(value: object) -> str | None:
    if isinstance(value, Ref) and value.source == INPUT and len(value.path) == 1:
        return str(value.path[0])
    return None


def _has_blob(value: object) -> bool:
    if isinstance(value, Mapping):
        return "$blob" in value or any(_has_blob(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_blob(v) for v in value)
    return False


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(adapter: TypeAdapter[object]) -> str:
    kind = getattr(adapter, "_type", None)
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")
