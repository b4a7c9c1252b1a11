"""The profile page, ``/@{handle}``: avatar, name, bio, counts, the follow button, the grid of
posts (12 a page, "More posts" continues), and ``/@{handle}/followers`` and ``/following``.

Every rule is the domain's, as for the API: the account through ``resources.load_accounts`` (an
account that blocks the viewer is a 404, like a missing one), its posts through
``profiles.list_account_posts`` and its lists through ``graph.list_followers``/``list_following``
(a private account's posts and lists are for itself, its active followers and admins: anyone else
gets the account card and "This account is private"), the posts hydrated through the post cache.
Following is ``graph.follow``/``unfollow`` from a form (CSRF, ``following=true|false``: see
``toggles``) that htmx posts and whose inside it swaps for the new button (``Follow``,
``Following``, ``Requested``); without JavaScript a ``303`` back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Account
from darkroom.api.fieldmask import Mask
from darkroom.social import accounts, graph, postcache, profiles, resources
from darkroom.social.errors import NotFound, SocialError
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.api.reads import domain_cursor, web_cursor
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps, WebDeps
from darkroom.web.pages.captions import profile_path
from darkroom.web.pages.post_page import POST_FIELDS, refused
from darkroom.web.pages.post_views import Photo, photo_of, post_view
from darkroom.web.pages.rendering import is_htmx, pages_of
from darkroom.web.pages.session_pages import see_other
from darkroom.web.pages.toggles import Asked, toggle
from darkroom.web.pagination import PageRequest

__all__ = [
    "ACCOUNT_FIELDS",
    "GRID_SIZE",
    "GRID_SIZES",
    "LIST_SIZE",
    "ProfileView",
    "load_profile",
    "profile_view",
    "profile_views",
    "router",
]

router = APIRouter(include_in_schema=False)
GRID_SIZE = 12
LIST_SIZE = 50
# three columns of the 600 px column (a third of the screen below 640 px: pages.css)
GRID_SIZES = "(max-width: 640px) 33vw, 200px"
ACCOUNT_FIELDS = Mask.parse(
    "id,handle,display_name,bio,private,follower_count,following_count,post_count,avatar,followed_by_me,"
    "requested_by_me,follows_me",
    Account.DESCRIPTOR,
    name="fields",
)


@dataclass(frozen=True, slots=True)
class ProfileView:
    """An account as its page shows it."""

    handle: str
    name: str
    bio: str
    private: bool
    href: str
    posts: int
    followers: int
    following: int
    avatar: Photo | None
    followed: bool
    requested: bool
    follows_me: bool
    is_me: bool


def profile_view(account: Account, viewer: Viewer | None) -> ProfileView:
    avatar = photo_of(account.avatar, f"@{account.handle}") if account.HasField("avatar") else None
    return ProfileView(
        handle=account.handle,
        name=account.display_name or account.handle,
        bio=account.bio,
        private=account.private,
        href=profile_path(account.handle),
        posts=account.post_count,
        followers=account.follower_count,
        following=account.following_count,
        avatar=avatar,
        followed=account.followed_by_me,
        requested=account.requested_by_me,
        follows_me=account.follows_me,
        is_me=viewer is not None and viewer.account_id == account.id,
    )


def load_profile(conn: sa.Connection, deps: WebDeps, viewer: Viewer | None, handle: str) -> ProfileView:
    """``handle``'s profile as ``viewer`` may see it; :class:`NotFound` as ``GET /v1/accounts/{handle}``."""
    row = accounts.get_account(conn, handle)
    found = resources.load_accounts(conn, [row.id], viewer, ACCOUNT_FIELDS, urls=deps.media_urls)
    if row.id not in found:
        raise NotFound(f"no account {handle!r}", field="handle")
    return profile_view(found[row.id], viewer)


def profile_views(
    conn: sa.Connection, deps: WebDeps, viewer: Viewer | None, account_ids: Sequence[str]
) -> list[ProfileView]:
    """The accounts of ``account_ids`` that ``viewer`` may see (not blocked), in that order."""
    shown = resources.load_accounts(conn, account_ids, viewer, ACCOUNT_FIELDS, urls=deps.media_urls)
    return [profile_view(shown[i], viewer) for i in account_ids if i in shown]


@router.get("/@{handle}")
def profile_page(
    request: Request, handle: str, deps: Deps, viewer: CurrentViewer, cursor: str | None = None
) -> Response:
    """The profile and a page of its posts (htmx with ``cursor``: the next page of the grid alone)."""
    try:
        list_name = f"posts:{handle.lower()}"
        inner = domain_cursor(deps, PageRequest(GRID_SIZE, cursor or None), list_name)
        with read_only(deps.engine).begin() as conn:
            profile = load_profile(conn, deps, viewer, handle)
            try:
                found = profiles.list_account_posts(conn, viewer, handle, inner, GRID_SIZE)
            except NotFound:  # a private account and a viewer who does not follow it
                posts, following, hidden = [], None, True
            else:
                posts = postcache.hydrate(conn, deps.redis, found.items, viewer, POST_FIELDS, urls=deps.media_urls)
                following, hidden = found.next_cursor, False
    except SocialError as exc:
        return refused(request, exc)
    next_cursor = web_cursor(deps, following, list_name)
    context = {
        "profile": profile,
        "posts": [post_view(p) for p in posts],
        "hidden": hidden,
        "sizes": GRID_SIZES,
        "next_href": None if next_cursor is None else f"{profile.href}?{urlencode({'cursor': next_cursor})}",
        "continued": cursor is not None,
    }
    pages = pages_of(request)
    if is_htmx(request) and cursor:
        return pages.render(request, "_grid_page.html", context)
    return pages.render(request, "profile.html", context)


def _people(
    request: Request, deps: WebDeps, viewer: Viewer | None, handle: str, *, kind: str, cursor: str | None
) -> Response:
    lister = graph.list_followers if kind == "followers" else graph.list_following
    try:
        list_name = f"{kind}:{handle.lower()}"  # the API's list names: its cursors and these are one kind
        inner = domain_cursor(deps, PageRequest(LIST_SIZE, cursor or None), list_name)
        with read_only(deps.engine).begin() as conn:
            profile = load_profile(conn, deps, viewer, handle)
            try:
                found = lister(conn, viewer, handle, inner, LIST_SIZE)
            except NotFound:
                people, following, hidden = [], None, True
            else:
                people = profile_views(conn, deps, viewer, [a.id for a in found.items])
                following, hidden = found.next_cursor, False
    except SocialError as exc:
        return refused(request, exc)
    next_cursor = web_cursor(deps, following, list_name)
    context = {
        "profile": profile,
        "kind": kind,
        "people": people,
        "hidden": hidden,
        "next_href": None if next_cursor is None else f"{profile.href}/{kind}?{urlencode({'cursor': next_cursor})}",
    }
    return pages_of(request).render(request, "people.html", context)


@router.get("/@{handle}/followers")
def followers_page(
    request: Request, handle: str, deps: Deps, viewer: CurrentViewer, cursor: str | None = None
) -> Response:
    return _people(request, deps, viewer, handle, kind="followers", cursor=cursor)


@router.get("/@{handle}/following")
def following_page(
    request: Request, handle: str, deps: Deps, viewer: CurrentViewer, cursor: str | None = None
) -> Response:
    return _people(request, deps, viewer, handle, kind="following", cursor=cursor)


def _follow(request: Request, deps: WebDeps, viewer: Viewer, handle: str, *, follow: bool) -> Response:
    try:
        with deps.engine.begin() as conn:
            if follow:
                graph.follow(conn, viewer, handle)
            else:
                graph.unfollow(conn, viewer, handle)
            profile = load_profile(conn, deps, viewer, handle)
    except SocialError as exc:
        return refused(request, exc)
    if not is_htmx(request):
        return see_other(profile.href)
    return pages_of(request).render(request, "_follow_controls.html", {"profile": profile}, cache=NO_STORE)


@router.post("/@{handle}/follow")
def follow(request: Request, handle: str, viewer: SignedIn, deps: Deps, following: Asked = "true") -> Response:
    """Follow or ask to (``following=true``), or unfollow and withdraw a request (``false``)."""
    return toggle(
        request, following, field="following", to=lambda on: _follow(request, deps, viewer, handle, follow=on)
    )
