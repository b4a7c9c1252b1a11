"""Posts as the HTTP API shows them: pages hydrated through the post cache, their JSON, their
rendition URLs, and the ``post.viewed`` impressions of what was shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api.fieldmask import Mask
from darkroom.social import postcache
from darkroom.social.impressions import Surface
from darkroom.social.media import MediaUrls
from darkroom.social.viewer import Viewer
from darkroom.web.deps import WebDeps

__all__ = ["PageHydrator", "ShownPosts", "hydrate_page", "media_urls", "views"]


def media_urls(deps: WebDeps) -> MediaUrls:
    """Where renditions are fetched from: ``/v1/media/{key}``, signed and expiring for private
    accounts' media (``WebDeps.media_urls``)."""
    return deps.media_urls


@dataclass(frozen=True, slots=True)
class ShownPosts:
    """A page's posts as JSON (only the masked fields; memoized, ``WebDeps.post_json``) and the ids
    of the posts shown."""

    items: list[orjson.Fragment]
    post_ids: list[str]


def hydrate_page(
    deps: WebDeps, conn: sa.Connection, post_ids: Sequence[str], viewer: Viewer | None, mask: Mask
) -> ShownPosts:
    """``post_ids`` through the post cache (one MGET, at most two statements, viewer fields in one
    batch; what the viewer may not see left out), in order."""
    # ``id`` is read even when the mask leaves it out: the impressions name the posts shown
    posts = postcache.hydrate(conn, deps.redis, post_ids, viewer, mask.union("id"), urls=media_urls(deps))
    return ShownPosts([deps.post_json.fragment(p, mask) for p in posts], [p.id for p in posts])


class PageHydrator:
    """Hydration that doubles as a feed's visibility check (``read_feed(keep=…)``): each call
    hydrates candidates through the post cache and answers those the viewer may see, which
    :meth:`shown` then serves without another query."""

    def __init__(self, deps: WebDeps, conn: sa.Connection, viewer: Viewer | None, mask: Mask) -> None:
        self.deps, self.conn, self.viewer, self.mask = deps, conn, viewer, mask
        self._posts: dict[str, pb.Post] = {}

    def keep(self, post_ids: Sequence[str]) -> set[str]:
        """Of ``post_ids``, those the viewer may see now (hydrated and kept)."""
        found = postcache.hydrate(
            self.conn, self.deps.redis, post_ids, self.viewer, self.mask.union("id"), urls=media_urls(self.deps)
        )
        self._posts.update((p.id, p) for p in found)
        return {p.id for p in found}

    def shown(self, post_ids: Sequence[str]) -> ShownPosts:
        """The posts of ``post_ids`` the viewer may see, in that order: those :meth:`keep` hydrated
        already, the others now (a feed design that checks in its own query: ``sql_feed``)."""
        missing = [i for i in post_ids if i not in self._posts]
        if missing:
            self.keep(missing)
        ids = [i for i in dict.fromkeys(post_ids) if i in self._posts]
        json = self.deps.post_json
        return ShownPosts([json.fragment(self._posts[i], self.mask) for i in ids], ids)


def views(deps: WebDeps, viewer: Viewer | None, post_ids: Sequence[str], surface: Surface) -> None:
    """One ``post.viewed`` per post shown, published soon by the app's impression buffer
    (impressions.py: straight to the stream, off the request path)."""
    deps.impressions.add(viewer, post_ids, surface)
