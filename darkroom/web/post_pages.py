"""Posts as the HTTP API shows them: pages hydrated through the post cache, their JSON, their
rendition URLs, and the ``post.viewed`` impressions of what was shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from darkroom.api.fieldmask import Mask
from darkroom.social import postcache, resources
from darkroom.social.impressions import Surface
from darkroom.social.media import MediaUrls
from darkroom.social.viewer import Viewer
from darkroom.web.deps import WebDeps

__all__ = ["ShownPosts", "hydrate_page", "media_urls", "views"]


def media_urls(deps: WebDeps) -> MediaUrls:
    """Where renditions are fetched from: ``/v1/media/{key}``, signed and expiring for private
    accounts' media (``WebDeps.media_urls``)."""
    return deps.media_urls


@dataclass(frozen=True, slots=True)
class ShownPosts:
    """A page's posts as JSON objects (only the masked fields) and the ids of the posts shown."""

    items: list[dict[str, Any]]
    post_ids: list[str]


def hydrate_page(
    deps: WebDeps, conn: sa.Connection, post_ids: Sequence[str], viewer: Viewer | None, mask: Mask
) -> ShownPosts:
    """``post_ids`` through the post cache (one MGET, at most two statements, viewer fields in one
    batch; what the viewer may not see left out), in order."""
    # ``id`` is read even when the mask leaves it out: the impressions name the posts shown
    posts = postcache.hydrate(conn, deps.redis, post_ids, viewer, mask.union("id"), urls=media_urls(deps))
    return ShownPosts([resources.to_dict(p, mask) for p in posts], [p.id for p in posts])


def views(deps: WebDeps, viewer: Viewer | None, post_ids: Sequence[str], surface: Surface) -> None:
    """One ``post.viewed`` per post shown, published soon by the app's impression buffer
    (impressions.py: straight to the stream, off the request path)."""
    deps.impressions.add(viewer, post_ids, surface)
