"""The HTTP app (FastAPI): :func:`~darkroom.web.app.create_app` over
:class:`~darkroom.web.deps.WebDeps`, the ``/v1`` routes in :mod:`darkroom.web.api`, the edge's
conventions (problem+json, auth and CSRF, rate limits, idempotency keys, caching, pages, read
masks) in one module each, and :func:`~darkroom.web.server.serve`. docs/social.md, "The HTTP API"."""

from __future__ import annotations

from darkroom.web.app import create_app
from darkroom.web.deps import Authenticator, HttpLimits, WebDeps
from darkroom.web.server import serve

__all__ = ["Authenticator", "HttpLimits", "WebDeps", "create_app", "serve"]
