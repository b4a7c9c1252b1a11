"""Checked by mypy in test_dag.py: a step's handle is typed by the function it calls."""

from __future__ import annotations

from typing import TypedDict, assert_type

from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import Ref, Step, Workflow

registry = Registry()


class Square(TypedDict):
    sq: int


@registry.function(queue="t")
def split(ctx: TaskContext, n: int) -> dict[str, list[int]]:
    return {"items": list(range(n))}


@registry.function(queue="t")
def square(ctx: TaskContext, item: int) -> Square:
    return {"sq": item * item}


@registry.function(queue="t")
def total(ctx: TaskContext, results: list[Square]) -> int:
    return sum(r["sq"] for r in results)


wf = Workflow("typed", inputs=["n"])
items = wf.task("split", split, n=wf.input("n"))
assert_type(items, Step[dict[str, list[int]]])
squares = wf.map("square", square, over=items["items"])
assert_type(squares, Step[list[Square]])
assert_type(squares.ref, Ref[list[Square]])
summed = wf.reduce("total", total, over=squares)
assert_type(summed, Step[int])
assert_type(wf.task("named", "split", n=1), Step[object])
assert_type(wf.task("function", registry.get("split"), n=1), Step[object])
registry.add_workflow(wf)
