"""Run inputs are checked against the annotations of the functions that consume them, and a
workflow calling an unregistered function is refused when its app is loaded or a run starts."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from darkroom.runtime.app import load_app
from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import InvalidWorkflow
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import Workflow, Workflows
from darkroom.runtime.workflow.inputs import check_run_inputs
from tests.runtime.conftest import Platform


def _registry() -> tuple[Registry, Workflow]:
    registry = Registry()

    @registry.function(queue="t")
    def plan(ctx: TaskContext, n: int, label: str = "") -> dict[str, object]:
        return {"items": list(range(n))}

    @registry.function(queue="t")
    def each(ctx: TaskContext, item: float, blob: object = None) -> dict[str, object]:
        return {"x": item}

    wf = Workflow("typed", inputs=["n", "label", "values", "files"])
    wf.task("plan", "plan", n=wf.input("n"), label=wf.input("label"))
    wf.map("each", "each", over=wf.input("values"), blob=wf.input("files"))
    registry.add_workflow(wf)
    return registry, wf


def test_scalars_are_coerced_to_the_annotation() -> None:
    registry, wf = _registry()
    checked = check_run_inputs(wf, registry, {"n": "50", "label": 123, "values": [1, "2.5"], "files": None})
    assert checked == {"n": 50, "label": "123", "values": [1.0, 2.5], "files": None}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"n": "abc"}, r"input 'n'='abc' does not fit plan\(n: int\) of step 'plan'"),
        ({"values": "notalist"}, r"input 'values'='notalist' must be a list \(step 'each' maps over it\)"),
        ({"values": [1.0, "x", 3.0]}, r"an item of input 'values'='x' does not fit each\(item: float\)"),
    ],
)
def test_a_value_that_does_not_fit_names_input_value_step_and_function(inputs: dict[str, object], message: str) -> None:
    registry, wf = _registry()
    full = {"n": 1, "label": "a", "values": [1.0], "files": None} | inputs
    with pytest.raises(InvalidWorkflow, match=message):
        check_run_inputs(wf, registry, full)


def test_blob_references_and_unannotated_arguments_are_left_to_the_runtime() -> None:
    registry, wf = _registry()
    blob = {"$blob": "cas/sha256/ab/abcd"}
    checked = check_run_inputs(wf, registry, {"n": 1, "label": "a", "values": [1.0], "files": blob})
    assert checked["files"] == blob


def test_a_long_map_input_with_a_broken_item_in_the_middle_is_refused() -> None:
    registry, wf = _registry()
    values: list[object] = [float(i) for i in range(10_000)]
    values[5_000] = "broken"
    with pytest.raises(InvalidWorkflow, match="'broken'"):
        check_run_inputs(wf, registry, {"n": 1, "label": "a", "values": values, "files": None})


def test_start_refuses_a_bad_input_before_anything_is_written(platform: Platform) -> None:
    with pytest.raises(InvalidWorkflow, match=r"input 'n'='abc' does not fit split\(n: int\)"):
        platform.workflows.start("squares", {"n": "abc"})
    assert platform.workflows.runs() == []
    run = platform.workflows.start("squares", {"n": "3"})
    assert run.inputs == {"n": 3}


@pytest.fixture
def broken_app() -> Iterator[str]:
    module = types.ModuleType("darkroom_test_broken_app")
    registry = Registry()
    registry.function("real", queue="t")(lambda ctx: None)
    wf = Workflow("broken")
    wf.task("first", "real")
    wf.task("second", "misspelt")
    registry.add_workflow(wf)  # functions may come later (modules sharing a registry)
    module.registry = registry  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield f"{module.__name__}:registry"
    del sys.modules[module.__name__]


def test_an_unknown_function_is_refused_when_the_app_is_loaded(broken_app: str) -> None:
    message = r"workflow 'broken', step 'second': no function named 'misspelt' is registered"
    with pytest.raises(InvalidWorkflow, match=message):
        load_app(broken_app)
    with pytest.raises(InvalidWorkflow, match=message):
        load_app(f"darkroom.runtime.sample:registry,{broken_app}")


def test_an_unknown_function_is_refused_when_a_run_starts(platform: Platform) -> None:
    registry = Registry()
    wf = Workflow("late-typo")
    wf.task("only", "nobody")
    registry.add_workflow(wf)
    with pytest.raises(InvalidWorkflow, match="step 'only': no function named 'nobody'"):
        Workflows(platform.rq, platform.db, registry).start("late-typo", {})
    assert platform.workflows.runs() == []
