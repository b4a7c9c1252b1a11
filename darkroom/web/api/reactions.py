"""Likes and comments (docs/social.md, "Post and feed routes").

- ``PUT``/``DELETE /v1/posts/{id}/like``: 204, idempotent (a second PUT changes nothing and
  records no event).
- ``GET /v1/posts/{id}/likes``: who liked it, newest first; ``fields=`` per Like (``account`` is
  loaded only when selected).
- ``GET /v1/posts/{id}/comments``: oldest first; ``fields=`` per Comment (``author`` only when
  selected). ``POST`` ``{"text"}``: 201 with the comment.
- ``DELETE /v1/comments/{id}``: its author, the post's author or an admin; 204.

A post that is deleted, not ready or hidden from the caller is 404 on every one of them.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Comment, Like
from darkroom.api.fieldmask import Mask
from darkroom.social import reactions, resources
from darkroom.social.ids import check_id
from darkroom.social.paging import Page as DomainPage
from darkroom.web.api.reads import cache_for, read_page
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.caching import CONDITIONAL_RESPONSES, json_response
from darkroom.web.deps import Deps
from darkroom.web.fields import read_mask
from darkroom.web.openapi import page, resource
from darkroom.web.pagination import Page
from darkroom.web.post_pages import media_urls

__all__ = ["NewComment", "router"]

router = APIRouter(prefix="/v1", tags=["likes and comments"])
LikeMask = Annotated[Mask, Depends(read_mask(Like.DESCRIPTOR))]
CommentMask = Annotated[Mask, Depends(read_mask(Comment.DESCRIPTOR))]


class NewComment(BaseModel):
    """A comment: 1 to 1,000 characters, stored exactly as written (markup is text)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str


# -- likes ------------------------------------------------------------------------------------------
@router.put("/posts/{post_id}/like", status_code=204, summary="Like a post (idempotent)")
def like_post(post_id: str, viewer: SignedIn, deps: Deps) -> Response:
    with deps.engine.begin() as conn:
        reactions.like(conn, viewer, post_id)
    return Response(status_code=204)


@router.delete("/posts/{post_id}/like", status_code=204, summary="Take a like back (idempotent)")
def unlike_post(post_id: str, viewer: SignedIn, deps: Deps) -> Response:
    with deps.engine.begin() as conn:
        reactions.unlike(conn, viewer, post_id)
    return Response(status_code=204)


@router.get(
    "/posts/{post_id}/likes",
    responses={200: page(Like.DESCRIPTOR), **CONDITIONAL_RESPONSES},
    summary="Who liked a post, newest first",
)
def list_likes(
    request: Request, post_id: str, *, viewer: CurrentViewer, deps: Deps, page: Page, mask: LikeMask
) -> Response:
    post_id = check_id(post_id, field="post_id")

    def read(conn: sa.Connection, cursor: str | None) -> DomainPage[dict[str, object]]:
        found = reactions.list_likes(conn, viewer, post_id, cursor, page.limit)
        likes = resources.like_messages(conn, found.items, viewer, mask, urls=media_urls(deps))
        return DomainPage([resources.to_dict(like, mask) for like in likes], found.next_cursor)

    return read_page(request, deps, page, f"likes:{post_id}", read, cache=cache_for(viewer))


# -- comments ---------------------------------------------------------------------------------------
@router.get(
    "/posts/{post_id}/comments",
    responses={200: page(Comment.DESCRIPTOR), **CONDITIONAL_RESPONSES},
    summary="A post's comments, oldest first",
)
def list_comments(
    request: Request, post_id: str, *, viewer: CurrentViewer, deps: Deps, page: Page, mask: CommentMask
) -> Response:
    post_id = check_id(post_id, field="post_id")

    def read(conn: sa.Connection, cursor: str | None) -> DomainPage[dict[str, object]]:
        found = reactions.list_comments(conn, viewer, post_id, cursor, page.limit)
        comments = resources.comment_messages(conn, found.items, viewer, mask, urls=media_urls(deps))
        return DomainPage([resources.to_dict(comment, mask) for comment in comments], found.next_cursor)

    return read_page(request, deps, page, f"comments:{post_id}", read, cache=cache_for(viewer))


@router.post(
    "/posts/{post_id}/comments",
    status_code=201,
    responses={201: resource(Comment.DESCRIPTOR, "the comment")},
    summary="Comment on a post",
)
def add_comment(post_id: str, body: NewComment, viewer: SignedIn, deps: Deps) -> Response:
    with deps.engine.begin() as conn:
        row = reactions.add_comment(conn, viewer, post_id, body.text)
        (comment,) = resources.comment_messages(conn, [row], viewer, urls=media_urls(deps))
    return json_response(resources.to_dict(comment), status=201)


@router.delete("/comments/{comment_id}", status_code=204, summary="Delete a comment")
def delete_comment(comment_id: str, viewer: SignedIn, deps: Deps) -> Response:
    with deps.engine.begin() as conn:
        reactions.delete_comment(conn, viewer, comment_id)
    return Response(status_code=204)
