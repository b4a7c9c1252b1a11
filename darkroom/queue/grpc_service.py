"""The queue's gRPC service: each RPC of ``QueueService`` mapped onto an ``AsyncRedisQueue``.

Requests are parsed leniently (a malformed body is INVALID_ARGUMENT, never INTERNAL), read masks
select the fields of returned messages, update masks the fields a patch changes, and errors map
to statuses by the queue's table (``queue.statuses``) only. :mod:`darkroom.queue.server` serves it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message as ProtoMessage

from darkroom._proto.darkroom.queue.v1 import queue_pb2 as pb
from darkroom.api import fieldmask
from darkroom.api.errors import InvalidFieldMask
from darkroom.api.grpc_requests import Malformed, lenient
from darkroom.api.grpc_status import abort
from darkroom.api.timestamps import duration_from_s, timestamp_from_s
from darkroom.queue.aio import AsyncRedisQueue
from darkroom.queue.errors import InvalidArgument
from darkroom.queue.models import Lease, Message, NewMessage, Outcome, Settlement
from darkroom.queue.statuses import QUEUE_STATUSES, QUEUE_STATUSES_ON_CREATE
from darkroom.queue.wire import (
    lease_to_pb,
    message_to_pb,
    optional_instant,
    optional_span,
    queue_to_pb,
    span,
    state_from_pb,
    stats_to_pb,
)

__all__ = ["SERVICE_NAME", "QueueService"]

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["QueueService"].full_name
_QUEUE_MUTABLE = ("lease_s", "max_attempts", "retention_s", "max_payload_bytes", "paused", "events_max")
_MESSAGE_MUTABLE = ("deadline", "metadata", "payload", "delay_s")
# A Conflict from these calls means "exists with other content", elsewhere "wrong state".
_EXISTS_ON_CONFLICT = {"CreateQueue", "Enqueue"}
_ALWAYS_READ = ("id", "queue")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _read_mask(mask: fieldmask.MaskLike) -> fieldmask.Mask:
    return fieldmask.parse(mask, pb.Message.DESCRIPTOR, name="read_mask")


def _shown(message: Message, mask: fieldmask.Mask) -> pb.Message:
    """``message`` on the wire with only the masked fields (plus ``id`` and ``queue``)."""
    out = message_to_pb(message)
    return out if mask.selects_all else mask.union(*_ALWAYS_READ).project(out)


def _whole_fields(mask: fieldmask.Mask, allowed: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The paths of an update mask, each a whole field of ``allowed``: the queue rewrites metadata
    as a whole, atomically (a per-key merge would not be), and a time is one value."""
    paths = mask.update_paths(allowed=allowed)
    for path in paths:
        if len(path) > 1:
            raise InvalidFieldMask(
                f"update_mask path {fieldmask.format_path(path)!r}: only whole fields can be updated "
                f"({', '.join(allowed)})",
                field="update_mask",
            )
    return paths


class QueueService:
    """The RPC implementations; each method is the snake_case name of its RPC."""

    def __init__(self, queue: AsyncRedisQueue) -> None:
        self.queue = queue

    def handler(self) -> grpc.GenericRpcHandler:
        """A generic handler serving every RPC of ``QueueService``."""
        service = pb.DESCRIPTOR.services_by_name["QueueService"]
        handlers = {}
        for method in service.methods:
            request_cls = getattr(pb, method.input_type.name)
            response_cls = getattr(pb, method.output_type.name)
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                self._guarded(method.name, getattr(self, _snake(method.name))),
                request_deserializer=lenient(request_cls),
                response_serializer=response_cls.SerializeToString,
            )
        return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)

    @staticmethod
    def _guarded(
        name: str, impl: Callable[..., Awaitable[ProtoMessage]]
    ) -> Callable[[ProtoMessage | Malformed, grpc.aio.ServicerContext], Awaitable[ProtoMessage]]:
        statuses = QUEUE_STATUSES_ON_CREATE if name in _EXISTS_ON_CONFLICT else QUEUE_STATUSES

        async def run(request: ProtoMessage | Malformed, context: grpc.aio.ServicerContext) -> ProtoMessage:
            if isinstance(request, Malformed):
                error = InvalidArgument(f"request body is not a valid {request.type_name}", field="request")
                await abort(context, error, QUEUE_STATUSES)
            try:
                return await impl(request)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await abort(context, exc, statuses)

        return run

    @staticmethod
    def _lease(ref: pb.LeaseRef) -> Lease:
        # the queue checks the names and the token before using them
        return Lease(queue=ref.queue, message=Message(id=ref.id, queue=ref.queue), token=ref.token, expires_at=0.0)

    def _failure(self, f: pb.Failure) -> Settlement:
        return Settlement.fail(self._lease(f.lease), f.error, retry=f.retry, retry_in_s=span(f, "retry_in_s"))

    async def _settle(self, settlements: list[Settlement]) -> pb.SettleResponse:
        out = pb.SettleResponse()
        for settled in await self.queue.settle(settlements):
            o = out.outcomes.add(lost=settled.outcome is Outcome.LOST)
            if settled.lateness_s is not None:  # a failure has no lateness
                o.lateness_s.CopyFrom(duration_from_s(settled.lateness_s, "lateness_s"))
        return out

    # -- queues ---------------------------------------------------------------------------------
    async def create_queue(self, r: pb.CreateQueueRequest) -> pb.Queue:
        # absent settings keep create_queue's defaults
        kwargs: dict[str, Any] = {}
        for field in r.DESCRIPTOR.fields:
            if field.has_presence and r.HasField(field.name):  # type: ignore[arg-type]
                kwargs[field.name] = getattr(r, field.name)
        for name in ("lease_s", "retention_s"):  # Durations -> seconds
            if name in kwargs:
                kwargs[name] = span(r, name)
        info = await self.queue.create_queue(r.name, indexed_keys=list(r.indexed_keys), **kwargs)
        return queue_to_pb(info)

    async def get_queue(self, r: pb.GetQueueRequest) -> pb.Queue:
        return queue_to_pb(await self.queue.get_queue(r.name))

    async def list_queues(self, r: pb.ListQueuesRequest) -> pb.ListQueuesResponse:
        return pb.ListQueuesResponse(queues=[queue_to_pb(i) for i in await self.queue.list_queues()])

    async def update_queue(self, r: pb.UpdateQueueRequest) -> pb.Queue:
        mask = fieldmask.parse(r.update_mask, pb.Queue.DESCRIPTOR, name="update_mask")
        paths = _whole_fields(mask, _QUEUE_MUTABLE)
        # a masked field absent from the body is "cleared": its zero value, which the queue validates
        body = r.queue
        kwargs: dict[str, Any] = {}
        for name, *_ in paths:
            kwargs[name] = span(body, name) if name in ("lease_s", "retention_s") else getattr(body, name)
        return queue_to_pb(await self.queue.update_queue(r.queue.name, **kwargs))

    async def delete_queue(self, r: pb.DeleteQueueRequest) -> pb.DeleteQueueResponse:
        return pb.DeleteQueueResponse(existed=await self.queue.delete_queue(r.name))

    # -- messages -------------------------------------------------------------------------------
    async def enqueue(self, r: pb.EnqueueRequest) -> pb.EnqueueResponse:
        batch = [
            NewMessage(
                payload=m.payload,
                deadline=optional_instant(m, "deadline"),
                metadata=dict(m.metadata),
                id=m.id if m.HasField("id") else None,
                delay_s=span(m, "delay_s"),
                max_attempts=m.max_attempts if m.HasField("max_attempts") else None,
            )
            for m in r.messages
        ]
        return pb.EnqueueResponse(ids=await self.queue.enqueue_many(r.queue, batch))

    async def dequeue(self, r: pb.DequeueRequest) -> pb.DequeueResponse:
        mask = _read_mask(r.read_mask)
        leases = await self.queue.dequeue(
            r.queue,
            max_messages=r.max_messages if r.HasField("max_messages") else 1,
            lease_s=optional_span(r, "lease_s"),
            where=dict(r.where),
            wait_s=span(r, "wait_s"),
            fields=mask.top_level_fields(),
        )
        return pb.DequeueResponse(leases=[lease_to_pb(ls, _shown(ls.message, mask)) for ls in leases])

    async def extend(self, r: pb.ExtendRequest) -> pb.ExtendResponse:
        lease = await self.queue.extend(self._lease(r.lease), optional_span(r, "lease_s"))
        return pb.ExtendResponse(expires_at=timestamp_from_s(lease.expires_at, "expires_at"))

    async def complete(self, r: pb.CompleteRequest) -> pb.SettleResponse:
        return await self._settle([Settlement.complete(self._lease(c.lease), c.result) for c in r.completions])

    async def fail(self, r: pb.FailRequest) -> pb.SettleResponse:
        return await self._settle([self._failure(f) for f in r.failures])

    async def settle(self, r: pb.SettleRequest) -> pb.SettleResponse:
        items: list[Settlement] = []
        for i, s in enumerate(r.settlements):
            if s.HasField("complete"):
                items.append(Settlement.complete(self._lease(s.complete.lease), s.complete.result))
            elif s.HasField("fail"):
                items.append(self._failure(s.fail))
            else:
                raise InvalidArgument(f"settlements[{i}] is neither complete nor fail", field="settlements")
        return await self._settle(items)

    async def cancel(self, r: pb.CancelRequest) -> pb.CancelResponse:
        return pb.CancelResponse(canceled=await self.queue.cancel(r.queue, r.id))

    async def redrive(self, r: pb.RedriveRequest) -> pb.RedriveResponse:
        await self.queue.redrive(r.queue, r.id)
        return pb.RedriveResponse()

    async def update_message(self, r: pb.UpdateMessageRequest) -> pb.UpdateMessageResponse:
        mask = fieldmask.parse(r.update_mask, pb.MessagePatch.DESCRIPTOR, name="update_mask")
        paths = _whole_fields(mask, _MESSAGE_MUTABLE)
        body = r.message
        values: dict[str, Callable[[], Any]] = {  # only masked fields are read (and checked)
            "deadline": lambda: optional_instant(body, "deadline"),
            "metadata": lambda: dict(body.metadata),
            "payload": lambda: body.payload,
            "delay_s": lambda: optional_span(body, "delay_s"),
        }
        await self.queue.update(r.queue, r.id, **{p[0]: values[p[0]]() for p in paths})
        return pb.UpdateMessageResponse()

    async def get_message(self, r: pb.GetMessageRequest) -> pb.Message:
        mask = _read_mask(r.read_mask)
        return _shown(await self.queue.get(r.queue, r.id, fields=mask.top_level_fields()), mask)

    async def query_messages(self, r: pb.QueryMessagesRequest) -> pb.QueryMessagesResponse:
        mask = _read_mask(r.read_mask)
        page = await self.queue.query(
            r.queue,
            state=state_from_pb(r.state),
            where=dict(r.where),
            limit=r.page_size if r.HasField("page_size") else 100,
            cursor=r.page_token or None,
            fields=mask.top_level_fields(),
        )
        return pb.QueryMessagesResponse(
            messages=[_shown(m, mask) for m in page.messages], next_page_token=page.next_cursor or ""
        )

    async def count_messages(self, r: pb.CountMessagesRequest) -> pb.CountMessagesResponse:
        return pb.CountMessagesResponse(count=await self.queue.count(r.queue, state_from_pb(r.state)))

    async def get_queue_stats(self, r: pb.GetQueueStatsRequest) -> pb.QueueStats:
        return stats_to_pb(await self.queue.stats(r.queue))

    async def sweep(self, r: pb.SweepRequest) -> pb.SweepResponse:
        result = await self.queue.sweep(
            r.queue,
            purge=r.purge if r.HasField("purge") else True,
            limit=r.limit if r.HasField("limit") else 1000,
        )
        out = pb.SweepResponse(moved=result.moved, purged=result.purged)
        if result.next_event_at is not None:
            out.next_event_at.CopyFrom(timestamp_from_s(result.next_event_at, "next_event_at"))
        return out
