"""The ``/v1`` JSON routes, one module per resource (accounts, sessions, posts, feed…), each with an
``APIRouter``. :data:`ROUTERS` is what ``create_app`` serves: add a module's router here."""

from __future__ import annotations

from fastapi import APIRouter

from darkroom.web.api import accounts, feed, graph, posts, reactions, search, sessions, tokens

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [
    accounts.router,
    sessions.router,
    tokens.router,
    graph.router,
    search.router,
    posts.router,
    reactions.router,
    feed.router,
]
