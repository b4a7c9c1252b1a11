"""darkroom.api.problems: errors -> RFC 9457 problems by a table, sharing grpc_status's lookup."""

from __future__ import annotations

import logging

import pytest

from darkroom.api import errors as ae
from darkroom.api.error_tables import error_code, nearest
from darkroom.api.problems import API_HTTP_STATUSES, HttpStatusTable, problem_for, problem_for_status
from darkroom.errors import DarkroomError


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (ae.InvalidCursor("c", field="cursor"), 400, "invalid_cursor"),
        (ae.InvalidFieldMask("m", field="fields"), 400, "invalid_field_mask"),
        (ae.MissingUpdateMask("m", field="update_mask"), 400, "missing_update_mask"),
        (ae.InvalidPrecondition("p", field="If-Match"), 400, "invalid_precondition"),
        (ae.InvalidIdempotencyKey("k", field="Idempotency-Key"), 400, "invalid_idempotency_key"),
        (ae.Unauthenticated("who"), 401, "unauthenticated"),
        (ae.CsrfRejected("csrf"), 403, "csrf_rejected"),
        (ae.IdempotencyKeyInUse("busy"), 409, "idempotency_key_in_use"),
        (ae.IdempotencyKeyReused("again"), 422, "idempotency_key_reused"),
        (ae.RateLimited("slow down", retry_after_s=7), 429, "rate_limited"),
        (ae.ServiceUnavailable("down"), 503, "service_unavailable"),
        (ae.ApiError("other"), 500, "api_error"),
    ],
)
def test_api_errors(exc: DarkroomError, status: int, code: str) -> None:
    problem = problem_for(exc, API_HTTP_STATUSES, instance="/v1/x")
    body = problem.body()
    assert (problem.status, body["code"], body["detail"]) == (status, code, str(exc))
    assert body["type"] == f"tag:darkroom,2025:problem:{code}" and body["instance"] == "/v1/x"
    assert body.get("field") == getattr(exc, "field", None)
    assert body["title"] and body["status"] == status


def test_headers_for_retries_and_sign_in() -> None:
    assert problem_for(ae.RateLimited("x", retry_after_s=7), API_HTTP_STATUSES).headers == {"Retry-After": "7"}
    assert problem_for(ae.Unauthenticated("x"), API_HTTP_STATUSES).headers == {
        "WWW-Authenticate": 'Bearer realm="darkroom"'
    }


def test_builtin_meanings_and_the_nearest_class_win() -> None:
    class Missing(DarkroomError, LookupError):
        pass

    class Bad(DarkroomError, ValueError):
        code = "bad_thing"

    class Worse(Bad):
        pass

    table = HttpStatusTable().extend({Worse: 418})
    assert table.status(Missing("m")) == 404 and table.status(Bad("b")) == 400 and table.status(Worse("w")) == 418
    assert error_code(Worse("w")) == "bad_thing" and error_code(Missing("m")) == "missing"
    assert nearest(Missing("m"), {}) is None
    with pytest.raises(ValueError, match="4xx or 5xx"):
        table.extend({Bad: 302})


def test_an_unexpected_error_is_500_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="darkroom.api.problems"):
        problem = problem_for(RuntimeError("password=hunter2"), API_HTTP_STATUSES, instance="/v1/x")
    assert problem.status == 500 and problem.code == "internal"
    assert "hunter2" not in str(problem.body()) and "incident" in problem.detail
    incident = problem.detail.split("incident ")[1].rstrip(")")
    assert incident in caplog.text and "hunter2" in caplog.text  # the server log keeps it whole


def test_a_bare_status() -> None:
    problem = problem_for_status(405, headers={"Allow": "GET"})
    assert problem.body()["code"] == "method_not_allowed" and problem.headers == {"Allow": "GET"}
    assert problem_for_status(401).headers["WWW-Authenticate"].startswith("Bearer")
