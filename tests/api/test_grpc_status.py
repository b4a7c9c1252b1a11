"""darkroom.api.grpc_status: errors -> statuses -> the same typed errors, by a service's table."""

from __future__ import annotations

import grpc
import pytest

import darkroom.queue as dq
from darkroom.api import grpc_status as gs
from darkroom.api.errors import ApiError, InvalidFieldMask, MissingUpdateMask, ServiceUnavailable, Unauthenticated
from darkroom.errors import DarkroomError
from darkroom.queue.statuses import QUEUE_STATUSES, QUEUE_STATUSES_ON_CREATE
from darkroom.runtime.errors import InvalidOperation, OperationNotFound
from darkroom.runtime.operations_server import OPERATION_STATUSES

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
    status = gs.status_for(exc, QUEUE_STATUSES)
    assert status.code == code
    back = gs.error_from_status(status.code, status.details, status.trailing_metadata, QUEUE_STATUSES)
    assert type(back) is type(exc)
    assert str(back) == str(exc)
    assert getattr(back, "field", None) == getattr(exc, "field", None)


def test_conflict_meaning_is_chosen_by_the_call_site() -> None:
    status = gs.status_for(dq.Conflict("exists"), QUEUE_STATUSES_ON_CREATE)
    assert status.code == C.ALREADY_EXISTS
    assert gs.status_for(dq.LeaseLost("x"), QUEUE_STATUSES_ON_CREATE).code == C.FAILED_PRECONDITION


def test_other_darkroom_errors_use_their_builtin_base() -> None:
    class Missing(DarkroomError, LookupError):
        pass

    class Bad(DarkroomError, ValueError):
        pass

    assert gs.status_for(Missing("m"), gs.API_STATUSES).code == C.NOT_FOUND
    assert gs.status_for(Bad("b"), gs.API_STATUSES).code == C.INVALID_ARGUMENT


def test_unexpected_errors_are_internal_and_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    status = gs.status_for(RuntimeError("password=hunter2 at /srv/secret.py"), QUEUE_STATUSES)
    assert status.code == C.INTERNAL
    assert "hunter2" not in status.details and "secret" not in status.details
    assert status.trailing_metadata == ()
    assert "hunter2" in caplog.text  # the server log keeps the whole story


def test_non_ascii_messages_survive() -> None:
    exc = dq.InvalidArgument("queue name 'ü' must match …", field="queue")
    status = gs.status_for(exc, QUEUE_STATUSES)
    back = gs.error_from_status(status.code, "mangled", status.trailing_metadata, QUEUE_STATUSES)
    assert str(back) == str(exc)


def test_statuses_without_our_metadata_map_by_code() -> None:
    def bare(code: grpc.StatusCode, details: str | None = "x", meta: tuple[tuple[str, str], ...] = ()) -> Exception:
        return gs.error_from_status(code, details, meta, QUEUE_STATUSES)

    err = bare(C.UNAVAILABLE, "connection refused")
    assert isinstance(err, dq.Unavailable) and "connection refused" in str(err)
    assert isinstance(bare(C.UNAUTHENTICATED, ""), dq.Unauthenticated)
    assert isinstance(bare(C.INVALID_ARGUMENT), dq.InvalidArgument)
    assert type(bare(C.INTERNAL)) is dq.QueueError
    # an unknown class name falls back by code too
    assert isinstance(bare(C.NOT_FOUND, "gone", ((gs.ERROR_TYPE_KEY, "SomethingNew"),)), dq.QueueError)


def test_another_service_gets_its_own_errors_never_the_queues() -> None:
    def bare(code: grpc.StatusCode) -> Exception:
        return gs.error_from_status(code, "x", (), OPERATION_STATUSES)

    assert isinstance(bare(C.NOT_FOUND), OperationNotFound)
    assert isinstance(bare(C.INVALID_ARGUMENT), InvalidOperation)
    assert isinstance(bare(C.UNAVAILABLE), ServiceUnavailable)
    assert isinstance(bare(C.UNAUTHENTICATED), Unauthenticated)
    assert type(bare(C.INTERNAL)) is ApiError
    for code in C:
        if code != C.OK:
            assert not isinstance(bare(code), dq.QueueError), code
    # a queue error's name is not one the operations table rebuilds
    status = gs.status_for(dq.QueueNotFound("q"), QUEUE_STATUSES)
    back = gs.error_from_status(status.code, status.details, status.trailing_metadata, OPERATION_STATUSES)
    assert isinstance(back, OperationNotFound) and not isinstance(back, dq.QueueError)


def test_a_table_extends_another() -> None:
    class QuotaExceeded(DarkroomError):
        def __init__(self, message: str, *, field: str | None = None) -> None:
            super().__init__(message)
            self.field = field

    table = gs.API_STATUSES.extend(codes={QuotaExceeded: C.RESOURCE_EXHAUSTED})
    status = gs.status_for(QuotaExceeded("slow down", field="rate"), table)
    assert status.code == C.RESOURCE_EXHAUSTED
    back = gs.error_from_status(status.code, status.details, status.trailing_metadata, table)
    assert type(back) is QuotaExceeded and back.field == "rate"
    # the table it extends is unchanged
    assert gs.status_for(QuotaExceeded("x"), gs.API_STATUSES).code == C.UNKNOWN
    assert "QuotaExceeded" not in gs.API_STATUSES.errors


def test_a_table_refuses_two_errors_of_one_name() -> None:
    class ApiError(DarkroomError):  # the API layer's base has this name
        pass

    with pytest.raises(ValueError, match="ApiError"):
        gs.API_STATUSES.extend(errors=(ApiError,))
