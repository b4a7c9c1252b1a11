"""A size limit on every request body but the uploads' (``HttpLimits.max_body_bytes``, 64 KiB by
default: the largest JSON any route takes, a 2,200-character caption escaped, is well under it).

FastAPI reads a JSON body whole into memory before the route runs, so without a limit one
request could hold a gigabyte. A declared ``Content-Length`` over the limit is refused before
anything is read; a body without one (chunked) is counted as it arrives and refused at limit + 1
byte. Either way: 413 ``too_large`` naming the size and the limit, ``Connection: close`` (the
rest is not read), nothing stored. ``/v1/uploads…`` (multipart and tus) and the settings page's
avatar form (``/settings/avatar``) stream their bodies under their own per-kind limits and are
left alone.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from darkroom.api.problems import Problem
from darkroom.web.problems import ProblemException
from darkroom.web.responses import problem_answer

__all__ = ["UNLIMITED_PATHS", "BodyLimitMiddleware"]

UNLIMITED_PATHS = ("/v1/uploads", "/settings/avatar")  # and everything under them


def _too_large(size: str, max_bytes: int, instance: str) -> Problem:
    return Problem(
        413,
        "too_large",
        f"the request body is {size}; this route takes at most {max_bytes} bytes (files go to /v1/uploads)",
        field="body",
        instance=instance,
        headers={"Connection": "close"},
        extensions={"max_bytes": max_bytes},
    )


def _exempt(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in UNLIMITED_PATHS)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` (pure ASGI: the body passes through as it comes)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or _exempt(path):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared in ("", "0") and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body (most GETs): nothing to count
            return
        if declared.isdigit() and int(declared) > self.max_bytes:
            await problem_answer(scope, _too_large(f"{int(declared)} bytes", self.max_bytes, path))(
                scope, receive, send
            )
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # an HTTPException: FastAPI lets it through its body parsing to the problem handlers
                    raise ProblemException(_too_large(f"over {self.max_bytes} bytes", self.max_bytes, path))
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except ProblemException as exc:  # read by a middleware (idempotency spools POST bodies), not a route
            if started:
                raise
            await problem_answer(scope, exc.problem)(scope, receive, send)
