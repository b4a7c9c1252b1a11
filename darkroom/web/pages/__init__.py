"""The web app a person uses in the browser (docs/web.md): server-rendered HTML (Jinja2 templates
in ``templates/``) made better by htmx where JavaScript runs, on the same domain calls and route
helpers as the ``/v1`` API, served by the same app (:func:`mount`).

- ``session_pages``: sign up, log in, log out (the API's cookie session and CSRF token).
- ``feed_page``: ``/``, the home feed (the login form when signed out); liking.
- ``new_posts``: ``/feed/new``, the feed's "new posts" bar, and the new posts it loads in.
- ``compose_page``: ``/compose``, a new post (``static/compose.js`` uploads through the API).
- ``post_page``: ``/p/{id}``, a post at its own URL (Open Graph tags), its comments, the comment box.
- ``stats_page``: ``/p/{id}/stats``, a post's views, likes and comments per day, for its author
  (``stats_views``; the analytics tables through ``WebDeps.stats``).
- ``profile_page``: ``/@{handle}``, a profile, its grid of posts, follow button, followers and following.
- ``tag_page``: ``/tags/{tag}``, a hashtag's posts; ``search_page``: ``/search``, accounts and
  hashtags as one types; ``requests_page``: ``/requests``, follow requests to accept or reject.
- ``settings_page``, ``blocked_page``, ``tokens_page``, ``account_pages``: ``/settings`` (profile,
  avatar, private account), ``/settings/blocked``, ``/settings/tokens``, ``/settings/export`` (the
  data as a zip) and ``/settings/delete``.
- ``ops_pages``: ``/ops/…``, the operator pages (queues, dead messages, workflows, health, the
  pipeline's SLA), and
  ``ops_actions`` what they do (pause, resume, redrive, cancel), for admins only (``ops_access``).
- ``static_files``: ``/static/{digest}/{name}``, the CSS and scripts (``assets.py``; the pinned
  third-party ones are copied into ``static/vendor/`` by ``make setup``).
- ``error_pages``: the app's errors as an HTML page to a browser (the problem's status and text).
- ``rendering``: every page through one Jinja2 environment with the security headers of
  ``security.py`` (a strict Content-Security-Policy); ``post_views`` and ``captions`` turn posts
  into what the templates show.
"""

from __future__ import annotations

from fastapi import FastAPI

from darkroom.web.pages import (
    account_pages,
    blocked_page,
    compose_page,
    error_pages,
    feed_page,
    new_posts,
    ops_actions,
    ops_pages,
    post_page,
    profile_page,
    requests_page,
    search_page,
    session_pages,
    settings_page,
    static_files,
    stats_page,
    tag_page,
    tokens_page,
)
from darkroom.web.pages.assets import Assets
from darkroom.web.pages.rendering import Pages

__all__ = ["mount"]


def mount(app: FastAPI, *, assets: Assets | None = None) -> None:
    """Serve the pages and their static files from ``app`` (``assets``: the package's ``static/``).
    :class:`~darkroom.web.pages.errors.AssetMissing` when a file every page needs is absent."""
    app.state.pages = Pages.load(assets)
    app.state.problem_page = error_pages.problem_page  # page requests' errors as HTML (error_pages.py)
    for router in (
        static_files.router,
        session_pages.router,
        feed_page.router,
        new_posts.router,
        compose_page.router,
        post_page.router,
        stats_page.router,
        profile_page.router,
        tag_page.router,
        search_page.router,
        requests_page.router,
        settings_page.router,
        blocked_page.router,
        tokens_page.router,
        account_pages.router,
        ops_pages.router,
        ops_actions.router,
    ):
        app.include_router(router)
