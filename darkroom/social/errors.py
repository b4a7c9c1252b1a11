"""Errors of the social domain. Each names the offending value; ``field`` names the request field.

The HTTP edge (``darkroom.web``) and the gRPC service map them to statuses in one table each, by
class: the builtin each inherits gives the default (``LookupError`` → 404 / NOT_FOUND,
``ValueError`` → 400/422 / INVALID_ARGUMENT, ``PermissionError`` → 403 / PERMISSION_DENIED).
"""

from __future__ import annotations

from darkroom.errors import DarkroomError

__all__ = [
    "AccountDisabled",
    "AlreadyExists",
    "Blocked",
    "CacheUnreachable",
    "Forbidden",
    "InvalidInput",
    "LeaseLost",
    "LoginFailed",
    "LoginThrottled",
    "NotFound",
    "OffsetMismatch",
    "PreconditionFailed",
    "SocialError",
    "TooLarge",
    "Unauthorized",
    "UnsupportedMedia",
    "UploadExpired",
]


class SocialError(DarkroomError):
    """Base of the social domain's errors. ``code`` is the stable machine-readable name clients see
    (problem+json ``code``, gRPC ``darkroom-error-type``); ``field`` names the request field."""

    code = "social_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidInput(SocialError, ValueError):
    """A value breaks a rule (a handle's characters, a caption's length, a cursor, a mask…)."""

    code = "invalid_input"


class TooLarge(InvalidInput):
    """An upload is over its kind's size limit (HTTP 413); ``max_bytes`` is that limit."""

    code = "too_large"

    def __init__(self, message: str, *, max_bytes: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.max_bytes = max_bytes


class UnsupportedMedia(InvalidInput):
    """An upload's content is no photo or video this server takes (judged by its bytes, never its
    name; HTTP 415): the message names the person's file."""

    code = "unsupported_media"


class NotFound(SocialError, LookupError):
    """No such resource, or one the caller may not see: private data answers exactly like a missing
    row, so nothing is learned by guessing ids."""

    code = "not_found"


class UploadExpired(NotFound):
    """An unfinished resumable upload outlived its lifetime (tus ``expiration``: HTTP 410 Gone); its
    bytes are, or will soon be, deleted: the client starts a new upload."""

    code = "upload_expired"


class AlreadyExists(SocialError, ValueError):
    """A unique value is taken (a handle, an email)."""

    code = "already_exists"


class Unauthorized(SocialError, PermissionError):
    """The request needs a signed-in account (a session or a token), or its credentials are unknown,
    expired or revoked."""

    code = "unauthenticated"


class Forbidden(SocialError, PermissionError):
    """The caller is known but may not do this (a token without the ``write`` scope, someone else's
    post, a non-admin)."""

    code = "forbidden"


class Blocked(Forbidden):
    """One of the two accounts blocks the other."""

    code = "blocked"


class LoginFailed(Unauthorized):
    """Wrong handle/email or password (the message does not say which)."""

    code = "login_failed"


class LeaseLost(SocialError):
    """The events relay no longer holds its lease (it expired, and another relay took it): what it
    was about to publish is the new holder's to publish."""

    code = "lease_lost"


class LoginThrottled(SocialError, PermissionError):
    """Too many failed logins for this account or address; ``retry_after_s`` says when to try again."""

    code = "login_throttled"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AccountDisabled(Unauthorized):
    """The account was disabled by an admin."""

    code = "account_disabled"


class PreconditionFailed(SocialError):
    """An ``If-Match`` ETag (or gRPC ``etag``) no longer matches: the resource changed since it was read."""

    code = "precondition_failed"


class OffsetMismatch(SocialError):
    """A resumable upload's chunk starts elsewhere than where the upload stands (tus: 409 Conflict);
    ``expected_offset`` is where it stands: the client resumes from there."""

    code = "offset_mismatch"

    def __init__(self, message: str, *, expected_offset: int) -> None:
        super().__init__(message, field="offset")
        self.expected_offset = expected_offset


class CacheUnreachable(SocialError, ConnectionError):
    """Redis could not be told of a revocation (the credential cache): before the commit nothing
    was revoked (try again); after it, the message says how long a cached entry may still work."""

    code = "cache_unreachable"
