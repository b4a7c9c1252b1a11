"""The first thing every request meets: who is asking (``auth.identify``) and whether they may ask
now (``api.ratelimit``), in one trip to a worker thread (both block: the database, Redis).

Every request is charged to its address (the client's IP as the server sees it: run uvicorn with
``--forwarded-allow-ips`` behind a proxy) and, when signed in, to its account, in one Lua call:
a request refused by one quota is charged to none. Every response carries ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` of the tighter quota; a refusal is 429 with
``Retry-After``. A bad bearer token still costs its address a request (so guessing tokens is
rate limited too) before its 401.

Static files and media (``GET``/``HEAD`` of ``/static/…`` and ``/v1/media/…``) are asked of no
one: they are public or carry their own signature, so no credential is looked up, and they are
charged to a quota of their own per address (``HttpLimits.per_ip_assets``), not the API's: one
feed page is tens of images, a playing video a segment every few seconds, and neither should
spend the requests a person's clicks need.

The hottest reads (``GET /v1/feed``, ``GET /v1/posts/{id}``) are served by the edge itself, in the
same worker thread that admitted them, when it has a :class:`~darkroom.web.fast_lane.FastLane`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from darkroom.api.errors import RateLimited
from darkroom.api.problems import problem_for
from darkroom.api.ratelimit import Decision, Quota, RateLimiter
from darkroom.errors import DarkroomError
from darkroom.web.auth import ANONYMOUS, Auth, attach, identify
from darkroom.web.deps import Authenticator, HttpLimits
from darkroom.web.problems import HTTP_STATUSES
from darkroom.web.responses import problem_answer

if TYPE_CHECKING:  # the lane imports the routes, which import this module
    from darkroom.web.fast_lane import FastLane, LaneRoute

__all__ = ["ASSET_PREFIXES", "EdgeMiddleware", "client_address"]

ASSET_PREFIXES = ("/static/", "/v1/media/")
_READS = frozenset({"GET", "HEAD"})


def client_address(scope: Scope) -> str:
    """The client's address as the server sees it ("unknown" without one, e.g. a unix socket)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class EdgeMiddleware:
    """Identifies the caller and applies the rate limits (pure ASGI, so streaming passes through)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        limiter: RateLimiter,
        limits: HttpLimits,
        fast_lane: FastLane | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter
        self.limits = limits
        self.fast_lane = fast_lane

    def _admit_asset(self, address: str) -> tuple[Auth, Decision, DarkroomError | None]:
        return ANONYMOUS, self.limiter.hit([Quota("ip-assets", address, self.limits.per_ip_assets)]), None

    def _admit(self, headers: Headers, address: str) -> tuple[Auth, Decision, DarkroomError | None]:
        refused: DarkroomError | None = None
        try:
            auth = identify(self.authenticator, headers)
        except DarkroomError as exc:
            auth, refused = ANONYMOUS, exc
        quotas = [Quota("ip", address, self.limits.per_ip)]
        if auth.viewer is not None:
            quotas.append(Quota("account", auth.viewer.account_id, self.limits.per_account))
        return auth, self.limiter.hit(quotas), refused

    def _admit_and_serve(
        self, scope: Scope, route: LaneRoute
    ) -> tuple[Auth, Decision, DarkroomError | None, Response | None]:
        """:meth:`_admit`, then, when admitted, the fast lane's answer (None: it declined)."""
        auth, decision, refused = self._admit(Headers(scope=scope), client_address(scope))
        if refused is not None or not decision.admitted:
            return auth, decision, refused, None
        assert self.fast_lane is not None
        attach(scope.setdefault("state", {}), auth)
        return auth, decision, None, self.fast_lane.serve(route, scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        served: Response | None = None
        lane_route = self.fast_lane.route_for(scope) if self.fast_lane is not None else None
        if lane_route is not None:
            auth, decision, refused, served = await anyio.to_thread.run_sync(self._admit_and_serve, scope, lane_route)
        elif scope["method"] in _READS and scope["path"].startswith(ASSET_PREFIXES):
            auth, decision, refused = await anyio.to_thread.run_sync(self._admit_asset, client_address(scope))
        else:
            auth, decision, refused = await anyio.to_thread.run_sync(
                self._admit, Headers(scope=scope), client_address(scope)
            )
        attach(scope.setdefault("state", {}), auth)
        limit_headers = decision.headers()
        if not decision.admitted:
            refused = RateLimited(
                f"too many requests for {decision.quota}: the limit is {decision.quota.rate}; "
                f"retry in {decision.retry_after_s} s",
                retry_after_s=decision.retry_after_s,
            )
        if refused is not None:
            response = problem_answer(
                scope, problem_for(refused, HTTP_STATUSES, instance=scope.get("path")), limit_headers
            )
            await response(scope, receive, send)
            return
        if served is not None:
            served.headers.update(limit_headers)
            await served(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in limit_headers.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_limits)
