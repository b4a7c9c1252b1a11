"""Operations over gRPC: the ``darkroom.operations.v1.Operations`` service and a blocking client.

- :class:`OperationsServicer` serves an :class:`OperationStore` on a grpc.aio server; mount it
  with :func:`add_to_server` next to other services (auth is the server's interceptors' job, e.g.
  ``darkroom.api.auth.BearerAuth``). Database calls run in threads, so the event loop never
  blocks, including during ``WaitOperation``.
- Read masks go through ``darkroom.api.fieldmask``; errors through ``darkroom.api.grpc_status``
  with this service's table, :data:`OPERATION_STATUSES` (a malformed request body is
  INVALID_ARGUMENT, never INTERNAL). A client receiving a status without a Darkroom error type
  raises an operations error (INVALID_ARGUMENT, NOT_FOUND) or an API one, never a queue error.
- :class:`OperationsClient` returns the same :class:`Operation` and raises the same typed errors
  as the store. Fields left out by a read mask hold their empty values (``""``, ``0``, ``None``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Protocol, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from darkroom._proto.darkroom.operations.v1 import operations_pb2 as pb
from darkroom._proto.darkroom.operations.v1 import operations_pb2_grpc as pb_grpc
from darkroom.api import fieldmask
from darkroom.api.grpc_requests import Malformed, lenient
from darkroom.api.grpc_status import API_STATUSES, abort, error_from_rpc
from darkroom.api.timestamps import duration_from_s, seconds_of_duration, seconds_of_timestamp, timestamp_from_s
from darkroom.api.transport import channel_options, check_bearer_transport
from darkroom.runtime.errors import InvalidOperation, OperationNotFound, RuntimeLayerError
from darkroom.runtime.operations import Operation, OperationState, OperationStore

__all__ = [
    "DEFAULT_MAX_WAIT_S",
    "OPERATION_STATUSES",
    "SERVICE_NAME",
    "OperationsClient",
    "OperationsServicer",
    "add_to_server",
    "operation_from_pb",
    "operation_to_pb",
]

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Operations"].full_name
DEFAULT_MAX_WAIT_S = 60.0
_ALWAYS_READ = ("id", "state", "done")  # a narrow mask must still tell a poller when it is over
_DEFAULT_PAGE_SIZE = 50
_DEADLINE_MARGIN_S = 0.5  # a wait ends this long before the call's deadline (the last poll, the reply)

# The service's errors -> statuses: their builtin bases already pick NOT_FOUND / INVALID_ARGUMENT;
# clients rebuild them by name, and a bare status as the nearest operations (or API) error.
OPERATION_STATUSES = API_STATUSES.extend(
    errors=(RuntimeLayerError, OperationNotFound, InvalidOperation),
    by_code={
        grpc.StatusCode.INVALID_ARGUMENT: InvalidOperation,
        grpc.StatusCode.OUT_OF_RANGE: InvalidOperation,
        grpc.StatusCode.NOT_FOUND: OperationNotFound,
    },
)


# -- wire mapping ----------------------------------------------------------------------------------
def _state_to_pb(state: OperationState) -> pb.State.ValueType:
    return pb.State.Value("STATE_" + state.name)


def _state_from_pb(value: int) -> OperationState | None:
    """None for STATE_UNSPECIFIED ("any" in a filter)."""
    if value == pb.STATE_UNSPECIFIED:
        return None
    try:
        return OperationState[pb.State.Name(value).removeprefix("STATE_")]  # type: ignore[arg-type]
    except (ValueError, KeyError):
        raise InvalidOperation(f"state {value!r} is not a known operation state") from None


def operation_to_pb(op: Operation) -> pb.Operation:
    out = pb.Operation(
        id=op.id,
        kind=op.kind,
        state=_state_to_pb(op.state),
        done=op.done,
        progress=op.progress,
        message=op.message,
        labels=op.labels,
        create_time=timestamp_from_s(op.created_at, "create_time"),
        update_time=timestamp_from_s(op.updated_at, "update_time"),
    )
    if op.target is not None:
        out.target = op.target
    if op.result is not None:
        json_format.ParseDict(op.result, out.result)
    if op.error_code is not None or op.error_message is not None:
        out.error.code = op.error_code or ""
        out.error.message = op.error_message or ""
    return out


def operation_from_pb(msg: pb.Operation) -> Operation:
    error = msg.error if msg.HasField("error") else None
    return Operation(
        id=msg.id,
        kind=msg.kind,
        target=msg.target if msg.HasField("target") else None,
        state=_state_from_pb(msg.state) or OperationState.RUNNING,
        done=msg.done,
        progress=msg.progress,
        message=msg.message,
        result=json_format.MessageToDict(msg.result) if msg.HasField("result") else None,
        error_code=error.code or None if error else None,
        error_message=error.message or None if error else None,
        labels=dict(msg.labels),
        created_at=seconds_of_timestamp(msg.create_time, "create_time"),
        updated_at=seconds_of_timestamp(msg.update_time, "update_time"),
    )


def _read_mask(mask: fieldmask.MaskLike) -> fieldmask.Mask:
    return fieldmask.parse(mask, pb.Operation.DESCRIPTOR, name="read_mask")


def _loads_result(mask: fieldmask.Mask) -> bool:
    fields = mask.top_level_fields()
    return fields is None or "result" in fields


def _shown(op: Operation, mask: fieldmask.Mask) -> pb.Operation:
    out = operation_to_pb(op)
    return out if mask.selects_all else mask.union(*_ALWAYS_READ).project(out)


class _ById(Protocol):
    """A request naming one operation (get, cancel, wait)."""

    @property
    def id(self) -> str: ...


def _id(request: _ById) -> str:
    if not request.id:
        raise InvalidOperation("id is required")
    return str(request.id)


# -- the service -----------------------------------------------------------------------------------
class OperationsServicer:
    """The RPCs of ``Operations`` over ``store``. ``max_wait_s`` caps ``WaitOperation``."""

    def __init__(self, store: OperationStore, *, max_wait_s: float = DEFAULT_MAX_WAIT_S) -> None:
        self.store = store
        self.max_wait_s = max_wait_s

    def handler(self) -> grpc.GenericRpcHandler:
        """A generic handler serving every RPC of the service."""
        impls: dict[str, Callable[..., Awaitable[Message]]] = {
            "GetOperation": self.get_operation,
            "ListOperations": self.list_operations,
            "CancelOperation": self.cancel_operation,
            "WaitOperation": self.wait_operation,
        }
        handlers = {}
        for method in pb.DESCRIPTOR.services_by_name["Operations"].methods:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                _guarded(impls[method.name]),
                request_deserializer=lenient(getattr(pb, method.input_type.name)),
                response_serializer=getattr(pb, method.output_type.name).SerializeToString,
            )
        return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)

    async def get_operation(self, r: pb.GetOperationRequest, context: grpc.aio.ServicerContext) -> pb.Operation:
        mask = _read_mask(r.read_mask)
        op = await asyncio.to_thread(self.store.get, _id(r), load_result=_loads_result(mask))
        return _shown(op, mask)

    async def list_operations(
        self, r: pb.ListOperationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOperationsResponse:
        mask = _read_mask(r.read_mask)
        ops, token = await asyncio.to_thread(
            self.store.list,
            state=_state_from_pb(r.state),
            kind=r.kind or None,
            target=r.target or None,
            labels=dict(r.labels),
            page_size=r.page_size if r.HasField("page_size") else _DEFAULT_PAGE_SIZE,
            page_token=r.page_token or None,
            load_result=_loads_result(mask),
        )
        return pb.ListOperationsResponse(operations=[_shown(op, mask) for op in ops], next_page_token=token or "")

    async def cancel_operation(self, r: pb.CancelOperationRequest, context: grpc.aio.ServicerContext) -> pb.Operation:
        return operation_to_pb(await asyncio.to_thread(self.store.cancel, _id(r)))

    async def wait_operation(self, r: pb.WaitOperationRequest, context: grpc.aio.ServicerContext) -> pb.Operation:
        mask = _read_mask(r.read_mask)
        timeout_s = self.max_wait_s
        if r.HasField("timeout"):
            asked = seconds_of_duration(r.timeout, "timeout")
            if asked < 0:
                raise InvalidOperation(f"timeout {asked}s must not be negative")
            timeout_s = min(asked, timeout_s)
        remaining = context.time_remaining()
        if remaining is not None:  # answer before the caller's deadline rather than fail it
            timeout_s = max(0.0, min(timeout_s, remaining - min(_DEADLINE_MARGIN_S, remaining / 4)))
        op = await self.store.wait_async(_id(r), timeout_s, load_result=_loads_result(mask))
        return _shown(op, mask)


def _guarded(
    impl: Callable[..., Awaitable[Message]],
) -> Callable[[Message | Malformed, grpc.aio.ServicerContext], Awaitable[Message]]:
    async def run(request: Message | Malformed, context: grpc.aio.ServicerContext) -> Message:
        if isinstance(request, Malformed):
            await abort(
                context, InvalidOperation(f"request body is not a valid {request.type_name}"), OPERATION_STATUSES
            )
        try:
            return await impl(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort(context, exc, OPERATION_STATUSES)

    return run


def add_to_server(server: grpc.aio.Server, store: OperationStore, *, max_wait_s: float = DEFAULT_MAX_WAIT_S) -> str:
    """Serve ``Operations`` on ``server`` (a ``grpc.aio.Server``, before it starts); returns the
    service name (the shape ``QueueServer(extra_services=...)`` expects)."""
    server.add_generic_rpc_handlers((OperationsServicer(store, max_wait_s=max_wait_s).handler(),))
    return SERVICE_NAME


_Reply = TypeVar("_Reply")


# -- the client ------------------------------------------------------------------------------------
class OperationsClient:
    """``Operations`` over one blocking channel (thread-safe).

    ``target``: ``host:port``, ``grpc://host:port`` or ``grpcs://host:port``. TLS with ``grpcs://``
    or when ``root_certs`` (a PEM file or its bytes) is given; otherwise plaintext, and then an
    ``api_key`` goes only to this machine unless ``insecure`` (else
    :class:`~darkroom.api.errors.InsecureTransport`).
    """

    def __init__(
        self,
        target: str,
        *,
        api_key: str | None = None,
        root_certs: str | Path | bytes | None = None,
        server_name: str | None = None,
        timeout_s: float = 30.0,
        insecure: bool = False,
    ) -> None:
        tls = target.startswith("grpcs://") or root_certs is not None
        address = target.split("://", 1)[-1]
        check_bearer_transport(address, tls=tls, has_key=bool(api_key), insecure=insecure)
        options: list[tuple[str, int | str]] = [*channel_options(address)]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        if tls:
            pem = root_certs if isinstance(root_certs, bytes | None) else Path(root_certs).read_bytes()
            credentials = grpc.ssl_channel_credentials(root_certificates=pem)
            self.channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        self.timeout_s = timeout_s
        self._stub = pb_grpc.OperationsStub(self.channel)
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {api_key}"),) if api_key else ()

    def _call(self, method: Callable[..., _Reply], request: Message, extra_s: float = 0.0) -> _Reply:
        try:
            return method(request, timeout=self.timeout_s + extra_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, OPERATION_STATUSES) from exc

    @staticmethod
    def _mask(read_mask: fieldmask.MaskLike) -> FieldMask | None:
        return _read_mask(read_mask).to_proto() if read_mask is not None else None

    def get(self, id: str, *, read_mask: fieldmask.MaskLike = None) -> Operation:
        request = pb.GetOperationRequest(id=id, read_mask=self._mask(read_mask))
        return operation_from_pb(self._call(self._stub.GetOperation, request))

    def list(
        self,
        *,
        state: OperationState | None = None,
        kind: str | None = None,
        target: str | None = None,
        labels: Mapping[str, str] | None = None,
        page_size: int = _DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
        read_mask: fieldmask.MaskLike = None,
    ) -> tuple[list[Operation], str | None]:
        """One page, newest first, and the next page's token (None on the last)."""
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not -(2**31) <= page_size < 2**31:
            raise InvalidOperation(f"page_size {page_size!r} must be from 1 to 1000")
        if state is not None and state not in OperationState.__members__.values():
            raise InvalidOperation(f"state {state!r} is not one of {', '.join(OperationState)}")
        request = pb.ListOperationsRequest(
            state=pb.STATE_UNSPECIFIED if state is None else _state_to_pb(OperationState(state)),
            kind=kind or "",
            target=target or "",
            labels=dict(labels or {}),
            page_size=page_size,
            page_token=page_token or "",
            read_mask=self._mask(read_mask),
        )
        reply = self._call(self._stub.ListOperations, request)
        return [operation_from_pb(op) for op in reply.operations], reply.next_page_token or None

    def cancel(self, id: str) -> Operation:
        return operation_from_pb(self._call(self._stub.CancelOperation, pb.CancelOperationRequest(id=id)))

    def wait(self, id: str, timeout_s: float, *, read_mask: fieldmask.MaskLike = None) -> Operation:
        """The operation once done, or as it is after ``timeout_s`` (the server caps long waits)."""
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not 0 <= timeout_s < 1e9:
            raise InvalidOperation(f"timeout_s {timeout_s!r} must be a number >= 0")
        request = pb.WaitOperationRequest(id=id, read_mask=self._mask(read_mask))
        request.timeout.CopyFrom(duration_from_s(timeout_s, "timeout_s"))
        return operation_from_pb(self._call(self._stub.WaitOperation, request, extra_s=timeout_s))

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> OperationsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
