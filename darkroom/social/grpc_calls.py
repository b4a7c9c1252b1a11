"""What a call of the social gRPC service carries, checked: its bearer token, required fields,
``page_size``/``page_token`` (the domain's cursor signed and bound to its list) and ``etag``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from darkroom.api import etags
from darkroom.api.cursors import CursorCodec
from darkroom.api.errors import InvalidCursor
from darkroom.api.etags import ETag
from darkroom.social.errors import InvalidInput, Unauthorized
from darkroom.social.paging import MAX_LIMIT

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "STALE",
    "PageTokens",
    "bearer",
    "etag_of",
    "expected_version",
    "page_size",
    "required",
]

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = MAX_LIMIT
STALE = -1  # an expected version no row has: the domain then refuses after its own checks


def _etag(kind: str, resource_id: str, version: int) -> ETag:
    return ETag(ETag.for_version(kind, resource_id, version).opaque, weak=True)


def etag_of(kind: str, resource_id: str, version: int) -> str:
    """The etag of resource ``kind``/``resource_id`` at ``version``: weak (``W/"…"``), since
    replies with other masks or for other viewers differ in bytes while the resource is the same."""
    return str(_etag(kind, resource_id, version))


def required(value: str, field: str) -> str:
    if not value:
        raise InvalidInput(f"{field} is required", field=field)
    return value


def page_size(value: int) -> int:
    if value == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidInput(
            f"page_size {value} is not from 1 to {MAX_PAGE_SIZE} (0 for the default, {DEFAULT_PAGE_SIZE})",
            field="page_size",
        )
    return value


def expected_version(etag: str, kind: str, resource_id: str, version: int) -> int | None:
    """What the domain should expect: nothing without an etag, else ``version`` when ``etag`` is
    that version's (or ``*``), else a version no row has. A malformed etag is INVALID_ARGUMENT."""
    if not etag:
        return None
    current = _etag(kind, resource_id, version)
    return version if etags.parse(etag, header="etag").matches(current, strong=False) else STALE


def bearer(metadata: Iterable[Any] | None) -> str | None:
    """The token of the call's ``authorization: Bearer <token>``; None when there is none."""
    header: object = None
    for item in metadata or ():
        key, value = (item.key, item.value) if hasattr(item, "key") else item
        if key == "authorization":
            header = value
    if header is None:
        return None
    scheme, _, token = header.partition(" ") if isinstance(header, str) else ("", "", "")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("authorization must be 'Bearer <token>'", field="authorization")
    return token.strip()


class PageTokens:
    """Page tokens: the domain's cursor wrapped by ``CursorCodec`` (signed with ``secret``, bound
    to a list name such as ``followers:<handle>``)."""

    def __init__(self, secret: bytes) -> None:
        self.codec = CursorCodec(secret)

    def cursor(self, token: str, list_name: str) -> str | None:
        """The cursor in ``token`` (None for the first page); :class:`InvalidCursor` otherwise."""
        if not token:
            return None
        cursor = self.codec.decode(token, list_name=list_name).get("c")
        if not isinstance(cursor, str) or not cursor:
            raise InvalidCursor(f"page_token {token!r} holds no position", field="page_token")
        return cursor

    def token(self, cursor: str | None, list_name: str) -> str:
        """The page token of ``cursor`` ("" on the last page)."""
        return "" if cursor is None else self.codec.encode({"c": cursor}, list_name=list_name)
