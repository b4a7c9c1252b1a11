"""The gRPC queue server: auth, TLS, masks, reflection, long polls, and malformed requests.

The contract suite already runs every queue operation through the server (the ``grpc`` param of
``q``); this file covers what only the wire has.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import darkroom.queue as dq
from darkroom._proto.darkroom.queue.v1 import queue_pb2 as pb
from darkroom._proto.darkroom.queue.v1 import queue_pb2_grpc as pb_grpc
from darkroom.api.grpc_status import ERROR_TYPE_KEY
from darkroom.config import ConfigError, Settings
from darkroom.queue.grpc_client import AsyncGrpcQueue, GrpcQueue
from darkroom.queue.server import SERVICE_NAME, ServerThread, load_api_keys

KEYS = {"alice": "k-alice-0123", "bob": "k-bob-4567"}
C = grpc.StatusCode
# Every status a client may see for a bad request; INTERNAL and UNKNOWN would mean a server bug.
EXPECTED_ERRORS = {C.INVALID_ARGUMENT, C.NOT_FOUND, C.FAILED_PRECONDITION, C.ALREADY_EXISTS}


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def auth_server(redis_url: str) -> Iterator[ServerThread]:
    with ServerThread(redis_url, api_keys=KEYS) as server:
        yield server


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def server(queue_server: ServerThread, redis_client: redis.Redis) -> ServerThread:
    """The session's open server, on a flushed database."""
    return queue_server


@pytest.fixture
def stub(server: ServerThread) -> Iterator[Any]:
    with grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.QueueServiceStub(channel)


@pytest.fixture
def gq(server: ServerThread) -> Iterator[GrpcQueue]:
    with GrpcQueue.from_url(server.url) as client:
        yield client


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, timeout=10, **kwargs)
    return err.value


def error_type(err: grpc.RpcError) -> str | None:
    return dict(err.trailing_metadata() or ()).get(ERROR_TYPE_KEY)


# -- authentication --------------------------------------------------------------------------------
def test_missing_or_wrong_key_is_unauthenticated(auth_server: ServerThread, redis_client: redis.Redis) -> None:
    for key in (None, "k-alice-012", "k-alice-01234", "k-bob-4567 extra"):
        with GrpcQueue.from_url(auth_server.url, api_key=key) as client, pytest.raises(dq.Unauthenticated) as err:
            client.list_queues()
        assert err.value.field == "authorization"
    with grpc.insecure_channel(auth_server.target) as channel:
        call = pb_grpc.QueueServiceStub(channel).ListQueues
        err = rpc_error(call, pb.ListQueuesRequest(), metadata=(("authorization", "Basic k-alice-0123"),))
        assert err.code() == C.UNAUTHENTICATED
        assert "Bearer" in err.details()


def test_every_configured_key_works(auth_server: ServerThread, redis_client: redis.Redis) -> None:
    for key in KEYS.values():
        with GrpcQueue.from_url(auth_server.url, api_key=key) as client:
            client.create_queue("auth")
            assert [i.name for i in client.list_queues()] == ["auth"]


def test_health_and_reflection(auth_server: ServerThread, server: ServerThread) -> None:
    # health stays open on an authenticated server
    with grpc.insecure_channel(auth_server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE_NAME):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        names = {s.name for s in replies[0].list_services_response.service}
        assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


def test_api_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# clients\n\nalice:k-1\n  k-2  \nci: k:3\n")
    assert load_api_keys(path) == {"alice": "k-1", "key4": "k-2", "ci": "k:3"}
    for bad in ("alice:\n", "a:k 1\n", "a:k\na:j\n"):
        path.write_text(bad)
        with pytest.raises(ConfigError):
            load_api_keys(path)


# -- TLS ---------------------------------------------------------------------------------------------
def test_tls_round_trip(redis_url: str, redis_client: redis.Redis, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    with ServerThread(redis_url, tls_cert=cert, tls_key=key, api_keys=["secret"]) as srv:
        assert srv.url.startswith("grpcs://")
        with dq.connect(srv.url, api_key="secret", root_cert=cert) as client:
            client.create_queue("tls")
            mid = client.enqueue("tls", b"over tls")
            assert client.get("tls", mid).payload == b"over tls"
        # a plaintext client cannot talk to it, and says so with a typed error
        plain = GrpcQueue.from_url(f"grpc://{srv.target}", api_key="secret", timeout_s=2)
        with plain, pytest.raises(dq.Unavailable):
            plain.list_queues()


def test_unreachable_redis_is_unavailable() -> None:
    with ServerThread("redis://127.0.0.1:1/0") as srv:
        client = GrpcQueue.from_url(srv.url)
        with client, pytest.raises(dq.Unavailable):
            client.list_queues()


# -- read masks --------------------------------------------------------------------------------------
def test_read_masks_return_only_masked_fields(gq: GrpcQueue, stub: Any) -> None:
    gq.create_queue("masks")
    mid = gq.enqueue("masks", b"payload", metadata={"codec": "av1", "shape": "cpu"})

    reply = stub.GetMessage(
        pb.GetMessageRequest(queue="masks", id=mid, read_mask=FieldMask(paths=["state"])), timeout=10
    )
    assert {f.name for f, _ in reply.ListFields()} == {"id", "queue", "state"}
    reply = stub.GetMessage(
        pb.GetMessageRequest(queue="masks", id=mid, read_mask=FieldMask(paths=["metadata.codec", "deadline"])),
        timeout=10,
    )
    assert dict(reply.metadata) == {"codec": "av1"} and reply.deadline.seconds > 0 and not reply.payload
    assert not reply.HasField("created_at")

    page = stub.QueryMessages(
        pb.QueryMessagesRequest(queue="masks", read_mask=FieldMask(paths=["attempts"])), timeout=10
    )
    assert [m.id for m in page.messages] == [mid]
    assert {f.name for f, _ in page.messages[0].ListFields()} <= {"id", "queue", "attempts"}

    leases = stub.Dequeue(pb.DequeueRequest(queue="masks", read_mask=FieldMask(paths=["metadata"])), timeout=10).leases
    (lease,) = leases
    assert lease.message.payload == b"" and dict(lease.message.metadata) == {"codec": "av1", "shape": "cpu"}
    assert lease.token > 0 and lease.expires_at.seconds > 0  # the lease itself is never masked

    # the Python client asks for the same thing with fields=[...]
    gq.fail(dq.Lease("masks", dq.Message(mid, "masks"), lease.token, lease.expires_at.ToSeconds()), "again")
    (py_lease,) = gq.dequeue("masks", fields=["attempts"])
    assert py_lease.message.payload == b"" and py_lease.message.attempts == 2 and py_lease.message.state is None
    assert gq.get("masks", mid, fields=[]) == dq.Message(mid, "masks")


def test_bad_read_mask_names_the_path(stub: Any, gq: GrpcQueue) -> None:
    gq.create_queue("masks")
    mid = gq.enqueue("masks", b"x")
    err = rpc_error(
        stub.GetMessage, pb.GetMessageRequest(queue="masks", id=mid, read_mask=FieldMask(paths=["paylaod"]))
    )
    assert err.code() == C.INVALID_ARGUMENT
    assert "'paylaod'" in err.details() and error_type(err) == "InvalidFieldMask"
    with pytest.raises(dq.InvalidArgument, match="'paylaod'"):
        gq.get("masks", mid, fields=["paylaod"])


# -- update masks ------------------------------------------------------------------------------------
def test_update_without_mask_is_refused(stub: Any, gq: GrpcQueue) -> None:
    gq.create_queue("upd")
    mid = gq.enqueue("upd", b"x")
    request = pb.UpdateMessageRequest(queue="upd", id=mid, message=pb.MessagePatch(payload=b"y"))
    err = rpc_error(stub.UpdateMessage, request)
    assert err.code() == C.INVALID_ARGUMENT and error_type(err) == "MissingUpdateMask"
    err = rpc_error(stub.UpdateQueue, pb.UpdateQueueRequest(queue=pb.Queue(name="upd", lease_s=Duration(seconds=5))))
    assert error_type(err) == "MissingUpdateMask"
    assert gq.get("upd", mid).payload == b"x"  # nothing changed


def test_unknown_or_immutable_update_paths_are_named(stub: Any, gq: GrpcQueue) -> None:
    gq.create_queue("upd")
    mid = gq.enqueue("upd", b"x", metadata={"a": "1"})

    def message(*paths: str) -> Any:
        return pb.UpdateMessageRequest(queue="upd", id=mid, update_mask=FieldMask(paths=paths))

    def queue(*paths: str) -> Any:
        return pb.UpdateQueueRequest(queue=pb.Queue(name="upd"), update_mask=FieldMask(paths=paths))

    cases = [
        (stub.UpdateMessage, message("nope"), "'nope'"),
        (stub.UpdateMessage, message("metadata.a"), "'metadata.a'"),
        (stub.UpdateMessage, message("deadline.seconds"), "'deadline.seconds'"),  # a time is one value
        (stub.UpdateQueue, queue("lease_s.nanos"), "'lease_s.nanos'"),
        (stub.UpdateQueue, queue("exclusivity_key"), "'exclusivity_key'"),
        (stub.UpdateQueue, queue("lease"), "'lease'"),
    ]
    for call, request, needle in cases:
        err = rpc_error(call, request)
        assert err.code() == C.INVALID_ARGUMENT, needle
        assert needle in err.details()


def test_masked_path_absent_from_body_clears_it(stub: Any, gq: GrpcQueue, redis_client: redis.Redis) -> None:
    gq.create_queue("upd")
    mid = gq.enqueue("upd", b"x", metadata={"a": "1"}, deadline=4_000_000_000.0, delay_s=3600)
    before = gq.get("upd", mid)
    assert before.state is dq.State.INVISIBLE
    request = pb.UpdateMessageRequest(
        queue="upd", id=mid, update_mask=FieldMask(paths=["metadata", "deadline", "delay_s"])
    )
    stub.UpdateMessage(request, timeout=10)
    after = gq.get("upd", mid)
    sec, usec = redis_client.time()
    assert after.metadata == {} and after.payload == b"x"  # payload was not in the mask
    assert after.deadline <= sec + usec / 1e6 + 1  # cleared deadline: due now
    assert after.state is dq.State.PENDING  # cleared delay: visible now
    # queues: `paused` masked and absent means paused = false
    gq.pause("upd")
    reply = stub.UpdateQueue(pb.UpdateQueueRequest(queue=pb.Queue(name="upd"), update_mask=FieldMask(paths=["paused"])))
    assert reply.paused is False and not gq.get_queue("upd").paused
    # and a cleared lease_s is the zero value, which the queue refuses with a typed error
    err = rpc_error(
        stub.UpdateQueue, pb.UpdateQueueRequest(queue=pb.Queue(name="upd"), update_mask=FieldMask(paths=["lease_s"]))
    )
    assert err.code() == C.INVALID_ARGUMENT and "lease_s" in err.details()


def test_client_updates_send_only_the_given_fields(gq: GrpcQueue) -> None:
    gq.create_queue("upd", lease_s=7, max_attempts=2)
    info = gq.update_queue("upd", max_attempts=5)
    assert (info.lease_s, info.max_attempts) == (7.0, 5)
    assert gq.update_queue("upd") == info  # no field: the settings, unchanged
    mid = gq.enqueue("upd", b"x", metadata={"k": "v"})
    gq.update("upd", mid, payload=b"y")
    m = gq.get("upd", mid)
    assert (m.payload, m.metadata) == (b"y", {"k": "v"})
    with pytest.raises(dq.InvalidArgument, match="no field"):
        gq.update("upd", mid)


# -- status codes of damage and forgery ------------------------------------------------------------------
def test_a_forged_cursor_and_a_damaged_queue_have_their_own_status_codes(
    stub: Any, gq: GrpcQueue, redis_client: redis.Redis
) -> None:
    gq.create_queue("c")
    gq.enqueue("c", b"x")
    token = base64.urlsafe_b64encode(b'["pending", "soon", "00000000000000001x"]').decode()
    err = rpc_error(stub.QueryMessages, pb.QueryMessagesRequest(queue="c", page_token=token))
    assert (err.code(), error_type(err)) == (C.INVALID_ARGUMENT, "InvalidArgument")
    assert token[:20] in err.details() and "'soon' is not a number" in err.details()
    gq.dequeue("c")
    redis_client.set("dr:{c}:fence", "many")
    err = rpc_error(stub.Dequeue, pb.DequeueRequest(queue="c"))
    assert (err.code(), error_type(err)) == (C.DATA_LOSS, "QueueDamaged")
    assert "queue c has a damaged fence many" in err.details()


# -- the asyncio client ------------------------------------------------------------------------------
def test_async_client_has_the_same_api(server: ServerThread) -> None:
    async def scenario() -> None:
        async with dq.connect_async(server.url) as aq:
            assert isinstance(aq, AsyncGrpcQueue)
            info = await aq.create_queue("aio", indexed_keys=["codec"])
            assert info.indexed_keys == ("codec",)
            ids = await aq.enqueue_many("aio", [dq.NewMessage(b"a", metadata={"codec": "av1"}), dq.NewMessage(b"b")])
            (lease,) = await aq.dequeue("aio", where={"codec": "av1"}, fields=["metadata"])
            assert lease.message.id == ids[0] and lease.message.payload == b""
            assert await aq.extend(lease, 5) is lease
            assert await aq.complete(lease, b"ok") >= 0
            with pytest.raises(dq.LeaseLost):
                await aq.fail(lease, "late")
            assert (await aq.get("aio", ids[0])).result == b"ok"
            assert await aq.count("aio", dq.State.PENDING) == 1
            page = await aq.query("aio", limit=1)
            assert len(page.messages) == 1 and page.next_cursor is not None
            with pytest.raises(dq.QueueNotFound):
                await aq.stats("nope")

    asyncio.run(scenario())


# -- long polls --------------------------------------------------------------------------------------
def _pattern_subscribers(redis_client: redis.Redis) -> int:
    return sum(1 for c in redis_client.client_list() if int(c.get("psub", 0)) > 0)


def test_long_poll_wakes_on_enqueue_without_blocking_others(redis_url: str, redis_client: redis.Redis) -> None:
    with ServerThread(redis_url) as srv, GrpcQueue.from_url(srv.url) as a, GrpcQueue.from_url(srv.url) as b:
        a.create_queue("poll")
        subscribers = _pattern_subscribers(redis_client)
        got: list[Any] = []
        done = threading.Event()

        def consumer() -> None:
            got.extend(a.dequeue("poll", wait_s=30))
            done.set()

        started = time.monotonic()
        threading.Thread(target=consumer, daemon=True).start()
        # the server subscribes to wake-ups when its first long poll arms: then the poll is in flight
        give_up = time.monotonic() + 10
        while _pattern_subscribers(redis_client) == subscribers and time.monotonic() < give_up:
            done.wait(0.01)
        assert not done.is_set()
        # other calls go through while the poll waits
        assert b.count("poll") == 0 and b.stats("poll").queue == "poll"
        assert not done.is_set()
        mid = b.enqueue("poll", b"wake up")
        assert done.wait(10), "the long poll did not wake up"
        assert [lease.message.id for lease in got] == [mid]
        assert time.monotonic() - started < 20


# -- sweeper and serve() -----------------------------------------------------------------------------
def test_server_runs_the_sweeper(redis_url: str, redis_client: redis.Redis) -> None:
    with ServerThread(redis_url, sweep_interval_s=0.05) as srv, GrpcQueue.from_url(srv.url) as client:
        client.create_queue("swept")
        mid = client.enqueue("swept", b"x", delay_s=0.2)
        # nobody dequeues, so only the server's sweeper can make the message pending
        give_up = time.monotonic() + 10
        while client.get("swept", mid, fields=["state"]).state is not dq.State.PENDING:
            assert time.monotonic() < give_up, "the sweeper never promoted the delayed message"
            threading.Event().wait(0.02)


def test_serve_from_settings(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    from tests.queue.test_grpc_security import serving

    keys = tmp_path / "api-keys"
    keys.write_text("ci:s3cret\n")
    with socket.socket() as probe:  # a free port (serve() binds the configured address)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(redis_url=redis_url, grpc_addr=f"127.0.0.1:{port}", api_keys_file=str(keys))
    with serving(settings) as url, GrpcQueue.from_url(url, api_key="s3cret") as client:
        assert client.create_queue("served").name == "served"


# -- malformed requests ------------------------------------------------------------------------------
FIELD_MASK_PATHS = st.lists(
    st.sampled_from(["payload", "metadata", "state", "*", "nope", "metadata.k", "", "a..b", "tags.0", "lease_s"]),
    max_size=3,
)
QUEUE_NAMES = st.sampled_from(["fuzz", "fuzz", "fuzz", "", "Bad", "nope", "x" * 101, "{fuzz}", "ü", "a b"])
IDS = st.one_of(st.sampled_from(["m1", "m2", "", "bad id", "x" * 200]), st.text(max_size=12))
TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["codec", "", "ü" * 300, "a" * 70]))
INTS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 1, 2, 1000, 1001, 10_000_001, 2**31]))
# Timestamps and Durations: in and out of range (nanos past 10^9, signs that disagree, year 10000…)
TIME_SECONDS = st.one_of(st.sampled_from([-1, 0, 1, 5, 61, 4_000_000_000, 253_402_300_800, -(2**62)]), INTS)
TIME_NANOS = st.sampled_from([0, 1, 10_000_000, 999_999_999, 1_000_000_000, -1, -999_999_999, 2**31 - 1])
TIMES = st.fixed_dictionaries({}, optional={"seconds": TIME_SECONDS, "nanos": TIME_NANOS})
# long-poll budgets stay short: the valid ones wait at most 10 ms
WAITS = st.sampled_from(
    [{}, {"nanos": 10_000_000}, {"seconds": -1}, {"seconds": 61}, {"seconds": 2**62}, {"seconds": 1, "nanos": -1}]
)
HUGE_MAP = st.just({f"k{i}": "v" * 300 for i in range(100)})
MAPS = st.one_of(st.dictionaries(TEXT, TEXT, max_size=4), HUGE_MAP)
BYTES = st.one_of(st.binary(max_size=64), st.just(b"\0" * ((1 << 20) + 1)))


def _values(field: Any, depth: int) -> st.SearchStrategy[Any] | None:
    """A strategy for one field of a request, by name first, then by type."""
    F = field.__class__  # noqa: N806
    name = field.name
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return MAPS
    if field.message_type is not None and field.message_type.full_name == "google.protobuf.FieldMask":
        return FIELD_MASK_PATHS.map(lambda paths: {"paths": paths})
    if name == "wait_s":
        return WAITS
    if field.message_type is not None and field.message_type.full_name in (
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
    ):
        return TIMES
    if field.message_type is not None:
        if depth > 2:
            return None
        inner = _messages(field.message_type, depth + 1)
        return st.lists(inner, max_size=4) if field.is_repeated else inner
    if name in ("queue", "name"):
        base: st.SearchStrategy[Any] = QUEUE_NAMES
    elif name == "id":
        base = IDS
    elif field.type == F.TYPE_STRING:
        base = TEXT
    elif field.type == F.TYPE_BYTES:
        base = BYTES
    elif field.type == F.TYPE_BOOL:
        base = st.booleans()
    elif field.type == F.TYPE_ENUM:
        base = st.integers(-3, 9)
    else:
        base = INTS
    return st.lists(base, max_size=3) if field.is_repeated else base


def _messages(descriptor: Any, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts of random field values (fields may be left out) that build a ``descriptor`` message."""
    strategies = {f.name: s for f in descriptor.fields if (s := _values(f, depth)) is not None}
    return st.fixed_dictionaries({}, optional=strategies)


SERVICE = pb.DESCRIPTOR.services_by_name["QueueService"]
REQUESTS = st.sampled_from(list(SERVICE.methods)).flatmap(lambda m: st.tuples(st.just(m), _messages(m.input_type)))


def _call(channel: grpc.Channel, method: Any, body: bytes) -> tuple[grpc.StatusCode, Any]:
    """Send raw request bytes; the status code and the error (or None)."""
    call = channel.unary_unary(f"/{SERVICE.full_name}/{method.name}")
    try:
        call(body, timeout=15)
    except grpc.RpcError as err:
        return err.code(), err
    return C.OK, None


def _check(code: grpc.StatusCode, err: Any) -> None:
    if code != C.OK:
        assert code in EXPECTED_ERRORS, (code, err.details())
        assert error_type(err), "every refusal names its error type"


def _fuzz_queue(server: ServerThread) -> GrpcQueue:
    """A client, and queue ``fuzz`` as the examples need it (an earlier one may have changed it)."""
    client = GrpcQueue.from_url(server.url)
    with contextlib.suppress(dq.Conflict):
        client.create_queue("fuzz", indexed_keys=["codec"])
    client.update_queue("fuzz", paused=False)
    return client


def _build(method: Any, values: dict[str, Any]) -> bytes | None:
    cls = getattr(pb, method.input_type.name)
    try:
        return cls(**values).SerializeToString()  # type: ignore[no-any-return]
    except (ValueError, TypeError):
        return None  # not expressible as this message (e.g. a key out of range): nothing to send


@given(request=REQUESTS)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
def test_malformed_requests_get_proper_statuses(server: ServerThread, redis_client: redis.Redis, request: Any) -> None:
    method, values = request
    _fuzz_queue(server).close()
    body = _build(method, values)
    if body is None:
        return
    with grpc.insecure_channel(server.target) as channel:
        _check(*_call(channel, method, body))
        # the server is still healthy afterwards
        assert _call(channel, SERVICE.methods_by_name["ListQueues"], b"")[0] == C.OK


@given(method=st.sampled_from(list(SERVICE.methods)), body=st.binary(max_size=64))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_garbage_bytes_are_invalid_argument_not_internal(server: ServerThread, method: Any, body: bytes) -> None:
    with grpc.insecure_channel(server.target) as channel:
        _check(*_call(channel, method, body))


NEW_MESSAGES = st.lists(_messages(pb.NewMessage.DESCRIPTOR, 3), min_size=1, max_size=5)


@given(batch=NEW_MESSAGES)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_refused_enqueue_batches_write_nothing(server: ServerThread, redis_client: redis.Redis, batch: Any) -> None:
    with _fuzz_queue(server) as client:
        before = client.count("fuzz")
        keys_before = set(redis_client.keys("dr:{fuzz}:m:*"))
        request = pb.EnqueueRequest(queue="fuzz")
        try:
            for values in batch:
                request.messages.add(**values)
        except (ValueError, TypeError):
            return
        with grpc.insecure_channel(server.target) as channel:
            code, err = _call(channel, SERVICE.methods_by_name["Enqueue"], request.SerializeToString())
        _check(code, err)
        after = client.count("fuzz")
        if code == C.OK:
            assert before <= after <= before + len(batch)
        else:
            assert after == before
            assert set(redis_client.keys("dr:{fuzz}:m:*")) == keys_before
