"""What every error -> status table shares, whatever the transport: the lookup by the error's MRO,
the builtin meanings that give a default, and the stable machine-readable code of an error.

``grpc_status.StatusTable`` (gRPC codes) and ``problems.HttpStatusTable`` (HTTP statuses) are the
two tables; each maps :data:`BUILTIN_MEANINGS` to its own codes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TypeVar

__all__ = ["BUILTIN_MEANINGS", "error_code", "nearest"]

T = TypeVar("T")

# The builtins whose meaning a status can follow, in the order they are tried (an error that is
# both a ValueError and a LookupError means "bad value" first).
BUILTIN_MEANINGS: tuple[type[BaseException], ...] = (ValueError, LookupError, PermissionError, ConnectionError)

_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def nearest(
    exc: BaseException,
    table: Mapping[type[BaseException], T],
    builtins: Sequence[tuple[type[BaseException], T]] = (),
) -> T | None:
    """The value of the nearest class of ``exc``'s MRO in ``table``, else of the first builtin
    ``exc`` is an instance of in ``builtins``, else None."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    for builtin, value in builtins:
        if isinstance(exc, builtin):
            return value
    return None


def error_code(exc: BaseException) -> str:
    """The stable code clients see: the class's ``code`` attribute when it has one (the social
    errors do), else its name in snake case (``InvalidCursor`` -> ``invalid_cursor``)."""
    code = getattr(type(exc), "code", None)
    if isinstance(code, str) and code:
        return code
    return _WORD_START.sub("_", type(exc).__name__).lower()
