"""Every gRPC call measured and named: ``darkroom_grpc_requests_total{service,method,code}``,
``darkroom_grpc_request_duration_seconds{service,method}``, and a request id in the log context.

A ``grpc.aio`` server interceptor, the first of a server's, so it times the API-key check too and
the id is set before anything logs. Only methods the server serves are labelled: a call to an
unknown one gets no handler (grpc answers UNIMPLEMENTED) and is not counted, so no client can grow
the label sets. The code is the status the call ended with: OK, the one the handler aborted with,
CANCELLED, or UNKNOWN for an exception that escaped it.

The request id is the client's ``x-request-id`` metadata when it is well formed (1 to 64
characters of ``A-Z a-z 0-9 . _ -``, as over HTTP), else a new one; it is set in
:mod:`darkroom.log_context` for the call and echoed in the trailing metadata (an error's included:
the handler's context is wrapped so that its own trailing metadata and ``abort`` keep the id).
Initial metadata stays the handler's (a response's ETag goes there).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
import grpc.aio
from prometheus_client import CollectorRegistry, Counter, Histogram

from darkroom.log_context import log_context

__all__ = ["REQUEST_ID_KEY", "GrpcMetrics", "GrpcTelemetry", "request_id_of"]

REQUEST_ID_KEY = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
Metadata = Sequence[tuple[str, str | bytes]]


class GrpcMetrics:
    """The gRPC servers' series, on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "darkroom_grpc_requests",
            "gRPC calls answered, by service, method and status code",
            ["service", "method", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "darkroom_grpc_request_duration_seconds",
            "Time from a call's arrival to its end (a streamed response's last message included)",
            ["service", "method"],
            buckets=_BUCKETS,
            registry=registry,
        )

    def record(self, service: str, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.requests.labels(service, method, code.name).inc()
        self.duration.labels(service, method).observe(seconds)


def request_id_of(metadata: Metadata | None) -> str:
    """The client's ``x-request-id`` when well formed, else 32 new hex digits."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _REQUEST_ID.fullmatch(value):
            return value
    return os.urandom(16).hex()


class _Context:
    """The handler's view of its context: every call passes through, but trailing metadata (set
    or given to ``abort``) always carries the request id."""

    def __init__(self, context: grpc.aio.ServicerContext, request_id: str) -> None:
        self._context = context
        self._id = ((REQUEST_ID_KEY, request_id),)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def _with_id(self, metadata: Metadata) -> Metadata:
        return (*(m for m in metadata if m[0] != REQUEST_ID_KEY), *self._id)

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self._context.set_trailing_metadata(self._with_id(trailing_metadata))

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()) -> None:
        await self._context.abort(code, details, self._with_id(trailing_metadata))


def _code(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    if isinstance(error, asyncio.CancelledError | GeneratorExit):  # the client went away mid-stream
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if error is not None else grpc.StatusCode.OK


def _names(method: str) -> tuple[str, str]:
    service, _, name = method.lstrip("/").partition("/")
    return service, name


class GrpcTelemetry(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Records each call of a served method (``metrics`` None: only the request id) and sets its
    request id (module docstring)."""

    def __init__(self, metrics: GrpcMetrics | None = None) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        request_id = request_id_of(details.invocation_metadata)
        with log_context(request_id=request_id):  # the later interceptors (auth) log with it too
            handler = await continuation(details)
        if handler is None:
            return None
        service, method = _names(details.method)
        metrics = self.metrics

        def record(code: grpc.StatusCode, seconds: float) -> None:
            if metrics is not None:
                metrics.record(service, method, code, seconds)

        if handler.unary_unary or handler.stream_unary:
            inner = handler.unary_unary or handler.stream_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                start = time.perf_counter()
                error: BaseException | None = None
                context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
                try:
                    with log_context(request_id=request_id):
                        return await inner(request, _Context(context, request_id))
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    record(_code(context, error), time.perf_counter() - start)

            make = grpc.unary_unary_rpc_method_handler if handler.unary_unary else grpc.stream_unary_rpc_method_handler
            return make(unary, handler.request_deserializer, handler.response_serializer)

        inner_stream = handler.unary_stream or handler.stream_stream

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            start = time.perf_counter()
            error: BaseException | None = None
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
            try:
                with log_context(request_id=request_id):
                    answer = inner_stream(request, _Context(context, request_id))
                    if hasattr(answer, "__aiter__"):  # an async generator
                        async for response in answer:
                            yield response
                    else:  # a coroutine that writes through ``context.write`` (the health service's Watch)
                        await answer
            except BaseException as exc:
                error = exc
                raise
            finally:
                record(_code(context, error), time.perf_counter() - start)

        make_stream = (
            grpc.unary_stream_rpc_method_handler if handler.unary_stream else grpc.stream_stream_rpc_method_handler
        )
        return make_stream(streaming, handler.request_deserializer, handler.response_serializer)
