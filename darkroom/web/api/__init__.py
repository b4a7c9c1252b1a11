"""The ``/v1`` JSON routes, one module per resource (accounts, sessions, posts, feed…), each with an
``APIRouter``. :data:`ROUTERS` is what ``create_app`` serves: add a module's router here."""

from __future__ import annotations

from fastapi import APIRouter

from darkroom.web.api import (
    accounts,
    export,
    feed,
    graph,
    media,
    posts,
    reactions,
    search,
    sessions,
    tokens,
    tus,
    uploads,
)

__all__ = ["ROUTERS"]

# tus before uploads: /v1/uploads/tus is not an upload id
ROUTERS: list[APIRouter] = [
    export.router, accounts.router, sessions.router, tokens.router, graph.router, search.router,
    tus.router, uploads.router, media.router,
    posts.router, reactions.router, feed.router,
]  # fmt: skip
