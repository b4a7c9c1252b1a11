"""Workflow definitions: steps take the registered callable (a typed reference), its Function or
its name; step options live in StepOptions, apart from the function's arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import InvalidWorkflow
from darkroom.runtime.functions import Function, Registry
from darkroom.runtime.workflow import StepOptions, Workflow
from tests.runtime.conftest import Platform

_TYPED = Path(__file__).with_name("typed_steps.py")


def _noop(ctx: TaskContext) -> dict[str, int]:
    return {}


def test_a_step_takes_the_registered_callable_its_function_or_its_name() -> None:
    registry = Registry()

    @registry.function("media.probe", queue="t")
    def probe(ctx: TaskContext, source: str) -> dict[str, int]:
        return {}

    wf = Workflow("refs")
    by_callable = wf.task("a", probe, source="x")
    by_function = wf.task("b", registry.get("media.probe"), source="x")
    by_name = wf.task("c", "media.probe", source="x")
    assert by_callable.fn == by_function.fn == by_name.fn == "media.probe"
    registry.add_workflow(wf)
    registry.check(wf)


def test_add_workflow_refuses_a_function_object_never_registered() -> None:
    registry = Registry()
    wf = Workflow("unregistered")
    wf.task("call", _noop)
    with pytest.raises(InvalidWorkflow, match=r"workflow 'unregistered', step 'call': function _noop is not regis"):
        registry.add_workflow(wf)
    other = Workflow("elsewhere")
    other.task("call", Function("noop", _noop, queue="t"))  # a Function of no registry
    with pytest.raises(InvalidWorkflow, match=r"workflow 'elsewhere', step 'call': function .* as 'noop'"):
        registry.add_workflow(other)
    assert registry.workflows() == []


def test_a_registry_composed_from_another_takes_its_workflows() -> None:
    part = Registry()
    part.function("noop", queue="t")(_noop)
    wf = Workflow("composed")
    wf.task("call", _noop)
    part.add_workflow(wf)
    whole = Registry()
    whole.update(part)
    assert whole.workflow("composed") is wf


def test_arguments_named_like_the_step_method_go_in_the_args_mapping() -> None:
    wf = Workflow("names", inputs=["o"])
    step = wf.task("call", "f", {"options": wf.input("o")}, timeout_s=3, after="x")
    assert step.args == {"options": wf.input("o"), "timeout_s": 3, "after": "x"}
    assert step.options == StepOptions() and step.after == ()
    with pytest.raises(InvalidWorkflow, match=r"step 'bad': options=.* is not a StepOptions"):
        wf.task("bad", "f", options={"crf": 20})  # type: ignore[arg-type]
    with pytest.raises(InvalidWorkflow, match=r"step 'twice': argument 'n' is given both"):
        wf.task("twice", "f", {"n": 1}, n=2)


def test_step_options() -> None:
    wf = Workflow("opts")
    first = wf.task("first", "f")
    second = wf.task("second", "f", options=StepOptions(after=[first], timeout_s=5, max_attempts=2))
    assert (second.after, second.timeout_s, second.max_attempts) == (("first",), 5, 2)
    assert second.deps == {"first"}
    stranger = Workflow("other").task("first", "f")
    with pytest.raises(InvalidWorkflow, match=r"runs after 'first', which is not an earlier step"):
        wf.task("third", "f", options=StepOptions(after=[stranger]))
    for bad in ({"timeout_s": 0}, {"max_attempts": 0}, {"after": ["first"]}):
        with pytest.raises(InvalidWorkflow, match="StepOptions"):
            StepOptions(**bad)  # type: ignore[arg-type]


def test_a_function_with_parameters_named_like_step_options_is_called(platform: Platform) -> None:
    platform.start_engine()
    platform.start_worker()
    done = platform.wait(platform.workflows.start("option-names", {"timeout_s": 2.5}).id)
    assert done.state == "succeeded", done.error
    assert done.outputs == {"echo": {"timeout_s": 2.5, "after": "split", "max_attempts": 7}}
    (task,) = platform.workflows.tasks(done.id)
    assert platform.rq.get(task.queue, task.message_id).max_attempts == 1  # the step's option


def test_step_handles_are_typed_by_the_function(tmp_path: Path) -> None:
    """mypy (strict) checks typed_steps.py: its ``assert_type`` lines hold, and a wrong one fails."""
    api = pytest.importorskip("mypy.api")
    flags = ["--strict", "--follow-imports=silent"]
    out, err, status = api.run([*flags, str(_TYPED)])
    assert status == 0, out + err
    wrong = tmp_path / "typed_steps_wrong.py"
    wrong.write_text(_TYPED.read_text() + "\nassert_type(squares, Step[int])\n")
    out, _, status = api.run([*flags, str(wrong)])
    assert status == 1 and '"Step[list[Square]]", not "Step[int]"' in out, out
