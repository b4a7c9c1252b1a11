"""gRPC request metrics and request ids on a real grpc.aio server: the queue's server with API keys
and the SocialService mounted beside it, as ``darkroom up`` serves them."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import redis
import sqlalchemy as sa
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from darkroom._proto.darkroom.queue.v1 import queue_pb2, queue_pb2_grpc
from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom._proto.darkroom.social.v1 import social_pb2_grpc as pb_grpc
from darkroom.api.grpc_status import ERROR_FIELD_KEY
from darkroom.api.grpc_telemetry import REQUEST_ID_KEY, GrpcMetrics, request_id_of
from darkroom.log_context import current
from darkroom.queue.server import ServerThread
from darkroom.social.grpc_handlers import ETAG_KEY
from darkroom.social.grpc_service import SERVICE_NAME, SocialService, add_to_server
from darkroom.social.metrics import FeedMetrics
from tests.observability.conftest import wait_until
from tests.social.people import member_in

API_KEY = "k-service-0123456789"
SECRET = b"grpc-test-secret-0123456789abcdef"
QUEUE = "darkroom.queue.v1.QueueService"
HEX32 = re.compile(r"[0-9a-f]{32}")


class _Ids(logging.Handler):
    """Keeps the log context of every record, as the log formatter would read it (in the server's thread)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, dict[str, str]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), current()))


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def channel(
    db_engine: sa.Engine, redis_client: redis.Redis, redis_url: str, registry: CollectorRegistry
) -> Iterator[grpc.Channel]:
    service = SocialService(db_engine, redis_client, secret=SECRET, feed_metrics=FeedMetrics(registry))
    with (
        ServerThread(
            redis_url,
            api_keys={"svc": API_KEY},
            extra_services=[lambda s: add_to_server(s, service)],
            own_auth_services=[SERVICE_NAME],
            grpc_metrics=GrpcMetrics(registry),
        ) as srv,
        grpc.insecure_channel(srv.target) as ch,
    ):
        yield ch


@pytest.fixture
def ids() -> Iterator[_Ids]:
    handler = _Ids()
    logger = logging.getLogger("darkroom.api.auth")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def count(registry: CollectorRegistry, service: str, method: str, code: str) -> float:
    labels = {"service": service, "method": method, "code": code}
    return registry.get_sample_value("darkroom_grpc_requests_total", labels) or 0.0


def counted(registry: CollectorRegistry, service: str, method: str, code: str) -> None:
    """Wait for a failed call's count: an abort puts the status on the wire before the server's
    interceptor records it, so the client can see the error first."""
    wait_until(lambda: count(registry, service, method, code) == 1, f"{method} {code} to be counted")


def timed(registry: CollectorRegistry, service: str, method: str) -> float:
    labels = {"service": service, "method": method}
    return registry.get_sample_value("darkroom_grpc_request_duration_seconds_count", labels) or 0.0


def trailing_id(call: Any) -> str:
    return str(dict(call.trailing_metadata())[REQUEST_ID_KEY])


def test_queue_calls_are_counted_by_code_and_echo_the_callers_request_id(
    channel: grpc.Channel, registry: CollectorRegistry, ids: _Ids
) -> None:
    queue = queue_pb2_grpc.QueueServiceStub(channel)
    _, call = queue.ListQueues.with_call(
        queue_pb2.ListQueuesRequest(), metadata=[("authorization", f"Bearer {API_KEY}"), (REQUEST_ID_KEY, "req-1.a_b")]
    )
    assert trailing_id(call) == "req-1.a_b"
    assert count(registry, QUEUE, "ListQueues", "OK") == 1 and timed(registry, QUEUE, "ListQueues") == 1

    with pytest.raises(grpc.RpcError) as info:  # refused by the API-key check: counted, id echoed
        queue.ListQueues(queue_pb2.ListQueuesRequest(), metadata=[(REQUEST_ID_KEY, "refused-1")])
    err: Any = info.value
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED
    meta = dict(err.trailing_metadata())
    assert meta[REQUEST_ID_KEY] == "refused-1" and meta[ERROR_FIELD_KEY] == "authorization"  # the error's kept
    counted(registry, QUEUE, "ListQueues", "UNAUTHENTICATED")
    assert timed(registry, QUEUE, "ListQueues") == 2
    # the refusal's log line carries the call's id
    assert any("refused" in message and seen.get("request_id") == "refused-1" for message, seen in ids.seen)


def test_a_missing_or_malformed_request_id_is_generated(channel: grpc.Channel) -> None:
    queue = queue_pb2_grpc.QueueServiceStub(channel)
    key = ("authorization", f"Bearer {API_KEY}")
    made = []
    for sent in ([], [(REQUEST_ID_KEY, "has a space;")], [(REQUEST_ID_KEY, "x" * 65)]):
        _, call = queue.ListQueues.with_call(queue_pb2.ListQueuesRequest(), metadata=[key, *sent])
        made.append(trailing_id(call))
    assert all(HEX32.fullmatch(m) for m in made) and len(set(made)) == 3
    assert request_id_of([(REQUEST_ID_KEY, "ok-1")]) == "ok-1"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_social_calls_keep_their_etag_and_errors_their_code(
    db_engine: sa.Engine, channel: grpc.Channel, registry: CollectorRegistry
) -> None:
    with db_engine.begin() as conn:
        member_in(conn, "alice")
    stub = pb_grpc.SocialServiceStub(channel)
    _, call = stub.GetAccount.with_call(pb.GetAccountRequest(handle="alice"), metadata=[(REQUEST_ID_KEY, "s-1")])
    assert dict(call.initial_metadata())[ETAG_KEY].startswith('W/"')  # the handler's initial metadata
    assert trailing_id(call) == "s-1"
    with pytest.raises(grpc.RpcError) as info:
        stub.GetAccount(pb.GetAccountRequest(handle="nobody"), metadata=[(REQUEST_ID_KEY, "s-2")])
    err: Any = info.value
    assert err.code() is grpc.StatusCode.NOT_FOUND and dict(err.trailing_metadata())[REQUEST_ID_KEY] == "s-2"
    assert count(registry, SERVICE_NAME, "GetAccount", "OK") == 1
    counted(registry, SERVICE_NAME, "GetAccount", "NOT_FOUND")
    raw = channel.unary_unary("/darkroom.social.v1.SocialService/NoSuchMethod")
    with pytest.raises(grpc.RpcError) as unknown:  # not served: not counted, so no label grows
        raw(b"")
    assert unknown.value.code() is grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
    calls = next(f for f in registry.collect() if f.name == "darkroom_grpc_requests")
    assert {s.labels["method"] for s in calls.samples} == {"GetAccount"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_feed_reads_over_grpc_are_timed_as_the_http_ones_are(
    db_engine: sa.Engine, channel: grpc.Channel, registry: CollectorRegistry
) -> None:
    with db_engine.begin() as conn:
        alice = member_in(conn, "alice")
    stub = pb_grpc.SocialServiceStub(channel)
    for _ in range(2):
        stub.ListFeed(pb.ListFeedRequest(page_size=5), metadata=[("authorization", f"Bearer {alice.token}")])
    reads = registry.get_sample_value("darkroom_feed_read_seconds_count", {"design": "hybrid"})
    assert reads == 2 and count(registry, SERVICE_NAME, "ListFeed", "OK") == 2


def test_a_streaming_call_is_counted_once_it_ends(channel: grpc.Channel, registry: CollectorRegistry) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
        metadata=[("authorization", f"Bearer {API_KEY}"), (REQUEST_ID_KEY, "r-1")],
    )
    names = {s.name for a in answers for s in a.list_services_response.service}
    assert {QUEUE, SERVICE_NAME} <= names
    assert trailing_id(answers) == "r-1"
    counted(registry, reflection.SERVICE_NAME, "ServerReflectionInfo", "OK")
