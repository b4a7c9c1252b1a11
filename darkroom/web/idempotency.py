"""``Idempotency-Key`` on every POST (``api.idempotency`` holds the records).

A POST with the header is fingerprinted (method, path and query, content type, body SHA-256) and
claimed for its client (the account when signed in, else the address). The first request runs;
its answer is kept for 24 h and replayed, with ``Idempotent-Replayed: true``, to a retry with the
same key and body; the same key with another request is 422, and a retry while the first still
runs is 409. Without the header a POST runs as usual.

Not kept (the claim is released, so a retry runs again): server errors (5xx) and exceptions;
answers about the caller rather than the request (401, 403, 429); answers marked
``Cache-Control: no-store`` (a route handing out a credential must not have it kept in Redis);
answers over ``HttpLimits.idempotency_max_body_bytes``. ``Set-Cookie`` is never kept.

The body is read once, hashed and spooled (memory up to 1 MiB, then a temporary file), then
handed to the route unchanged, so uploads stay streamed and bounded in memory.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from typing import IO

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from darkroom.api.errors import ApiError
from darkroom.api.idempotency import HEADER, Claim, IdempotencyStore, StoredResponse, check_key, fingerprint
from darkroom.api.problems import problem_for
from darkroom.web.auth import auth_of_scope
from darkroom.web.edge import client_address
from darkroom.web.problems import HTTP_STATUSES
from darkroom.web.responses import problem_answer

__all__ = ["REPLAYED_HEADER", "IdempotencyMiddleware"]

_log = logging.getLogger(__name__)

REPLAYED_HEADER = "Idempotent-Replayed"
_SPOOL_BYTES = 1 << 20
_CHUNK_BYTES = 64 << 10
_NOT_KEPT = frozenset({401, 403, 429})
_DROPPED_HEADERS = frozenset({b"set-cookie", b"content-length", b"date", b"server"})


class _Capture:
    """The start and body messages of one response, up to ``max_bytes`` of body."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.too_big = False

    def see(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body" and not self.too_big:
            self.body += message.get("body", b"")
            if len(self.body) > self.max_bytes:
                self.too_big, self.body = True, bytearray()

    def keepable(self) -> bool:
        if self.too_big or self.status >= 500 or self.status in _NOT_KEPT or not self.status:
            return False
        cache = b",".join(v for k, v in self.headers if k.lower() == b"cache-control").lower()
        return b"no-store" not in cache

    def stored(self) -> StoredResponse:
        headers = tuple(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers if k.lower() not in _DROPPED_HEADERS
        )
        return StoredResponse(self.status, headers, bytes(self.body))


class IdempotencyMiddleware:
    """Claims, replays and keeps POST answers by ``Idempotency-Key`` (pure ASGI)."""

    def __init__(self, app: ASGIApp, *, store: IdempotencyStore, max_body_bytes: int) -> None:
        self.app = app
        self.store = store
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        key = headers.get(HEADER) if headers is not None else None
        if headers is None or key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            check_key(key)
        except ApiError as exc:
            await problem_answer(scope, problem_for(exc, HTTP_STATUSES, instance=scope.get("path")))(
                scope, receive, send
            )
            return
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            digest = await _spool(receive, spool)
            if digest is None:
                return  # the client went away before sending its body
            path = scope.get("raw_path") or scope["path"].encode()
            query = scope.get("query_string", b"")
            target = (path + (b"?" + query if query else b"")).decode("latin-1")
            fp = fingerprint("POST", target, headers.get("content-type", ""), digest)
            viewer = auth_of_scope(scope).viewer
            owner = f"a:{viewer.account_id}" if viewer is not None else f"ip:{client_address(scope)}"
            try:
                outcome = await anyio.to_thread.run_sync(self.store.begin, owner, key, fp)
            except ApiError as exc:
                await problem_answer(scope, problem_for(exc, HTTP_STATUSES, instance=scope.get("path")))(
                    scope, receive, send
                )
                return
            if isinstance(outcome, StoredResponse):
                await _replay(outcome, send)
                return
            await self._run(outcome, scope, _replaying(spool, receive), send)

    async def _run(self, claim: Claim, scope: Scope, receive: Receive, send: Send) -> None:
        capture = _Capture(self.max_body_bytes)

        async def send_and_capture(message: Message) -> None:
            capture.see(message)
            await send(message)

        try:
            await self.app(scope, receive, send_and_capture)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.store.release, claim)
            raise
        if capture.keepable():
            kept = await anyio.to_thread.run_sync(self.store.finish, claim, capture.stored())
            if not kept:
                _log.warning("idempotency key %r expired while its request ran; its answer was not kept", claim.key)
        else:
            await anyio.to_thread.run_sync(self.store.release, claim)


async def _spool(receive: Receive, spool: IO[bytes]) -> bytes | None:
    """Read the whole body into ``spool``; its SHA-256, or None if the client disconnected."""
    digest = hashlib.sha256()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        digest.update(chunk)
        spool.write(chunk)
        if not message.get("more_body", False):
            break
    return digest.digest()


def _replaying(spool: IO[bytes], receive: Receive) -> Receive:
    """A ``receive`` that hands the spooled body over again, then waits on the real one."""
    size = spool.seek(0, 2)
    spool.seek(0)
    done = False

    async def replay() -> Message:
        nonlocal done
        if done:
            return await receive()
        chunk = spool.read(_CHUNK_BYTES)
        done = spool.tell() >= size
        return {"type": "http.request", "body": chunk, "more_body": not done}

    return replay


async def _replay(stored: StoredResponse, send: Send) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers]
    headers += [(b"content-length", str(len(stored.body)).encode()), (REPLAYED_HEADER.lower().encode(), b"true")]
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})
