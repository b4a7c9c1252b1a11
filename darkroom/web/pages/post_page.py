"""The post page, ``/p/{id}``: one post at its own shareable URL (Open Graph tags for link
previews), its comments oldest first (newest last, 20 a page, "More comments" continues) and a
comment box; deleting a comment its viewer may delete.

Reads and rules are the API's: the post through the post cache (``postcache.hydrate``, which
leaves out what the viewer may not see: a private account's post is a 404 to a non-follower, as
``GET /v1/posts/{id}``), the comments through ``reactions.list_comments`` with the API's signed
cursor of ``comments:<post id>``, one ``post.viewed`` on the ``post`` surface. Writes are
``reactions.add_comment`` and ``reactions.delete_comment``: forms with the session's CSRF token,
which htmx posts and swaps in place (the new comment appended, the count and an empty box swapped
out of band); without JavaScript each answers a ``303`` back to the page.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urljoin

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Post
from darkroom.api.fieldmask import Mask
from darkroom.social import postcache, reactions, resources
from darkroom.social.errors import NotFound, SocialError
from darkroom.social.ids import check_id
from darkroom.social.impressions import Surface
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.api.reads import domain_cursor, web_cursor
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps, WebDeps
from darkroom.web.pages.comment_views import COMMENT_FIELDS, comment_view, count_comments
from darkroom.web.pages.post_views import FEED_SIZES, post_view
from darkroom.web.pages.rendering import is_htmx, pages_of
from darkroom.web.pages.session_pages import see_other
from darkroom.web.pagination import PageRequest
from darkroom.web.post_pages import views
from darkroom.web.problems import HTTP_STATUSES

__all__ = ["COMMENTS_PER_PAGE", "POST_FIELDS", "post_path", "refused", "router"]

router = APIRouter(include_in_schema=False)
COMMENTS_PER_PAGE = 20
OG_DESCRIPTION_CHARS = 200
# the feed's fields, and the author's id: who may delete a comment
POST_FIELDS = Mask.parse(
    "id,author.id,author.handle,author.display_name,caption,media,like_count,comment_count,liked_by_me,tags,"
    "mentions,created_at",
    Post.DESCRIPTOR,
    name="fields",
)
CommentText = Annotated[str, Form()]


def post_path(post_id: str) -> str:
    """The page of ``post_id``."""
    return f"/p/{post_id}"


def refused(request: Request, exc: SocialError) -> Response:
    """The error page of a domain refusal, with the status the API answers for it."""
    status = HTTP_STATUSES.status(exc)
    context = {"title": "Not available" if status == 404 else "Refused", "message": str(exc)}
    return pages_of(request).render(request, "error.html", context, status=status, cache=NO_STORE)


def _comments(
    request: Request, deps: WebDeps, viewer: Viewer | None, post: Post, cursor: str | None
) -> dict[str, object]:
    """A page of the post's comments from ``cursor`` and the link to the next one."""
    list_name = f"comments:{post.id}"  # the API's list: its cursors and these are one kind
    inner = domain_cursor(deps, PageRequest(COMMENTS_PER_PAGE, cursor), list_name)
    with read_only(deps.engine).begin() as conn:
        try:
            found = reactions.list_comments(conn, viewer, post.id, inner, COMMENTS_PER_PAGE)
        except NotFound:  # a post its author sees while it is still processing: no comments yet
            return {"comments": [], "next_comments_href": None}
        shown = resources.comment_messages(conn, found.items, viewer, COMMENT_FIELDS, urls=deps.media_urls)
    following = web_cursor(deps, found.next_cursor, list_name)
    href = None if following is None else f"{post_path(post.id)}?{urlencode({'cursor': following})}"
    return {"comments": [comment_view(c, viewer, post.author.id) for c in shown], "next_comments_href": href}


def _og_description(caption: str) -> str:
    text = " ".join(caption.split())
    return text if len(text) <= OG_DESCRIPTION_CHARS else text[: OG_DESCRIPTION_CHARS - 1].rstrip() + "…"


@router.get("/p/{post_id}")
def post_page(request: Request, post_id: str, deps: Deps, viewer: CurrentViewer, cursor: str | None = None) -> Response:
    """The post and its comments; a 404 page for a post that is missing or hidden from ``viewer``.
    ``cursor``: the next page of comments (htmx gets them alone, appended in place)."""
    try:
        post_id = check_id(post_id, field="post_id")
        with read_only(deps.engine).begin() as conn:
            found = postcache.hydrate(conn, deps.redis, [post_id], viewer, POST_FIELDS, urls=deps.media_urls)
        if not found:
            raise NotFound(f"no post {post_id}", field="post_id")
        post = found[0]
        context = _comments(request, deps, viewer, post, cursor or None)
    except SocialError as exc:
        return refused(request, exc)
    pages = pages_of(request)
    if is_htmx(request) and cursor:
        return pages.render(request, "_comments_page.html", context)
    views(deps, viewer, [post_id], Surface.POST)
    shown = post_view(post)
    og_image = urljoin(str(request.base_url), shown.photo.src) if shown.photo else None
    context |= {
        "post": shown,
        "sizes": FEED_SIZES,
        "lazy": False,
        "og": {
            "title": f"{shown.author_name} (@{shown.author_handle}) on Darkroom",
            "description": _og_description(post.caption) or f"A post by @{shown.author_handle}",
            "url": urljoin(str(request.base_url), post_path(post_id)),
            "image": og_image,
        },
    }
    return pages.render(request, "post.html", context)


@router.post("/p/{post_id}/comments")
def add_comment(request: Request, post_id: str, text: CommentText, viewer: SignedIn, deps: Deps) -> Response:
    """Comment on the post: to htmx the new comment, the count and an empty box; else a 303."""
    try:
        post_id = check_id(post_id, field="post_id")
        with deps.engine.begin() as conn:
            row = reactions.add_comment(conn, viewer, post_id, text)
            (comment,) = resources.comment_messages(conn, [row], viewer, COMMENT_FIELDS, urls=deps.media_urls)
            count = count_comments(conn, post_id)
    except SocialError as exc:
        return refused(request, exc)
    if not is_htmx(request):
        return see_other(f"{post_path(post_id)}#comment-{row.id}")
    # the commenter may delete it (its author); the post author's id is not needed for that
    context = {"comment": comment_view(comment, viewer, ""), "post_id": post_id, "count": count}
    return pages_of(request).render(request, "_comment_added.html", context, cache=NO_STORE)


@router.post("/p/{post_id}/comments/{comment_id}/delete")
def delete_comment(request: Request, post_id: str, comment_id: str, viewer: SignedIn, deps: Deps) -> Response:
    """Delete a comment (its author, the post's author or an admin): to htmx the new count, the
    comment swapped for nothing; else a 303 back to the page."""
    try:
        post_id = check_id(post_id, field="post_id")
        with deps.engine.begin() as conn:
            reactions.delete_comment(conn, viewer, comment_id)
            count = count_comments(conn, post_id)
    except SocialError as exc:
        return refused(request, exc)
    if not is_htmx(request):
        return see_other(f"{post_path(post_id)}#comments")
    context = {"post_id": post_id, "count": count}
    return pages_of(request).render(request, "_comment_deleted.html", context, cache=NO_STORE)
