"""Errors of the runtime layer (functions, workers, workflows, operations)."""

from __future__ import annotations

from darkroom.errors import DarkroomError

__all__ = [
    "FunctionNotFound",
    "InvalidOperation",
    "InvalidWorkflow",
    "MissingResource",
    "OperationNotFound",
    "PermanentError",
    "RuntimeLayerError",
    "TaskCanceled",
    "TaskTimeout",
    "WorkflowNotFound",
]


class RuntimeLayerError(DarkroomError):
    """Base of the runtime's errors."""


class InvalidWorkflow(RuntimeLayerError, ValueError):
    """A workflow definition or its inputs are malformed (names the step or input)."""


class WorkflowNotFound(RuntimeLayerError, LookupError):
    """No workflow (run or definition) has that id or name."""


class FunctionNotFound(RuntimeLayerError, LookupError):
    """No function is registered under that name."""


class OperationNotFound(RuntimeLayerError, LookupError):
    """No operation has that id."""


class InvalidOperation(RuntimeLayerError, ValueError):
    """A malformed operations request (filter, page token, page size…); names the value."""


class MissingResource(RuntimeLayerError, LookupError):
    """A function asked its context for a resource the worker was not given (names it)."""


class PermanentError(RuntimeLayerError):
    """Raised by a function when running it again cannot help: the task fails without retries."""


class TaskTimeout(RuntimeLayerError, TimeoutError):
    """A function ran past its timeout."""


class TaskCanceled(RuntimeLayerError):
    """The task's work was canceled while it ran (workflow cancel or lost lease)."""
