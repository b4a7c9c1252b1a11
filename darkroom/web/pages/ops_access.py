"""Who may reach ``/ops``: admins only. To anyone else every ``/ops`` route, read or action,
answers exactly what a path that does not exist answers (the app's 404, HTML to a browser), so
nothing tells a non-admin that the pages exist.

The check runs in the route class (:class:`AdminRoute`), before the route's dependencies: the
app-wide CSRF check is one of them, and a non-admin's post without a token must not get its 403
where a missing path gets a 404."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response

from darkroom.social.viewer import Viewer
from darkroom.web.auth import auth_of

__all__ = ["Admin", "AdminRoute"]


def _admin_or_missing(request: Request) -> Viewer:
    viewer = auth_of(request).viewer
    if viewer is None or not viewer.admin:
        # what the router raises for a path it does not know: the same answer (a 403 would tell)
        raise HTTPException(404)
    return viewer


class AdminRoute(APIRoute):
    """A route answering non-admins as a missing path, before anything else it depends on."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def admins_only(request: Request) -> Response:
            _admin_or_missing(request)
            return await handler(request)

        return admins_only


async def _admin(request: Request) -> Viewer:
    return _admin_or_missing(request)


Admin = Annotated[Viewer, Depends(_admin)]
