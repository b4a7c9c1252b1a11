"""The social domain's error -> gRPC status table, which its service (``grpc_service``) and its
gRPC clients pass to ``darkroom.api.grpc_status``.

==============================================  ==========================================
``NotFound``                                    NOT_FOUND (also what a viewer may not see)
``InvalidInput``, the API's                     INVALID_ARGUMENT, the request field in the
``InvalidFieldMask`` and ``InvalidCursor``      trailing metadata ``darkroom-error-field``
``AlreadyExists``                               ALREADY_EXISTS
``Unauthorized`` (``LoginFailed``,              UNAUTHENTICATED: an unknown, expired or
``AccountDisabled``)                            revoked token, or none where one is needed
``Forbidden`` (``Blocked``)                     PERMISSION_DENIED
``PreconditionFailed``                          ABORTED: a stale ``etag``, as AIP-154 says
                                                (since 2021; FAILED_PRECONDITION before), or a
                                                concurrent write; read again, then retry
==============================================  ==========================================

Errors the service's calls cannot raise (``LoginThrottled``, ``TooLarge``, ``OffsetMismatch``:
login and uploads are HTTP's) are left out: a client could not rebuild them, as they carry more
than a message and a field.

A status without a Darkroom error type (from grpc itself, a proxy) becomes the nearest social
error (NOT_FOUND -> ``NotFound``, ABORTED -> ``PreconditionFailed``…), else ``SocialError``.
"""

from __future__ import annotations

import grpc

from darkroom.api.grpc_status import API_STATUSES
from darkroom.social.errors import (
    AccountDisabled,
    AlreadyExists,
    Blocked,
    Forbidden,
    InvalidInput,
    LoginFailed,
    NotFound,
    PreconditionFailed,
    SocialError,
    Unauthorized,
)

__all__ = ["SOCIAL_STATUSES"]

Code = grpc.StatusCode

SOCIAL_STATUSES = API_STATUSES.extend(
    codes={
        NotFound: Code.NOT_FOUND,
        InvalidInput: Code.INVALID_ARGUMENT,
        AlreadyExists: Code.ALREADY_EXISTS,
        Unauthorized: Code.UNAUTHENTICATED,
        Forbidden: Code.PERMISSION_DENIED,
        PreconditionFailed: Code.ABORTED,
    },
    errors=(SocialError, LoginFailed, AccountDisabled, Blocked),
    by_code={
        Code.NOT_FOUND: NotFound,
        Code.INVALID_ARGUMENT: InvalidInput,
        Code.OUT_OF_RANGE: InvalidInput,
        Code.ALREADY_EXISTS: AlreadyExists,
        Code.UNAUTHENTICATED: Unauthorized,
        Code.PERMISSION_DENIED: Forbidden,
        Code.ABORTED: PreconditionFailed,
        Code.FAILED_PRECONDITION: PreconditionFailed,
    },
    default=SocialError,
)
