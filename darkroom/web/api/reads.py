"""How the account, graph and search routes answer a read: accounts as their proto3 JSON mapping,
an ETag of the bytes, 304 on a matching ``If-None-Match``, the cache policy of who asked, and
lists whose cursors wrap the domain's keyset cursors in the app's signed codec.

- **ETag.** An account's is ``"<version>-<digest of the bytes>"`` (:func:`versioned_etag`): the
  digest makes it exact (the viewer fields come from the follow graph, the mask picks fields),
  and the version lets ``PATCH`` take the tag of any representation of the account in
  ``If-Match`` (:func:`check_version`). A list's or a search's is its bytes' digest. A gzip
  answer's tag ends in ``-gzip``, which ``web/compression.py`` takes off before a route sees it.
- **Caching.** Every answer depends on the credentials (viewer fields, blocks), so every one says
  ``Vary: Authorization, Cookie``; a signed-in reader's is ``private, no-cache``, an anonymous
  one's ``public, no-cache`` (the same for every anonymous reader, revalidated before each use).
- **Cursors.** The domain's cursor (``paging.py``, unsigned) goes inside ``deps.cursors`` (HMAC,
  bound to one list, e.g. ``followers:alice``), so a forged or foreign cursor is a 400 before any
  query runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import Depends, Request
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Account
from darkroom.api.errors import InvalidCursor
from darkroom.api.etags import ETag, parse
from darkroom.api.fieldmask import Mask
from darkroom.social import resources
from darkroom.social.errors import PreconditionFailed
from darkroom.social.paging import Page as DomainPage
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.caching import PRIVATE_REVALIDATE, PUBLIC_REVALIDATE, CachePolicy, not_modified
from darkroom.web.deps import WebDeps
from darkroom.web.fields import read_mask
from darkroom.web.pagination import PageRequest

__all__ = [
    "JSON",
    "PageReader",
    "AccountMask",
    "VARY_CREDENTIALS",
    "WHOLE_ACCOUNT",
    "account_dicts",
    "answer",
    "answer_page",
    "cache_for",
    "check_version",
    "domain_cursor",
    "read_page",
    "versioned_etag",
    "web_cursor",
]

JSON = "application/json"
VARY_CREDENTIALS = "Authorization, Cookie"
_DOMAIN_KEY = "k"  # the domain cursor's place inside the signed position

# one page of a list read from the domain: its items as JSON objects, and the domain's next cursor
PageReader = Callable[[sa.Connection, str | None], DomainPage[dict[str, object]]]

# ``fields=`` of a route answering accounts (on lists and search: per account)
AccountMask = Annotated[Mask, Depends(read_mask(Account.DESCRIPTOR))]
# every field: what writes answer
WHOLE_ACCOUNT = Mask.parse("", Account.DESCRIPTOR, name="fields")


def cache_for(viewer: Viewer | None) -> CachePolicy:
    """``public, no-cache`` for an anonymous reader, ``private, no-cache`` for a signed-in one."""
    return PUBLIC_REVALIDATE if viewer is None else PRIVATE_REVALIDATE


def account_dicts(
    conn: sa.Connection, account_ids: Sequence[str], viewer: Viewer | None, mask: Mask
) -> list[dict[str, object]]:
    """The accounts of ``account_ids`` the viewer may see, in that order, as proto3 JSON objects
    with only the masked fields (``resources.load_accounts``: the mask reaches the query)."""
    found = resources.load_accounts(conn, account_ids, viewer, mask)
    return [resources.to_dict(found[i], mask) for i in account_ids if i in found]


def versioned_etag(version: int, content: bytes) -> ETag:
    """The tag of a representation ``content`` of version ``version`` of a resource:
    ``"<version>-<digest>"``. The digest makes it exact for ``If-None-Match`` (viewer fields,
    masks); the version lets a write accept the tag of any representation of it in ``If-Match``."""
    return ETag(f"{version}-{ETag.for_content(content).opaque}")


def check_version(request: Request, version: int) -> None:
    """For a write to version ``version`` of a resource: :class:`PreconditionFailed` (412) unless
    ``If-Match`` is absent, ``*``, or names a strong tag of that version."""
    header = request.headers.get("if-match")
    if header is None:
        return
    wanted = parse(header, header="If-Match")
    if wanted.any or any(not tag.weak and tag.opaque.startswith(f"{version}-") for tag in wanted.tags):
        return
    raise PreconditionFailed(
        f"If-Match {header!r} does not name the current version ({version}): read it again, then retry",
        field="If-Match",
    )


def answer(
    request: Request,
    body: Mapping[str, Any] | orjson.Fragment,
    *,
    cache: CachePolicy,
    version: int | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``body`` (a JSON object, or its JSON already made: an :class:`orjson.Fragment`) as JSON with
    its ETag (:func:`versioned_etag` when the resource has a ``version``, else the bytes' digest),
    ``cache`` and ``Vary: Authorization, Cookie``; to a GET whose ``If-None-Match`` names the tag, a
    304 with the same headers and no body."""
    content = orjson.dumps(body)
    tag = ETag.for_content(content) if version is None else versioned_etag(version, content)
    extra = {"Vary": VARY_CREDENTIALS, **(headers or {})}
    if status == 200 and request.method in ("GET", "HEAD"):  # a write checks If-Match itself
        hit = not_modified(request, tag, cache=cache)
        if hit is not None:
            hit.headers.update(extra)
            return hit
    return Response(
        content, status_code=status, media_type=JSON, headers={"ETag": str(tag), "Cache-Control": str(cache), **extra}
    )


def answer_page(
    request: Request,
    items: Sequence[Mapping[str, Any] | orjson.Fragment],
    next_cursor: str | None,
    *,
    cache: CachePolicy,
) -> Response:
    """``{"items": …, "next_cursor": …}`` as :func:`answer` does, with ``Link: <…>; rel="next"``
    when there is a next page."""
    headers = {}
    if next_cursor is not None:
        headers["Link"] = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
    return answer(request, {"items": list(items), "next_cursor": next_cursor}, cache=cache, headers=headers)


def domain_cursor(deps: WebDeps, page: PageRequest, list_name: str) -> str | None:
    """The domain's cursor inside the request's ``cursor`` for ``list_name`` (None: the first
    page); :class:`~darkroom.api.errors.InvalidCursor` when the app did not issue it for that list."""
    position = page.position(deps.cursors, list_name)
    if position is None:
        return None
    inner = position.get(_DOMAIN_KEY)
    if not isinstance(inner, str):  # signed by this app, so only a change of format gets here
        raise InvalidCursor(f"cursor {page.cursor!r} holds no position of {list_name!r}", field="cursor")
    return inner


def web_cursor(deps: WebDeps, inner: str | None, list_name: str) -> str | None:
    """The cursor a client gets for the domain's next-page cursor ``inner`` of ``list_name``."""
    return None if inner is None else deps.cursors.encode({_DOMAIN_KEY: inner}, list_name=list_name)


def read_page(
    request: Request, deps: WebDeps, page: PageRequest, list_name: str, read: PageReader, *, cache: CachePolicy
) -> Response:
    """A list route's answer: the request's cursor for ``list_name`` unwrapped (before any query),
    ``read`` run from it in one read-only transaction, its items answered by :func:`answer_page`."""
    inner = domain_cursor(deps, page, list_name)
    with read_only(deps.engine).begin() as conn:
        found = read(conn, inner)
    return answer_page(request, found.items, web_cursor(deps, found.next_cursor, list_name), cache=cache)
