"""``/v1/posts``: create, read, edit the caption, delete (docs/social.md, "Post and feed routes").

- ``POST /v1/posts`` ``{"caption", "upload_ids"}``: 202 with the post ``processing`` (201 when every
  upload was ready already), ``Location`` ``/v1/posts/{id}``.
- ``GET /v1/posts/{id}?fields=``: the mask reaches the query (no author columns without
  ``author``, no media subquery without ``media``…): one statement for an anonymous reader, two
  signed in. Not through the post cache, which keeps whole posts: a single read is one primary-key
  query either way, and a cache miss there would load everything the mask left out.
- ``PATCH /v1/posts/{id}?update_mask=caption`` (AIP-134): the body is the Post; only ``caption`` is
  writable; ``If-Match`` with the post's ETag (any representation of the current version).
- ``DELETE /v1/posts/{id}``: 204; 404 from then on, everywhere.

Edits and deletes invalidate the post cache once they have committed.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Post
from darkroom.api.fieldmask import Mask
from darkroom.social import postcache, posts, resources
from darkroom.social.errors import NotFound
from darkroom.social.ids import check_id
from darkroom.social.impressions import Surface
from darkroom.social.posts import PostState
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.api.reads import answer, cache_for, check_version
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.bodies import UPDATE_MASK_PARAMETER, parse_resource, update_paths
from darkroom.web.caching import CONDITIONAL_RESPONSES
from darkroom.web.deps import Deps, WebDeps
from darkroom.web.fields import read_mask
from darkroom.web.openapi import resource
from darkroom.web.post_pages import media_urls, views

__all__ = ["WRITABLE", "NewPost", "caption_change", "router"]

router = APIRouter(prefix="/v1", tags=["posts"])
PostMask = Annotated[Mask, Depends(read_mask(Post.DESCRIPTOR))]
WRITABLE = ("caption",)
_POST = resource(Post.DESCRIPTOR, "the post (proto3 JSON; only the fields asked for)")


class NewPost(BaseModel):
    """A new post: its caption (up to 2,200 characters, #tags and @mentions parsed) and 1-10 of
    the author's uploads, in order."""

    model_config = ConfigDict(extra="forbid", strict=True)

    caption: str = ""
    upload_ids: list[str]


def _as_author(conn: sa.Connection, deps: WebDeps, viewer: Viewer, post_id: str) -> dict[str, Any]:
    """The whole post as the writer now sees it, read in the write's own transaction."""
    return resources.to_dict(resources.load_posts(conn, [post_id], viewer, urls=media_urls(deps))[post_id])


def _written(
    request: Request, viewer: Viewer, body: dict[str, Any], version: int, *, status: int = 200, location: str = ""
) -> Response:
    """A write's answer: the post and its new ETag (the write's own ``If-Match`` was checked
    against the version it changed)."""
    headers = {"Location": location} if location else None
    return answer(request, body, cache=cache_for(viewer), version=version, status=status, headers=headers)


@router.post(
    "/posts",
    status_code=202,
    responses={
        201: resource(Post.DESCRIPTOR, "created, already ready (every upload was)"),
        202: resource(Post.DESCRIPTOR, "created, processing"),
    },
    summary="Create a post from uploads",
)
def create_post(request: Request, body: NewPost, viewer: SignedIn, deps: Deps) -> Response:
    with deps.engine.begin() as conn:
        row = posts.create_post(conn, viewer, caption=body.caption, upload_ids=body.upload_ids)
        shown = _as_author(conn, deps, viewer, row.id)
    status = 201 if row.state is PostState.READY else 202
    return _written(request, viewer, shown, row.version, status=status, location=f"/v1/posts/{row.id}")


@router.get("/posts/{post_id}", responses={200: _POST, **CONDITIONAL_RESPONSES}, summary="Read a post")
def get_post(request: Request, post_id: str, viewer: CurrentViewer, deps: Deps, mask: PostMask) -> Response:
    post_id = check_id(post_id, field="post_id")
    with read_only(deps.engine).begin() as conn:
        records = resources.fetch_post_records(conn, [post_id], mask)
        # version and readiness now: finish_posts projects the message by the mask
        found = records.get(post_id)
        version, ready = (found.version, found.ready) if found else (0, False)
        shown = resources.finish_posts(conn, records.values(), viewer, mask, urls=media_urls(deps))
    if post_id not in shown:
        raise NotFound(f"no post {post_id}", field="post_id")
    views(deps, viewer, [post_id] if ready else [], Surface.POST)  # a 304 too
    return answer(request, deps.post_json.fragment(shown[post_id], mask), cache=cache_for(viewer), version=version)


def caption_change(body: dict[str, Any], update_mask: str | None) -> str:
    """The caption a PATCH asks for: ``body`` is a Post in proto3 JSON (an unknown field is a 400
    naming it; output-only fields are ignored), ``update_mask`` names only writable fields (``*``:
    all of them; others are a 400 naming them); a masked field absent from the body is cleared
    (AIP-134)."""
    post = parse_resource(body, Post)
    update_paths(update_mask, Post.DESCRIPTOR, WRITABLE)  # "caption" is the only one it can return
    return post.caption


@router.patch(
    "/posts/{post_id}",
    responses={200: _POST, 412: CONDITIONAL_RESPONSES[412]},
    summary="Edit a post's caption (update_mask=caption)",
)
def update_post(
    request: Request,
    post_id: str,
    *,
    viewer: SignedIn,
    deps: Deps,
    body: Annotated[
        dict[str, Any],
        Body(
            description="the Post (proto3 JSON); the fields update_mask names are written",
            openapi_examples={"caption": {"value": {"caption": "golden hour #sun"}}},
        ),
    ],
    update_mask: Annotated[
        str | None,
        Query(
            alias=UPDATE_MASK_PARAMETER,
            description="the fields to change (AIP-134); only `caption` is writable",
            openapi_examples={"caption": {"value": "caption"}},
        ),
    ] = None,
) -> Response:
    caption = caption_change(body, update_mask)
    with deps.engine.begin() as conn:
        row = posts.update_caption(conn, viewer, post_id, caption)
        check_version(request, row.version - 1)  # a stale If-Match rolls the edit back
        shown = _as_author(conn, deps, viewer, row.id)
    postcache.invalidate(deps.redis, [row.id])  # after the commit: a reader refilling sees the edit
    return _written(request, viewer, shown, row.version)


@router.delete("/posts/{post_id}", status_code=204, summary="Delete a post (its author or an admin)")
def delete_post(request: Request, post_id: str, viewer: SignedIn, deps: Deps) -> Response:
    with deps.engine.begin() as conn:
        posts.delete_post(conn, viewer, post_id)
        if "if-match" in request.headers:
            check_version(request, posts.load_post(conn, post_id).version - 1)
    postcache.invalidate(deps.redis, [post_id])
    return Response(status_code=204)
