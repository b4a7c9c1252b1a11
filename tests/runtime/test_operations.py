"""Operations: the store's contract on SQLite and PostgreSQL, and the gRPC service end to end.

No test sleeps to synchronise: a thread that must run "while another waits" is released by an
event the waiting side sets once it has seen the operation still running.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import sqlalchemy as sa
from google.protobuf.field_mask_pb2 import FieldMask

import darkroom.queue as dq
from darkroom._proto.darkroom.operations.v1 import operations_pb2 as pb
from darkroom._proto.darkroom.operations.v1 import operations_pb2_grpc as pb_grpc
from darkroom.api.auth import BearerAuth
from darkroom.api.errors import InvalidFieldMask, ServiceUnavailable, Unauthenticated
from darkroom.api.grpc_status import ERROR_TYPE_KEY
from darkroom.runtime.errors import InvalidOperation, OperationNotFound
from darkroom.runtime.operations import Operation, OperationState, OperationStore
from darkroom.runtime.operations_server import SERVICE_NAME, OperationsClient, add_to_server
from darkroom.runtime.workflow import Workflows
from tests.runtime.conftest import Platform

S = OperationState
C = grpc.StatusCode


class ObservedStore(OperationStore):
    """Sets ``polled`` once a read has returned a not-done operation (a waiter is waiting)."""

    def __init__(self, engine: sa.Engine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self.polled = threading.Event()

    def get(self, id: str, *, load_result: bool = True) -> Operation:
        op = super().get(id, load_result=load_result)
        if not op.done:
            self.polled.set()
        return op


@pytest.fixture
def store(db_engine: sa.Engine) -> ObservedStore:
    return ObservedStore(db_engine)


def finish_when_polled(store: ObservedStore, id: str, **changes: Any) -> threading.Thread:
    """A thread that applies ``changes`` to ``id`` once a waiter has seen it running."""

    def run() -> None:
        assert store.polled.wait(30)
        store.update(id, **changes)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- create / get ----------------------------------------------------------------------------------
def test_create_and_get(store: OperationStore) -> None:
    op = store.create(kind="workflow", target="wf_1", labels={"asset": "a1", "team/x": "y"})
    assert op.id.startswith("op_") and len(op.id) == 29
    assert (op.kind, op.target, op.state, op.done, op.progress, op.message) == (
        "workflow",
        "wf_1",
        S.RUNNING,
        False,
        0,
        "",
    )
    assert (op.result, op.error_code, op.error_message) == (None, None, None)
    assert op.labels == {"asset": "a1", "team/x": "y"}
    assert op.created_at == op.updated_at > 0
    assert store.get(op.id) == op


def test_create_with_an_explicit_id_is_idempotent(store: OperationStore) -> None:
    first = store.create(kind="workflow", target="wf_1", id="op_fixed")
    store.update("op_fixed", progress=0.5)
    again = store.create(kind="workflow", target="wf_1", id="op_fixed")
    assert again.id == "op_fixed" and again.created_at == first.created_at and again.progress == 0.5
    with pytest.raises(InvalidOperation, match="op_fixed"):
        store.create(kind="workflow", target="wf_2", id="op_fixed")
    with pytest.raises(InvalidOperation, match="op_fixed"):
        store.create(kind="upload", target="wf_1", id="op_fixed")


def test_missing_operation_is_named(store: OperationStore) -> None:
    with pytest.raises(OperationNotFound, match="op_nope"):
        store.get("op_nope")
    with pytest.raises(OperationNotFound, match="op_nope"):
        store.update("op_nope", progress=0.1)
    with pytest.raises(OperationNotFound, match="op_nope"):
        store.cancel("op_nope")
    with pytest.raises(OperationNotFound, match="op_nope"):
        store.wait("op_nope", 0)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"kind": ""}, "''"),
        ({"kind": "k" * 65}, "kkkk"),
        ({"kind": "w", "target": ""}, "target"),
        ({"kind": "w", "id": "x" * 65}, "xxxx"),
        ({"kind": "w", "labels": {"bad key": "v"}}, "bad key"),
        ({"kind": "w", "labels": {"k": 3}}, "'k'"),
    ],
)
def test_bad_create_arguments_are_named(store: OperationStore, kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidOperation, match=named):
        store.create(**kwargs)


def test_caller_transaction_is_used_and_not_committed(store: OperationStore, db_engine: sa.Engine) -> None:
    with db_engine.connect() as conn, conn.begin() as tx:
        op = store.create(kind="workflow", target="wf_1", id="op_tx", conn=conn)
        assert store.update(op.id, progress=0.25, conn=conn).progress == 0.25
        tx.rollback()
    with pytest.raises(OperationNotFound):
        store.get("op_tx")
    with db_engine.begin() as conn:
        store.create(kind="workflow", id="op_tx", conn=conn)
    assert store.get("op_tx").kind == "workflow"


# -- update ----------------------------------------------------------------------------------------
def test_progress_and_message(store: OperationStore) -> None:
    op = store.create(kind="workflow")
    got = store.update(op.id, progress=0.4, message="encoding 2/5")
    assert (got.progress, got.message, got.state, got.done) == (0.4, "encoding 2/5", S.RUNNING, False)
    assert got.updated_at >= op.updated_at
    assert store.update(op.id, progress=1 + 1e-9).progress == 1.0  # rounding errors are clamped
    long = store.update(op.id, message="x" * 500).message
    assert len(long) == 200 and long.endswith("…")


@pytest.mark.parametrize("value", [1.5, -0.1, math.nan, math.inf, "0.5", True])
def test_bad_progress_is_named(store: OperationStore, value: Any) -> None:
    op = store.create(kind="workflow")
    with pytest.raises(InvalidOperation, match=repr(value).strip("'")):
        store.update(op.id, progress=value)
    assert store.get(op.id).progress == 0


def test_success_sets_done_progress_and_result(store: OperationStore) -> None:
    op = store.create(kind="workflow")
    done = store.update(op.id, state=S.SUCCEEDED, result={"renditions": [{"height": 720}], "ok": True})
    assert (done.state, done.done, done.progress) == (S.SUCCEEDED, True, 1.0)
    assert done.result == {"renditions": [{"height": 720}], "ok": True}
    assert (done.error_code, done.error_message) == (None, None)
    assert store.get(op.id) == done
    assert store.get(op.id, load_result=False).result is None


def test_failure_keeps_progress_and_gets_an_error_code(store: OperationStore) -> None:
    a = store.update(store.create(kind="w").id, progress=0.3)
    failed = store.update(a.id, state=S.FAILED, error_message="encode crashed")
    assert (failed.state, failed.done, failed.progress) == (S.FAILED, True, 0.3)
    assert (failed.error_code, failed.error_message) == ("failed", "encode crashed")
    b = store.create(kind="w")
    coded = store.update(b.id, state=S.FAILED, error_code="TaskTimeout", error_message="too slow")
    assert (coded.error_code, coded.error_message) == ("TaskTimeout", "too slow")


def test_a_done_operation_never_changes(store: OperationStore) -> None:
    op = store.create(kind="w")
    done = store.update(op.id, state=S.SUCCEEDED, result=[1, 2])
    again = store.update(
        op.id, progress=0.1, message="late", state=S.FAILED, result=None, error_code="x", error_message="y"
    )
    assert again == done == store.get(op.id)
    assert store.cancel(op.id) == done


def test_result_must_be_json(store: OperationStore) -> None:
    op = store.create(kind="w")
    with pytest.raises(InvalidOperation, match="result"):
        store.update(op.id, result={"bad": {1, 2}})
    with pytest.raises(InvalidOperation, match="result"):
        store.update(op.id, result=math.nan)
    with pytest.raises(InvalidOperation, match="sideways"):
        store.update(op.id, state="sideways")  # type: ignore[arg-type]
    assert store.get(op.id).result is None


# -- cancel ----------------------------------------------------------------------------------------
def test_cancel_calls_the_canceller_of_the_kind(db_engine: sa.Engine) -> None:
    seen: list[Operation] = []
    store = OperationStore(db_engine, cancellers={"workflow": seen.append})
    op = store.create(kind="workflow", target="wf_9")
    canceled = store.cancel(op.id)
    assert [o.target for o in seen] == ["wf_9"]
    assert (canceled.state, canceled.done, canceled.error_code) == (S.CANCELED, True, "canceled")
    assert store.cancel(op.id) == canceled and len(seen) == 1  # a done operation: no second call
    other = store.cancel(store.create(kind="upload").id)  # no canceller for the kind: only marked
    assert other.state == S.CANCELED and len(seen) == 1


def test_a_failing_canceller_leaves_the_operation_running(db_engine: sa.Engine) -> None:
    def refuse(op: Operation) -> None:
        raise InvalidOperation(f"cannot cancel {op.target}")

    store = OperationStore(db_engine, cancellers={"workflow": refuse})
    op = store.create(kind="workflow", target="wf_1")
    with pytest.raises(InvalidOperation, match="wf_1"):
        store.cancel(op.id)
    assert store.get(op.id).state == S.RUNNING


# -- list ------------------------------------------------------------------------------------------
def all_pages(store: Any, page_size: int, **filters: Any) -> list[Operation]:
    out: list[Operation] = []
    token = None
    while True:
        page, token = store.list(page_size=page_size, page_token=token, **filters)
        assert len(page) <= page_size
        out += page
        if token is None:
            return out


def test_list_filters(store: OperationStore) -> None:
    a = store.create(kind="workflow", target="wf_a", labels={"asset": "x", "profile": "studio"})
    b = store.create(kind="workflow", target="wf_b", labels={"asset": "x", "profile": "streaming"})
    c = store.create(kind="upload", labels={"asset": "y"})
    store.update(b.id, state=S.SUCCEEDED)

    def ids(**filters: Any) -> list[str]:
        return [op.id for op in store.list(**filters)[0]]

    assert ids() == [c.id, b.id, a.id]  # newest first
    assert ids(kind="workflow") == [b.id, a.id]
    assert ids(state=S.RUNNING) == [c.id, a.id]
    assert ids(state=S.SUCCEEDED, kind="workflow") == [b.id]
    assert ids(target="wf_a") == [a.id]
    assert ids(labels={"asset": "x"}) == [b.id, a.id]
    assert ids(labels={"asset": "x", "profile": "studio"}) == [a.id]
    assert ids(labels={"profile": "x"}) == []
    assert ids(kind="nothing") == []


def test_pages_cover_every_operation_once_while_others_are_created(store: OperationStore) -> None:
    before = {store.create(kind="w", labels={"n": str(i)}).id for i in range(37)}
    created: list[str] = []
    started = threading.Event()

    def create_more() -> None:
        for _ in range(40):
            created.append(store.create(kind="w").id)
            started.set()

    writer = threading.Thread(target=create_more, daemon=True)
    writer.start()
    assert started.wait(30)
    try:
        seen = all_pages(store, 4, kind="w")
    finally:
        writer.join(30)
    ids = [op.id for op in seen]
    assert len(ids) == len(set(ids))  # nothing twice
    assert before <= set(ids)  # everything that existed at the start
    keys = [(op.created_at, op.id) for op in seen]
    assert keys == sorted(keys, reverse=True)
    assert {op.id for op in all_pages(store, 1000)} == before | set(created)


def test_page_tokens_and_sizes_are_checked(store: OperationStore) -> None:
    for _ in range(3):
        store.create(kind="w")
    page, token = store.list(page_size=2)
    assert len(page) == 2 and token is not None
    assert all(c.isalnum() or c in "-_" for c in token)  # URL-safe
    with pytest.raises(InvalidOperation, match="page_token"):
        store.list(page_size=2, page_token=token, kind="w")  # issued for other filters
    for bad in ("garbage", "", "eyJ4IjoxfQ", token[:-3] + "!!!"):
        if bad:
            with pytest.raises(InvalidOperation, match="page_token"):
                store.list(page_token=bad)
    for size in (0, 1001, -1, True, 2.0):
        with pytest.raises(InvalidOperation, match=f"page_size {size!r}"):
            store.list(page_size=size)  # type: ignore[arg-type]


# -- wait ------------------------------------------------------------------------------------------
def test_wait_returns_the_running_operation_at_the_timeout(store: OperationStore) -> None:
    op = store.create(kind="w")
    assert store.wait(op.id, 0).state == S.RUNNING
    assert store.wait(op.id, 0.05).done is False
    with pytest.raises(InvalidOperation, match="-1"):
        store.wait(op.id, -1)


def test_wait_returns_once_another_thread_finishes(store: ObservedStore) -> None:
    op = store.create(kind="w")
    finisher = finish_when_polled(store, op.id, state=S.SUCCEEDED, result={"ok": 1})
    got = store.wait(op.id, 60)
    finisher.join(30)
    assert (got.state, got.result) == (S.SUCCEEDED, {"ok": 1})


def test_wait_async(store: ObservedStore) -> None:
    op = store.create(kind="w")
    finisher = finish_when_polled(store, op.id, state=S.FAILED, error_code="boom")

    async def main() -> tuple[Operation, Operation]:
        # the loop stays free while waiting: a second waiter with a short timeout returns first
        long = asyncio.create_task(store.wait_async(op.id, 60))
        short = await store.wait_async(op.id, 0.01)
        return await long, short

    got, short = asyncio.run(main())
    finisher.join(30)
    assert (got.state, got.error_code) == (S.FAILED, "boom")
    assert short.state in (S.RUNNING, S.FAILED)


# -- gRPC ------------------------------------------------------------------------------------------
class Server:
    """A grpc.aio server with only the Operations service, on its own loop in a thread."""

    def __init__(
        self, store: OperationStore, api_keys: dict[str, str] | None = None, tls: tuple[Path, Path] | None = None
    ) -> None:
        self.store = store
        self.api_keys = api_keys
        self.tls = tls
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = grpc.aio.server(interceptors=[BearerAuth(self.api_keys)] if self.api_keys else [])
        add_to_server(server, self.store, max_wait_s=30)
        if self.tls is None:
            self.port = server.add_insecure_port("127.0.0.1:0")
        else:
            cert, key = self.tls
            credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
            self.port = server.add_secure_port("127.0.0.1:0", credentials)
        await server.start()
        self._ready.set()
        await self._stopping.wait()
        await server.stop(0.5)

    def __enter__(self) -> Server:
        self._thread.start()
        assert self._ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stopping is not None
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(30)


@pytest.fixture
def server(store: ObservedStore) -> Iterator[Server]:
    with Server(store) as srv:
        yield srv


@pytest.fixture
def client(server: Server) -> Iterator[OperationsClient]:
    with OperationsClient(server.target, timeout_s=10) as c:
        yield c


@pytest.fixture
def stub(server: Server) -> Iterator[Any]:
    with grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.OperationsStub(channel)


def rpc_error(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=10)
    return err.value


def test_client_returns_what_the_store_has(store: OperationStore, client: OperationsClient) -> None:
    op = store.create(kind="workflow", target="wf_1", labels={"asset": "a"})
    assert client.get(op.id) == op
    done = store.update(op.id, state=S.FAILED, result={"n": 3, "xs": ["a", None]}, error_code="E", error_message="m")
    got = client.get(op.id)
    assert got == done  # 3 travels as 3.0 (protobuf Value), which compares equal
    assert client.list() == ([done], None)
    bare = store.create(kind="upload")
    assert client.get(bare.id) == bare  # no target, result or error: still None


def test_read_masks_on_get_list_and_wait(store: OperationStore, stub: Any, client: OperationsClient) -> None:
    op = store.create(kind="workflow", target="wf_1", labels={"asset": "a", "team": "t"})
    store.update(op.id, progress=0.5, message="half", result={"big": "payload"})
    mask = FieldMask(paths=["progress", "labels.team"])
    got = stub.GetOperation(pb.GetOperationRequest(id=op.id, read_mask=mask), timeout=10)
    assert got.progress == 0.5 and dict(got.labels) == {"team": "t"}
    assert (got.id, got.state, got.done) == (op.id, pb.STATE_RUNNING, False)  # always returned
    assert not got.HasField("result") and not got.HasField("create_time") and got.kind == "" and got.message == ""
    listed = stub.ListOperations(pb.ListOperationsRequest(read_mask=FieldMask(paths=["kind"])), timeout=10)
    assert [(o.id, o.kind, o.progress, o.HasField("target")) for o in listed.operations] == [
        (op.id, "workflow", 0.0, False)
    ]
    wait = pb.WaitOperationRequest(id=op.id, read_mask=FieldMask(paths=["result"]))
    wait.timeout.FromSeconds(0)
    waited = stub.WaitOperation(wait, timeout=10)
    assert waited.result.struct_value.fields["big"].string_value == "payload" and waited.progress == 0
    full = stub.GetOperation(pb.GetOperationRequest(id=op.id, read_mask=FieldMask(paths=["*"])), timeout=10)
    assert full.kind == "workflow" and full.HasField("result")
    # through the client: unmasked fields hold their empty values
    light = client.get(op.id, read_mask="message")
    assert (light.message, light.kind, light.result, light.labels) == ("half", "", None, {})
    page, _ = client.list(read_mask=["labels.asset"])
    assert page[0].labels == {"asset": "a"}


def test_unknown_mask_path_is_invalid_argument_naming_it(store: OperationStore, stub: Any) -> None:
    op = store.create(kind="w")
    requests = [
        (stub.GetOperation, pb.GetOperationRequest(id=op.id, read_mask=FieldMask(paths=["progres"]))),
        (stub.ListOperations, pb.ListOperationsRequest(read_mask=FieldMask(paths=["progres"]))),
        (stub.WaitOperation, pb.WaitOperationRequest(id=op.id, read_mask=FieldMask(paths=["progres"]))),
    ]
    for call, request in requests:
        err = rpc_error(call, request)
        assert err.code() == C.INVALID_ARGUMENT and "progres" in (err.details() or "")
        assert dict(err.trailing_metadata() or ())[ERROR_TYPE_KEY] == "InvalidFieldMask"


def test_errors_keep_their_types(store: OperationStore, stub: Any, client: OperationsClient) -> None:
    err = rpc_error(stub.GetOperation, pb.GetOperationRequest(id="op_missing"))
    assert err.code() == C.NOT_FOUND and "op_missing" in (err.details() or "")
    for call in (client.get, client.cancel, lambda i: client.wait(i, 0)):
        with pytest.raises(OperationNotFound, match="op_missing"):
            call("op_missing")
    with pytest.raises(InvalidOperation, match="page_token"):
        client.list(page_token="nonsense")
    with pytest.raises(InvalidOperation, match="page_size 0"):
        client.list(page_size=0)
    with pytest.raises(InvalidOperation, match="id is required"):
        client.get("")
    with pytest.raises(InvalidFieldMask, match="nope"):
        client.get("op_x", read_mask="nope")
    op = store.create(kind="w")
    negative = pb.WaitOperationRequest(id=op.id)
    negative.timeout.FromSeconds(-1)
    assert rpc_error(stub.WaitOperation, negative).code() == C.INVALID_ARGUMENT
    unknown_state = pb.ListOperationsRequest(state=42)  # type: ignore[arg-type]
    assert rpc_error(stub.ListOperations, unknown_state).code() == C.INVALID_ARGUMENT


def test_a_status_without_our_metadata_is_an_operations_or_api_error() -> None:
    """A client that gets a bare status (here grpc's own UNAVAILABLE: nobody listens) raises an
    error of its own service or of the API layer, never a queue error."""
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with OperationsClient(f"127.0.0.1:{port}", timeout_s=10) as client, pytest.raises(ServiceUnavailable) as err:
        client.get("op_x")
    assert not isinstance(err.value, dq.QueueError)
    assert isinstance(err.value, ConnectionError) and "UNAVAILABLE" in str(err.value)


def test_garbage_request_body_is_invalid_argument(server: Server) -> None:
    with grpc.insecure_channel(server.target) as channel:
        call = channel.unary_unary(f"/{SERVICE_NAME}/GetOperation")
        with pytest.raises(grpc.RpcError) as err:
            call(b"\xff\xff\xff", timeout=10)
    assert err.value.code() == C.INVALID_ARGUMENT


def test_list_pages_and_filters_over_grpc(store: OperationStore, client: OperationsClient) -> None:
    ids = {store.create(kind="w", target=f"t{i}", labels={"even": str(i % 2 == 0)}).id for i in range(9)}
    store.create(kind="other")
    assert {op.id for op in all_pages(client, 2, kind="w")} == ids
    even = all_pages(client, 2, labels={"even": "True"})
    assert len(even) == 5 and len({op.id for op in even}) == 5
    assert [op.target for op in client.list(target="t3")[0]] == ["t3"]
    assert client.list(state=S.SUCCEEDED) == ([], None)


def test_cancel_over_grpc(db_engine: sa.Engine) -> None:
    seen: list[str] = []
    store = OperationStore(db_engine, cancellers={"workflow": lambda op: seen.append(op.id)})
    with Server(store) as srv, OperationsClient(srv.target) as client:
        op = store.create(kind="workflow")
        assert client.cancel(op.id).state == S.CANCELED
        assert client.cancel(op.id).state == S.CANCELED
    assert seen == [op.id]


def test_wait_over_grpc(store: ObservedStore, client: OperationsClient) -> None:
    op = store.create(kind="w")
    assert client.wait(op.id, 0.05).state == S.RUNNING  # the timeout passes: the op as it is
    store.polled.clear()
    finisher = finish_when_polled(store, op.id, state=S.SUCCEEDED, result="done")
    got = client.wait(op.id, 60)
    finisher.join(30)
    assert (got.state, got.done, got.result) == (S.SUCCEEDED, True, "done")


def test_api_key_is_required_when_configured(store: OperationStore) -> None:
    op = store.create(kind="w")
    with Server(store, api_keys={"alice": "k-alice"}) as srv:
        with OperationsClient(srv.target) as anonymous, pytest.raises(Unauthenticated):
            anonymous.get(op.id)
        with OperationsClient(srv.target, api_key="wrong") as wrong, pytest.raises(Unauthenticated):
            wrong.list()
        with OperationsClient(f"grpc://{srv.target}", api_key="k-alice") as alice:
            assert alice.get(op.id).id == op.id


def test_tls(store: OperationStore, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )
    op = store.create(kind="w")
    with Server(store, tls=(cert, key)) as srv:
        with OperationsClient(srv.target, root_certs=cert) as client:
            assert client.get(op.id) == op
        with OperationsClient(f"grpcs://{srv.target}", root_certs=cert.read_bytes(), server_name="localhost") as c:
            assert c.wait(op.id, 0).id == op.id


# -- workflow runs through the API: progress is work done, never 1.0 for a run that did not succeed --
@pytest.fixture
def run_ops(platform: Platform) -> Iterator[tuple[Platform, Workflows, OperationsClient]]:
    def cancel_run(op: Operation) -> bool:
        assert op.target is not None
        platform.workflows.cancel(op.target)
        return True  # the engine records how the run ended

    ops = OperationStore(platform.db, cancellers={"workflow": cancel_run})
    platform.start_engine(operations=ops)
    platform.start_worker(concurrency=2)
    with Server(ops) as srv, OperationsClient(srv.target, timeout_s=10) as api:
        yield platform, Workflows(platform.rq, platform.db, platform.registry, operations=ops), api


def test_a_failed_run_reports_the_progress_it_had_reached(
    run_ops: tuple[Platform, Workflows, OperationsClient],
) -> None:
    platform, workflows, api = run_ops
    run = workflows.start("half-failing", {})
    op = api.wait(run.id, timeout_s=30)
    done = platform.wait(run.id)
    # first succeeded, broken failed, after skipped: one step of three done
    assert {n: s.state for n, s in done.steps.items()} == {"first": "succeeded", "broken": "failed", "after": "skipped"}
    assert done.progress == op.progress == pytest.approx(1 / 3, abs=1e-4)
    assert (op.state, op.done, op.error_code) == (S.FAILED, True, "WORKFLOW_FAILED")


def test_a_canceled_run_reports_the_progress_it_had_reached(
    run_ops: tuple[Platform, Workflows, OperationsClient], tmp_path: Path
) -> None:
    platform, workflows, api = run_ops
    run = workflows.start("gated-chain", {"gate": str(tmp_path / "never")})
    # s0 done and s1 half way (its function reports 0.5 while it waits): cancel then
    platform.until(lambda: workflows.get(run.id).steps["s1"].progress == 0.5)
    assert api.cancel(run.id).state == S.RUNNING  # the engine records how the run ended
    op = api.wait(run.id, timeout_s=30)
    done = platform.wait(run.id)
    states = {n: s.state for n, s in done.steps.items()}
    assert states == {"s0": "succeeded", "s1": "canceled", "s2": "skipped", "s3": "skipped"}
    assert done.progress == op.progress == pytest.approx((1 + 0.5) / 4)
    assert (op.state, op.done, op.error_code) == (S.CANCELED, True, "WORKFLOW_CANCELED")


def test_a_succeeded_run_reports_1(run_ops: tuple[Platform, Workflows, OperationsClient]) -> None:
    _, workflows, api = run_ops
    op = api.wait(workflows.start("chain", {}).id, timeout_s=30)
    assert (op.state, op.progress) == (S.SUCCEEDED, 1.0)
