"""How the social gRPC service's RPCs are served: one generic handler over the servicer's methods.

Each call runs in one worker thread (identifying the caller and the call both read the database).
Its domain errors go out as statuses by :data:`~darkroom.social.statuses.SOCIAL_STATUSES`, with the
field the domain names (as HTTP does: ``limit``, ``caption``…) renamed to the request's
(``page_size``, ``post.caption``…); its etag goes out as initial metadata :data:`ETAG_KEY`. A body
that is not the request message is INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api.grpc_requests import Malformed, lenient
from darkroom.api.grpc_status import abort
from darkroom.social.errors import InvalidInput
from darkroom.social.statuses import SOCIAL_STATUSES
from darkroom.social.viewer import Viewer

__all__ = ["ETAG_KEY", "PAGING_FIELDS", "Answer", "Identify", "Impl", "method_handlers"]

ETAG_KEY = "etag"  # initial metadata of Get and Update replies
# The domain names fields as HTTP does; a gRPC caller is told the request field.
PAGING_FIELDS = {"limit": "page_size", "cursor": "page_token"}


@dataclass(frozen=True, slots=True)
class Answer:
    """An RPC's reply message and, for Get and Update, the resource's etag."""

    message: Message
    etag: str = ""


Impl = Callable[[Any, Viewer | None], Answer]  # an RPC: the request and the caller -> the answer
Identify = Callable[[Iterable[Any] | None], Viewer | None]  # the call's metadata -> the caller


def method_handlers(
    service: ServiceDescriptor, impls: Mapping[str, tuple[Impl, Mapping[str, str]]], identify: Identify
) -> grpc.GenericRpcHandler:
    """A generic handler serving every RPC of ``service``: ``impls`` maps each method's name to its
    implementation and to the renames from the domain's field names to the request's."""
    handlers = {}
    for method in service.methods:
        impl, fields = impls[method.name]
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _guarded(impl, fields, identify),
            request_deserializer=lenient(getattr(pb, method.input_type.name)),
            response_serializer=getattr(pb, method.output_type.name).SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _guarded(
    impl: Impl, fields: Mapping[str, str], identify: Identify
) -> Callable[[Message | Malformed, grpc.aio.ServicerContext], Any]:
    def call(request: Message, metadata: Any) -> Answer:
        return impl(request, identify(metadata))

    async def run(request: Message | Malformed, context: grpc.aio.ServicerContext) -> Message:
        try:
            if isinstance(request, Malformed):
                raise InvalidInput(f"request body is not a valid {request.type_name}")
            # one thread hop for the whole call: identifying the caller and the call read the database
            answer = await asyncio.to_thread(call, request, context.invocation_metadata())
        except Exception as exc:
            field = getattr(exc, "field", None)
            if isinstance(field, str) and field in fields:
                exc.field = fields[field]  # type: ignore[attr-defined]
            await abort(context, exc, SOCIAL_STATUSES)
        if answer.etag:
            await context.send_initial_metadata(((ETAG_KEY, answer.etag),))
        return answer.message

    return run
