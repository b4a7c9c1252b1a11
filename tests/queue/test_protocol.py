"""The contract is written once (``darkroom.queue.protocol``); every client takes the same
parameters for every operation — names, kinds and defaults — and the sync ones block while the
async ones are coroutines. What each operation does is the contract suite's (``q``) business."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import darkroom.queue as dq
from darkroom.queue.core import Core
from darkroom.queue.grpc_client import AsyncGrpcQueue, GrpcQueue
from darkroom.queue.grpc_requests import Requests
from darkroom.queue.protocol import OPERATIONS
from darkroom.queue.testing import MemoryQueue

SYNC = [dq.RedisQueue, GrpcQueue, MemoryQueue]
ASYNC = [dq.AsyncRedisQueue, AsyncGrpcQueue]
BUILDERS = [Core, Requests]  # the operations without I/O that the Redis and gRPC clients send
EVERY = [*SYNC, *ASYNC, *BUILDERS]


def shape(function: Any) -> list[tuple[str, inspect._ParameterKind, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_the_operations_are_the_protocol_s_methods() -> None:
    ours = {n for n, v in vars(dq.Queue).items() if inspect.isfunction(v) and not n.startswith("_")}
    assert ours == {*OPERATIONS, "close"}
    theirs = {n for n, v in vars(dq.AsyncQueue).items() if inspect.isfunction(v) and not n.startswith("_")}
    assert theirs == ours


@pytest.mark.parametrize("name", OPERATIONS)
def test_async_protocol_matches_the_sync_one(name: str) -> None:
    assert shape(getattr(dq.AsyncQueue, name)) == shape(getattr(dq.Queue, name))
    assert inspect.iscoroutinefunction(getattr(dq.AsyncQueue, name))


@pytest.mark.parametrize("cls", EVERY, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", OPERATIONS)
def test_every_client_takes_the_protocol_s_parameters(cls: type, name: str) -> None:
    assert shape(getattr(cls, name)) == shape(getattr(dq.Queue, name)), f"{cls.__name__}.{name}"


@pytest.mark.parametrize("cls", [*SYNC, *ASYNC], ids=lambda c: c.__name__)
def test_sync_clients_block_and_async_ones_are_coroutines(cls: type) -> None:
    for name in (*OPERATIONS, "close"):
        assert inspect.iscoroutinefunction(getattr(cls, name)) == (cls in ASYNC), f"{cls.__name__}.{name}"
    assert issubclass(cls, dq.AsyncQueue if cls in ASYNC else dq.Queue)


# -- connect: every option reaches the transport that takes it, or is refused naming it ------------
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("api_key", "k"),
        ("root_cert", b"pem"),
        ("server_name", "queue.example"),
        ("timeout_s", 5.0),
        ("max_message_bytes", 1 << 20),
        ("insecure", True),
    ],
)
@pytest.mark.parametrize("connect", [dq.connect, dq.connect_async])
def test_a_grpc_option_for_redis_is_refused_naming_it(connect: Any, option: str, value: Any) -> None:
    with pytest.raises(dq.UnsupportedOption, match=option) as err:
        connect("redis://127.0.0.1:1/0", **{option: value})
    assert err.value.field == option
    assert isinstance(err.value, dq.InvalidArgument)


@pytest.mark.parametrize(("option", "value"), [("namespace", "other"), ("observer", object())])
@pytest.mark.parametrize("connect", [dq.connect, dq.connect_async])
def test_a_redis_option_for_grpc_is_refused_naming_it(connect: Any, option: str, value: Any) -> None:
    with pytest.raises(dq.UnsupportedOption, match=option) as err:
        connect("grpc://127.0.0.1:1", **{option: value})
    assert err.value.field == option


def test_limits_and_grpc_options_reach_the_grpc_client() -> None:
    limits = dq.Limits(max_batch=7)
    with dq.connect("grpc://127.0.0.1:1", limits=limits, timeout_s=3.0) as client:
        assert isinstance(client, GrpcQueue)
        assert client.limits is limits and client.timeout_s == 3.0
        with pytest.raises(dq.InvalidArgument, match="limit is 7"):
            client.enqueue_many("q", [dq.NewMessage()] * 8)


def test_namespace_and_limits_reach_the_redis_client() -> None:
    limits = dq.Limits(max_batch=7)
    with dq.connect("redis://127.0.0.1:1/0", namespace="ns1", limits=limits) as client:
        assert isinstance(client, dq.RedisQueue)
        assert (client.namespace, client.limits) == ("ns1", limits)
