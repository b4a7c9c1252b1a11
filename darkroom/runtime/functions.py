"""Functions: plain Python callables registered with a name, a queue and run defaults.

A function is called as ``fn(ctx, **args)`` where ``args`` are JSON values; an argument that was a
blob reference (``{"$blob": key}``) arrives as a local :class:`~pathlib.Path` that the runtime
downloaded into scratch space. It returns a JSON-able mapping (or ``None``); any
:class:`~pathlib.Path` inside it is uploaded (content-addressed) and replaced by a blob reference.
Raise :class:`~darkroom.runtime.errors.PermanentError` when a retry cannot help.
"""

from __future__ import annotations

import contextlib
import enum
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from darkroom.runtime.errors import FunctionNotFound, InvalidWorkflow, PermanentError

if TYPE_CHECKING:
    from darkroom.runtime.workflow.dag import Workflow

__all__ = ["MAX_BATCH", "Executor", "Function", "Isolation", "Registry", "registered_as"]

Isolation = Literal["thread", "process"]
F = TypeVar("F", bound=Callable[..., object])
# set on a callable by Registry.function: the Function it was registered as
_REGISTERED_AS = "__darkroom_function__"


class Executor(enum.StrEnum):
    """Where a worker runs a function's body.

    ``thread``: a thread of the worker (I/O-bound work, or work that releases the GIL: ffmpeg,
    NumPy, hashing large buffers). ``process``: a warm child of the worker's process pool, for
    CPU-bound Python, which threads would run one at a time under the GIL.
    """

    THREAD = "thread"
    PROCESS = "process"


_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,99}$")
_ARG = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
MAX_BATCH = 256  # map items one task may carry (see Function.batch)


@dataclass(frozen=True)
class Function:
    """A registered function and how to run it.

    ``shape`` is what a worker must offer to run it (e.g. ``{"codec": "av1"}``); tasks carry it as
    queue metadata. ``isolation="process"`` runs each call in a child process, which a timeout or a
    cancel can kill; ``"thread"`` is cheaper but can only be asked to stop. ``executor`` says
    where the body runs otherwise (:class:`Executor`: the worker's threads, or its process pool).

    ``batch``: a map step over this function puts up to this many items in one task, run one after
    the other by one worker (one lease, one hand-off to the process pool, one settle for all of
    them), as ``multiprocessing.Pool.map``'s chunksize and Celery's ``chunks`` do. For maps of
    small items, whose runtime cost per task would otherwise rival the work; each item still has
    its own row, output and report. A batch is retried whole (functions are idempotent).

    ``exclusive_on``: the name of an argument whose value keys the function's queue's exclusivity
    (the queue is created exclusive on that name, and each task carries the argument's value as
    its exclusivity value), so at most one task per value runs at a time: e.g. ``"job"`` runs one
    analytics job at most once at a time however many runs ask for it.
    """

    name: str
    fn: Callable[..., Any]
    queue: str = "default"
    lease_s: float = 30.0
    max_attempts: int = 3
    timeout_s: float = 600.0
    shape: Mapping[str, str] = field(default_factory=dict)
    isolation: Isolation = "thread"
    executor: Executor = Executor.THREAD
    retry_backoff_s: float = 1.0
    retry_backoff_max_s: float = 60.0
    # Exception types after which a retry cannot help (PermanentError always is one): e.g. a
    # decoder's "invalid data" error. Everything else is retried while attempts remain.
    permanent_errors: tuple[type[BaseException], ...] = ()
    batch: int = 1
    exclusive_on: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidWorkflow(f"function name {self.name!r} must match {_NAME.pattern}")
        if self.timeout_s <= 0 or self.lease_s <= 0 or self.max_attempts < 1:
            raise InvalidWorkflow(f"function {self.name!r}: timeout_s, lease_s and max_attempts must be positive")
        if not isinstance(self.batch, int) or isinstance(self.batch, bool) or not 1 <= self.batch <= MAX_BATCH:
            raise InvalidWorkflow(f"function {self.name!r}: batch {self.batch!r} must be from 1 to {MAX_BATCH}")
        if self.exclusive_on is not None and not _ARG.match(self.exclusive_on):
            raise InvalidWorkflow(f"function {self.name!r}: exclusive_on {self.exclusive_on!r} must name an argument")
        if self.exclusive_on is not None and self.batch > 1:
            raise InvalidWorkflow(f"function {self.name!r}: exclusive_on is per task, batch={self.batch} shares one")
        if self.isolation not in ("thread", "process"):
            raise InvalidWorkflow(f"function {self.name!r}: isolation {self.isolation!r} is not thread|process")
        try:
            object.__setattr__(self, "executor", Executor(self.executor))
        except ValueError:
            choices = "|".join(Executor)
            raise InvalidWorkflow(f"function {self.name!r}: executor {self.executor!r} is not {choices}") from None
        if self.isolation == "process" and self.executor is Executor.PROCESS:
            raise InvalidWorkflow(
                f"function {self.name!r}: isolation='process' already runs each call in a child of its own; "
                "executor='process' would run it in the pool's"
            )
        if self.isolation == "process" and self.batch > 1:
            raise InvalidWorkflow(
                f"function {self.name!r}: batch={self.batch} is for small items; isolation='process' "
                "starts a child per call, for heavy ones"
            )

    @property
    def in_thread(self) -> bool:
        """Does the body run in the worker's own thread (which a timeout cannot kill)?"""
        return self.isolation == "thread" and self.executor is Executor.THREAD

    def is_permanent(self, exc: BaseException) -> bool:
        return isinstance(exc, (PermanentError, InvalidWorkflow, *self.permanent_errors))

    def backoff_s(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based): exponential, capped."""
        return float(min(self.retry_backoff_max_s, self.retry_backoff_s * 2 ** max(0, attempt - 1)))


def registered_as(fn: object) -> Function | None:
    """The Function a callable was registered as with ``@registry.function`` (None: never)."""
    function = getattr(fn, _REGISTERED_AS, None)
    return function if isinstance(function, Function) else None


def _qualname(fn: object) -> str:
    return str(getattr(fn, "__qualname__", None) or repr(fn))


class Registry:
    """Functions (and workflow definitions) known to a process, looked up by name.

    >>> registry = Registry()
    >>> @registry.function(queue="media", timeout_s=300)
    ... def probe(ctx, source): ...
    """

    def __init__(self) -> None:
        self._functions: dict[str, Function] = {}
        self._workflows: dict[str, Workflow] = {}

    def function(self, name: str | None = None, **options: Any) -> Callable[[F], F]:
        """Register the decorated callable (under its own name unless ``name``); it stays the
        same callable, which workflow steps may then take in place of the name."""

        def register(fn: F) -> F:
            function = self.add(Function(name=name or fn.__name__, fn=fn, **options))
            # a callable that takes no attributes is named by steps with its registered name
            with contextlib.suppress(AttributeError, TypeError):
                setattr(fn, _REGISTERED_AS, function)
            return fn

        return register

    def add(self, function: Function) -> Function:
        existing = self._functions.get(function.name)
        if existing is not None and existing.fn is not function.fn:
            raise InvalidWorkflow(f"function {function.name!r} is registered twice")
        self._functions[function.name] = function
        return function

    def get(self, name: str) -> Function:
        try:
            return self._functions[name]
        except KeyError:
            raise FunctionNotFound(f"no function named {name!r} is registered") from None

    def __iter__(self) -> Iterator[Function]:
        return iter(self._functions.values())

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def queues(self) -> list[str]:
        return sorted({f.queue for f in self._functions.values()})

    # -- workflow definitions (darkroom.runtime.workflow.dag.Workflow) ---------------------------
    def add_workflow(self, workflow: Workflow) -> Workflow:
        """Register ``workflow``. Its steps may call functions registered later by name (modules
        sharing one registry import in any order); :meth:`check` refuses the names that never
        came. A step given a function object is checked now: that object must be registered here
        (:class:`InvalidWorkflow` naming the workflow, the step and the function)."""
        for step in workflow.steps.values():
            if step.target is not None and not self._registered(step.fn, step.target):
                target = step.target
                what = f"Function({target.name!r})" if isinstance(target, Function) else _qualname(target)
                raise InvalidWorkflow(
                    f"workflow {workflow.name!r}, step {step.name!r}: function {what} is not registered "
                    f"here as {step.fn!r} (register it with @registry.function or Registry.add)"
                )
        self._workflows[workflow.name] = workflow
        return workflow

    def _registered(self, name: str, target: object) -> bool:
        function = self._functions.get(name)
        return function is not None and (target is function or target is function.fn)

    def check(self, workflow: Workflow | None = None) -> None:
        """Refuse a workflow (``workflow``, else every one) whose step calls an unregistered
        function: :class:`InvalidWorkflow` naming the workflow, the step and the function.

        Loading an app (:func:`~darkroom.runtime.app.load_app`) and starting a run call it, so a
        misspelt name fails where the app is registered, not when the step is reached."""
        for wf in [workflow] if workflow is not None else self._workflows.values():
            for step in wf.steps.values():
                if step.fn not in self._functions:
                    raise InvalidWorkflow(
                        f"workflow {wf.name!r}, step {step.name!r}: no function named {step.fn!r} is registered"
                    )

    def workflow(self, name: str) -> Workflow:
        from darkroom.runtime.errors import WorkflowNotFound

        try:
            return self._workflows[name]
        except KeyError:
            raise WorkflowNotFound(f"no workflow definition named {name!r}") from None

    def workflows(self) -> list[Workflow]:
        return list(self._workflows.values())

    def update(self, other: Registry) -> None:
        """Take every function and workflow of ``other`` (composing modules' registries)."""
        for f in other:
            self.add(f)
        for w in other.workflows():
            self.add_workflow(w)
