"""The ``/v1`` JSON routes, one module per resource (accounts, sessions, posts, feed…), each with an
``APIRouter``. :data:`ROUTERS` is what ``create_app`` serves: add a module's router here."""

from __future__ import annotations

from fastapi import APIRouter

from darkroom.web.api import feed, posts, reactions

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [posts.router, reactions.router, feed.router]
