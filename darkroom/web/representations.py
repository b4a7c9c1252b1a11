"""What the social reads answer besides their JSON: who may cache it, its ETag, 304s, and the
``If-Match`` rule of the writes that edit a versioned resource.

- **Cache-Control.** Every social read depends on who asks (visibility, viewer fields such as
  ``liked_by_me``, an author-only ``error``), so every answer carries ``Vary: Authorization,
  Cookie``; a signed-in viewer's is ``private, no-cache``, an anonymous reader's (the same for
  every anonymous reader) ``public, no-cache``. Always revalidated: a post deleted or made
  private must stop showing at once, which a ``max-age`` would defeat; the ETag makes the
  revalidation cheap on the wire.
- **ETags.** A list's tag is its bytes' digest (:meth:`ETag.for_content`): exact whatever changed
  (a caption, a count, a viewer field, a signed URL's window). A versioned resource's tag is
  ``"<version>-<digest of the bytes>"`` (:func:`versioned_etag`): as exact for ``If-None-Match``,
  and its first part says which version of the resource the representation shows, so a client
  may send any representation's tag back in ``If-Match``.
- **If-Match** on a write (:func:`check_applied`): checked *after* the domain function ran inside
  the write transaction, against the version the change was applied to (read under the domain's
  row lock); a stale tag raises :class:`PreconditionFailed`, which rolls the transaction back. So
  the domain's own refusals (404 for a post the caller may not see, 403, 400) come first and a
  412 never tells a stranger that a hidden post exists.
"""

from __future__ import annotations

from fastapi import Request
from starlette.background import BackgroundTask
from starlette.responses import Response

from darkroom.api.etags import ETag, parse
from darkroom.social.errors import PreconditionFailed
from darkroom.social.viewer import Viewer
from darkroom.web.caching import PRIVATE_REVALIDATE, PUBLIC_REVALIDATE, CachePolicy, not_modified

__all__ = ["VARY", "check_applied", "conditional", "policy_for", "versioned_etag"]

VARY = {"Vary": "Authorization, Cookie"}


def policy_for(viewer: Viewer | None) -> CachePolicy:
    """``private, no-cache`` for a signed-in viewer, ``public, no-cache`` for an anonymous reader."""
    return PRIVATE_REVALIDATE if viewer is not None else PUBLIC_REVALIDATE


def versioned_etag(version: int, body: bytes) -> ETag:
    """The tag of a representation of version ``version`` of a resource whose JSON is ``body``."""
    return ETag(f"{version}-{ETag.for_content(body).opaque}")


def conditional(
    request: Request,
    response: Response,
    *,
    policy: CachePolicy,
    etag: ETag | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    """``response`` (rendered, with ``Cache-Control``) tagged with ``etag`` (default: its bytes'
    digest) and ``Vary``; a 304 instead when ``If-None-Match`` names the tag. ``background`` runs
    after either is sent."""
    tag = etag if etag is not None else ETag.for_content(bytes(response.body))
    hit = not_modified(request, tag, cache=policy)
    answer = response if hit is None else hit
    answer.headers["ETag"] = str(tag)
    answer.headers.update(VARY)
    answer.background = background
    return answer


def check_applied(request: Request, version: int) -> None:
    """For a write that changed version ``version`` of a resource: :class:`PreconditionFailed`
    (412) when the request's ``If-Match`` names neither ``*`` nor a strong tag of that version."""
    header = request.headers.get("if-match")
    if header is None:
        return
    wanted = parse(header, header="If-Match")
    prefix = f"{version}-"
    if wanted.any or any(not t.weak and t.opaque.startswith(prefix) for t in wanted.tags):
        return
    raise PreconditionFailed(
        f"If-Match {header!r} does not name the current version ({version}): read it again and retry",
        field="If-Match",
    )
