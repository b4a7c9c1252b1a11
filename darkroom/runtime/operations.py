"""Long-running operations: the handle the API returns for long work, kept in the metadata database.

An operation is created ``running`` and ends ``succeeded``, ``failed`` or ``canceled``; once done it
never changes again (later updates are ignored), so a late progress report from a worker cannot
revive a canceled run. ``wait`` polls the database with a short backoff (20 ms doubling to 250 ms):
simple, the same on SQLite and PostgreSQL, and cheap at the number of waiters an API server has.
Semantics in ``docs/runtime.md`` (Operations).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from ulid import ULID

from darkroom.runtime.errors import InvalidOperation, OperationNotFound
from darkroom.storage.db import read_only
from darkroom.storage.schema import operations as _t
from darkroom.unset import UNSET

__all__ = ["Canceller", "Operation", "OperationState", "OperationStore"]

MAX_PAGE_SIZE = 1000
MAX_MESSAGE_CHARS = 200  # the column's size; longer progress messages are cut
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]{0,62}")
_MAX_LABEL_VALUE = 256
_POLL_FIRST_S, _POLL_MAX_S = 0.02, 0.25


class OperationState(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def done(self) -> bool:
        return self is not OperationState.RUNNING


@dataclass(frozen=True)
class Operation:
    id: str
    kind: str
    target: str | None
    state: OperationState
    done: bool
    progress: float
    message: str
    result: Any  # JSON, or None
    error_code: str | None
    error_message: str | None
    labels: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


Canceller = Callable[[Operation], bool | None]


def _row(row: sa.Row[Any]) -> Operation:
    m = row._mapping  # the columns are the dataclass's fields
    return Operation(
        **{**m, "state": OperationState(m["state"]), "message": m["message"] or "", "labels": dict(m["labels"] or {})}
    )


# -- validation: every message names the offending value -------------------------------------------
def _name(value: object, what: str, max_chars: int = 64) -> str:
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise InvalidOperation(f"{what} must be a non-empty string of at most {max_chars} characters, not {value!r}")
    return value


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (labels or {}).items():
        if not isinstance(key, str) or not _LABEL_KEY.fullmatch(key):
            raise InvalidOperation(f"label key {key!r} must be 1-63 letters, digits, '_', '.', '-' or '/'")
        if not isinstance(value, str) or len(value) > _MAX_LABEL_VALUE:
            raise InvalidOperation(f"label {key!r} must be a string of at most {_MAX_LABEL_VALUE} characters")
        out[key] = value
    return out


def _state(value: object) -> OperationState:
    try:
        return OperationState(value if isinstance(value, str) else repr(value))
    except ValueError:
        raise InvalidOperation(f"state {value!r} is not one of {', '.join(OperationState)}") from None


def _progress(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidOperation(f"progress {value!r} must be a number from 0 to 1")
    if not -1e-6 <= value <= 1 + 1e-6:  # a rounding error is clamped, anything else is a bug
        raise InvalidOperation(f"progress {value!r} must be from 0 to 1")
    return min(max(float(value), 0.0), 1.0)


def _json(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidOperation(f"result must be JSON ({exc}): {str(value)[:80]!r}") from None
    return value


def _timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidOperation(f"timeout_s {value!r} must be a number >= 0")
    return float(value)


class OperationStore:
    """Operations in the ``operations`` table. Thread-safe (every call uses its own connection).

    ``cancellers`` maps an operation kind to the function that stops its work (called by
    :meth:`cancel`, from whichever thread cancels).
    """

    def __init__(self, engine: sa.Engine, cancellers: Mapping[str, Canceller] | None = None) -> None:
        self.engine = engine
        self._reads = read_only(engine)  # on SQLite, polling waiters must not take the write lock
        self.cancellers: dict[str, Canceller] = dict(cancellers or {})

    @contextlib.contextmanager
    def _tx(self, conn: sa.Connection | None) -> Iterator[sa.Connection]:
        """The caller's connection (its transaction, not committed here), or a new transaction."""
        if conn is not None:
            yield conn
        else:
            with self.engine.begin() as own:
                yield own

    @staticmethod
    def _columns(load_result: bool) -> list[Any]:
        if load_result:
            return list(_t.c)
        return [c if c.name != "result" else sa.null().label("result") for c in _t.c]

    # -- writes ------------------------------------------------------------------------------------
    def create(
        self,
        *,
        kind: str,
        target: str | None = None,
        labels: Mapping[str, str] | None = None,
        id: str | None = None,
        conn: sa.Connection | None = None,
    ) -> Operation:
        """A new running operation; with an explicit ``id`` creating it again is a no-op that
        returns the stored one (the same kind and target; otherwise :class:`InvalidOperation`)."""
        kind = _name(kind, "kind")
        target = None if target is None else _name(target, "target")
        op_id = f"op_{ULID()}" if id is None else _name(id, "operation id")
        now = time.time()
        values = {
            "id": op_id, "kind": kind, "target": target, "state": OperationState.RUNNING.value, "done": False,
            "progress": 0.0, "message": "", "labels": _labels(labels), "created_at": now, "updated_at": now,
        }  # fmt: skip
        with self._tx(conn) as c:
            # insert-if-absent in one statement: concurrent creates of one id cannot both fail
            dialect = postgresql if c.dialect.name == "postgresql" else sqlite
            c.execute(dialect.insert(_t).values(values).on_conflict_do_nothing(index_elements=["id"]))
            op = self._get(c, op_id)
        if (op.kind, op.target) != (kind, target):
            raise InvalidOperation(
                f"operation {op_id!r} already exists for {op.kind} {op.target!r}, not {kind} {target!r}"
            )
        return op

    def update(
        self,
        id: str,
        *,
        progress: float | None = None,
        message: str | None = None,
        state: OperationState | None = None,
        result: Any = UNSET,
        error_code: str | None = None,
        error_message: str | None = None,
        conn: sa.Connection | None = None,
    ) -> Operation:
        """Change a running operation; a done one is returned unchanged. A terminal ``state`` sets
        ``done`` (and progress 1 on success); failed and canceled get an error code if none is given."""
        values: dict[str, Any] = {}
        if progress is not None:
            values["progress"] = _progress(progress)
        if message is not None:
            if not isinstance(message, str):
                raise InvalidOperation(f"message {message!r} must be a string")
            values["message"] = message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 1] + "…"
        if result is not UNSET:
            values["result"] = _json(result)
        if error_code is not None:
            values["error_code"] = _name(error_code, "error_code")
        if error_message is not None:
            values["error_message"] = str(error_message)
        if state is not None:
            state = _state(state)
            values.update(state=state.value, done=state.done)
            if state is OperationState.SUCCEEDED:
                values["progress"] = 1.0
            elif state.done and error_code is None:
                values["error_code"] = sa.func.coalesce(_t.c.error_code, state.value)
        with self._tx(conn) as c:
            if values:
                values["updated_at"] = time.time()
                # the done check is in the statement: a concurrent finish wins, whatever the order
                c.execute(_t.update().where(_t.c.id == id, _t.c.done == sa.false()).values(values))
            return self._get(c, id)

    def cancel(self, id: str) -> Operation:
        """Stop the operation's work (its kind's canceller) and mark it canceled; a done operation
        is returned unchanged. If the canceller raises, nothing is marked and the error propagates.

        A canceller that returns True owns the ending: cancellation is asynchronous (a workflow
        stops at its engine's next pass, and may even finish first), so the operation stays
        running until its owner records how it really ended."""
        op = self.get(id)
        if op.done:
            return op
        canceller = self.cancellers.get(op.kind)
        if canceller is not None and canceller(op) is True:
            return self.get(id)
        return self.update(id, state=OperationState.CANCELED, error_message="canceled by request")

    # -- reads -------------------------------------------------------------------------------------
    def _get(self, conn: sa.Connection, id: str, load_result: bool = True) -> Operation:
        row = conn.execute(sa.select(*self._columns(load_result)).where(_t.c.id == id)).first()
        if row is None:
            raise OperationNotFound(f"no operation {id!r}")
        return _row(row)

    def get(self, id: str, *, load_result: bool = True) -> Operation:
        """The operation ``id`` (``load_result=False`` leaves a possibly large result unread: None)."""
        with self._reads.connect() as c:
            return self._get(c, id, load_result)

    def list(
        self,
        *,
        state: OperationState | None = None,
        kind: str | None = None,
        target: str | None = None,
        labels: Mapping[str, str] | None = None,
        page_size: int = 50,
        page_token: str | None = None,
        load_result: bool = True,
    ) -> tuple[list[Operation], str | None]:
        """One page, newest first, and the token of the next page (None on the last).

        Keyset pages on (created_at, id): every operation that exists when the listing starts is
        returned exactly once, whatever is created meanwhile. A token only works with the filters
        it was issued for.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidOperation(f"page_size {page_size!r} must be from 1 to {MAX_PAGE_SIZE}")
        wanted = _labels(labels)
        filters = {"state": None if state is None else _state(state).value, "kind": kind, "target": target}
        where: list[sa.ColumnElement[bool]] = [_t.c[k] == v for k, v in filters.items() if v is not None]
        where += [_t.c.labels[k].as_string() == v for k, v in wanted.items()]
        scope = _scope({**filters, "labels": wanted})
        if page_token:
            after_at, after_id = _decode(page_token, scope)
            where.append(sa.tuple_(_t.c.created_at, _t.c.id) < sa.tuple_(after_at, after_id))
        query = (
            sa.select(*self._columns(load_result))
            .where(*where)
            .order_by(_t.c.created_at.desc(), _t.c.id.desc())
            .limit(page_size + 1)
        )
        with self._reads.connect() as c:
            ops = [_row(r) for r in c.execute(query)]
        if len(ops) <= page_size:
            return ops, None
        last = ops[page_size - 1]
        return ops[:page_size], _encode(last.created_at, last.id, scope)

    def wait(self, id: str, timeout_s: float, *, load_result: bool = True) -> Operation:
        """The operation once it is done, or as it is when ``timeout_s`` has passed (see the module
        docstring for the polling)."""
        pauses = _pauses(_timeout(timeout_s))
        while True:
            op = self.get(id, load_result=load_result)
            pause = None if op.done else next(pauses, None)
            if pause is None:
                return op
            time.sleep(pause)

    async def wait_async(self, id: str, timeout_s: float, *, load_result: bool = True) -> Operation:
        """:meth:`wait` for asyncio: the database calls run in threads, the pauses on the loop."""
        pauses = _pauses(_timeout(timeout_s))
        while True:
            op = await asyncio.to_thread(self.get, id, load_result=load_result)
            pause = None if op.done else next(pauses, None)
            if pause is None:
                return op
            await asyncio.sleep(pause)


def _pauses(timeout_s: float) -> Iterator[float]:
    """Pauses between polls, 20 ms doubling to 250 ms, until ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    delay = _POLL_FIRST_S
    while (left := deadline - time.monotonic()) > 0:
        yield min(delay, left)
        delay = min(delay * 2, _POLL_MAX_S)


# -- page tokens: base64url(JSON [created_at, id, scope]); opaque to clients ------------------------
def _scope(filters: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]


def _encode(created_at: float, id: str, scope: str) -> str:
    raw = json.dumps([created_at, id, scope], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, scope: str) -> tuple[float, str]:
    bad = InvalidOperation(f"page_token {token[:80]!r} is not a token from this listing")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, id, token_scope = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise bad from None
    if not isinstance(created_at, float | int) or not isinstance(id, str) or token_scope != scope:
        raise bad
    return float(created_at), id
