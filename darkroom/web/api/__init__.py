"""The ``/v1`` JSON routes, one module per resource (accounts, sessions, posts, feed…), each with an
``APIRouter``. :data:`ROUTERS` is what ``create_app`` serves: add a module's router here."""

from __future__ import annotations

from fastapi import APIRouter

from darkroom.web.api import media, tus, uploads

__all__ = ["ROUTERS"]

# tus before uploads: /v1/uploads/tus is not an upload id
ROUTERS: list[APIRouter] = [tus.router, uploads.router, media.router]
