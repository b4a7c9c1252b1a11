"""darkroom.api.grpc_status: errors -> statuses -> the same typed errors."""

from __future__ import annotations

import grpc
import pytest

import darkroom.queue as dq
from darkroom.api import grpc_status as gs
from darkroom.api.errors import InvalidFieldMask, MissingUpdateMask
from darkroom.errors import DarkroomError

C = grpc.StatusCode


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (dq.QueueNotFound("queue 'x' does not exist", field="queue"), C.NOT_FOUND),
        (dq.MessageNotFound("m", field="id"), C.NOT_FOUND),
        (dq.InvalidArgument("bad", field="lease_s"), C.INVALID_ARGUMENT),
        (dq.InvalidMessage("bad", field="metadata"), C.INVALID_ARGUMENT),
        (dq.InvalidCriteria("bad", field="where"), C.INVALID_ARGUMENT),
        (dq.PayloadTooLarge("big", field="payload"), C.INVALID_ARGUMENT),
        (dq.Conflict("state"), C.FAILED_PRECONDITION),
        (dq.LeaseLost("lost", field="token"), C.FAILED_PRECONDITION),
        (dq.Unauthenticated("who", field="authorization"), C.UNAUTHENTICATED),
        (dq.Unavailable("down"), C.UNAVAILABLE),
        (InvalidFieldMask("mask", field="read_mask"), C.INVALID_ARGUMENT),
        (MissingUpdateMask("mask", field="update_mask"), C.INVALID_ARGUMENT),
        (dq.QueueError("other"), C.UNKNOWN),
    ],
)
def test_codes_and_round_trip(exc: DarkroomError, code: grpc.StatusCode) -> None:
    status = gs.status_for(exc)
    assert status.code == code
    back = gs.error_from_status(status.code, status.details, status.trailing_metadata)
    assert type(back) is type(exc)
    assert str(back) == str(exc)
    assert getattr(back, "field", None) == getattr(exc, "field", None)


def test_conflict_meaning_is_chosen_by_the_call_site() -> None:
    status = gs.status_for(dq.Conflict("exists"), conflict=C.ALREADY_EXISTS)
    assert status.code == C.ALREADY_EXISTS
    assert gs.status_for(dq.LeaseLost("x"), conflict=C.ALREADY_EXISTS).code == C.FAILED_PRECONDITION


def test_other_darkroom_errors_use_their_builtin_base() -> None:
    class Missing(DarkroomError, LookupError):
        pass

    class Bad(DarkroomError, ValueError):
        pass

    assert gs.status_for(Missing("m")).code == C.NOT_FOUND
    assert gs.status_for(Bad("b")).code == C.INVALID_ARGUMENT


def test_unexpected_errors_are_internal_and_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    status = gs.status_for(RuntimeError("password=hunter2 at /srv/secret.py"))
    assert status.code == C.INTERNAL
    assert "hunter2" not in status.details and "secret" not in status.details
    assert status.trailing_metadata == ()
    assert "hunter2" in caplog.text  # the server log keeps the whole story


def test_non_ascii_messages_survive() -> None:
    exc = dq.InvalidArgument("queue name 'ü' must match …", field="queue")
    status = gs.status_for(exc)
    back = gs.error_from_status(status.code, "mangled", status.trailing_metadata)
    assert str(back) == str(exc)


def test_statuses_without_our_metadata_map_by_code() -> None:
    err = gs.error_from_status(C.UNAVAILABLE, "connection refused", ())
    assert isinstance(err, dq.Unavailable) and "connection refused" in str(err)
    assert isinstance(gs.error_from_status(C.UNAUTHENTICATED, "", None), dq.Unauthenticated)
    assert isinstance(gs.error_from_status(C.INVALID_ARGUMENT, "x", ()), dq.InvalidArgument)
    assert type(gs.error_from_status(C.INTERNAL, "x", ())) is dq.QueueError
    # an unknown class name falls back by code too
    meta = ((gs.ERROR_TYPE_KEY, "SomethingNew"),)
    assert isinstance(gs.error_from_status(C.NOT_FOUND, "gone", meta), dq.QueueError)


def test_register_adds_a_class() -> None:
    class QuotaExceeded(DarkroomError):
        def __init__(self, message: str, *, field: str | None = None) -> None:
            super().__init__(message)
            self.field = field

    gs.register(QuotaExceeded, C.RESOURCE_EXHAUSTED)
    status = gs.status_for(QuotaExceeded("slow down", field="rate"))
    assert status.code == C.RESOURCE_EXHAUSTED
    back = gs.error_from_status(status.code, status.details, status.trailing_metadata)
    assert type(back) is QuotaExceeded and back.field == "rate"
