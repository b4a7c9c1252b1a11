"""The queue's error -> gRPC status table, which its service and its gRPC clients pass to
``darkroom.api.grpc_status``.

==============================================  ==========================================
``QueueNotFound``, ``MessageNotFound``          NOT_FOUND
``InvalidArgument`` and subclasses              INVALID_ARGUMENT
``PayloadTooLarge``                             INVALID_ARGUMENT: the queue's limit is part of
                                                its contract and the same request never
                                                succeeds; RESOURCE_EXHAUSTED is kept for quotas
                                                and rate limits, which a retry may pass
``Conflict``                                    FAILED_PRECONDITION (the message is in the
                                                wrong state); ALREADY_EXISTS where the call
                                                means "exists with other content" (Enqueue,
                                                CreateQueue: :data:`QUEUE_STATUSES_ON_CREATE`)
``LeaseLost``                                   FAILED_PRECONDITION
``QueueDamaged``                                DATA_LOSS (a queue key is not what the queue
                                                wrote; nothing was changed)
``Unavailable``                                 UNAVAILABLE
==============================================  ==========================================

A status without a Darkroom error type (from grpc itself, a proxy) becomes the nearest queue
error (UNAVAILABLE -> ``Unavailable``, FAILED_PRECONDITION -> ``Conflict``…), else ``QueueError``.
"""

from __future__ import annotations

import grpc

from darkroom.api.grpc_status import API_STATUSES
from darkroom.queue.errors import (
    Conflict,
    InvalidArgument,
    InvalidCriteria,
    InvalidMessage,
    InvalidNamespace,
    LeaseLost,
    MessageNotFound,
    PayloadTooLarge,
    QueueDamaged,
    QueueError,
    QueueNotFound,
    Unavailable,
)

__all__ = ["QUEUE_STATUSES", "QUEUE_STATUSES_ON_CREATE"]

Code = grpc.StatusCode

QUEUE_STATUSES = API_STATUSES.extend(
    codes={
        Unavailable: Code.UNAVAILABLE,
        QueueNotFound: Code.NOT_FOUND,
        MessageNotFound: Code.NOT_FOUND,
        PayloadTooLarge: Code.INVALID_ARGUMENT,
        InvalidArgument: Code.INVALID_ARGUMENT,
        Conflict: Code.FAILED_PRECONDITION,
        LeaseLost: Code.FAILED_PRECONDITION,
        QueueDamaged: Code.DATA_LOSS,
    },
    errors=(InvalidCriteria, InvalidMessage, InvalidNamespace),
    by_code={
        Code.UNAVAILABLE: Unavailable,
        Code.DEADLINE_EXCEEDED: Unavailable,
        Code.INVALID_ARGUMENT: InvalidArgument,
        Code.OUT_OF_RANGE: InvalidArgument,
        Code.RESOURCE_EXHAUSTED: InvalidArgument,
        Code.NOT_FOUND: QueueError,
        Code.ALREADY_EXISTS: Conflict,
        Code.FAILED_PRECONDITION: Conflict,
        Code.ABORTED: Conflict,
        Code.DATA_LOSS: QueueDamaged,
    },
    default=QueueError,
)
# CreateQueue and Enqueue: a Conflict means "exists with other content".
QUEUE_STATUSES_ON_CREATE = QUEUE_STATUSES.extend(codes={Conflict: Code.ALREADY_EXISTS})
