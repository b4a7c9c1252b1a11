"""The HTTP app on a tiny demo router (the real routes come from the domain helpers), with real
Redis, a SQLite engine and a local blob store, and an authenticator over a dict of credentials."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
import redis
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.testclient import TestClient
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Post
from darkroom.api.etags import ETag
from darkroom.api.fieldmask import Mask
from darkroom.api.ratelimit import Rate
from darkroom.social.errors import NotFound
from darkroom.social.viewer import Scope, Viewer
from darkroom.web.app import create_app
from darkroom.web.auth import CurrentViewer, SignedIn, clear_session_cookie, csrf_token_for, set_session_cookie
from darkroom.web.caching import NO_STORE, PRIVATE_REVALIDATE, check_if_match, json_response, not_modified
from darkroom.web.deps import Deps, HttpLimits
from darkroom.web.fields import read_mask
from darkroom.web.pagination import Page, page_response
from tests.web.real_app import web_deps

SECRET = b"s" * 32
ALICE = Viewer("01ALICE", "alice")
BOB = Viewer("01BOB", "bob", scopes=frozenset({Scope.READ}))
TOKENS = {"alice-token": ALICE, "alice-session": ALICE, "bob-token": BOB}
ITEMS = [f"{i:04d}" for i in range(250)]


class DictAuthenticator:
    """The Authenticator Protocol over a dict (the real one reads the credentials table)."""

    def __init__(self, credentials: dict[str, Viewer]) -> None:
        self.credentials = credentials

    def authenticate(self, secret: str) -> Viewer | None:
        return self.credentials.get(secret)


@dataclass
class Demo:
    """What the demo routes share with a test: a post's version, created posts, a gate for a slow POST."""

    version: int = 1
    created: list[dict[str, Any]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


def demo_router(demo: Demo) -> APIRouter:
    router = APIRouter(prefix="/demo")

    @router.get("/items")
    def items(
        request: Request, page: Page, deps: Deps, mask: Annotated[Mask, Depends(read_mask(Post.DESCRIPTOR))]
    ) -> Response:
        position = page.position(deps.cursors, "items")
        start = int(position["after"]) + 1 if position else 0
        chunk = ITEMS[start : start + page.limit]
        more = start + page.limit < len(ITEMS)
        next_cursor = deps.cursors.encode({"after": chunk[-1]}, list_name="items") if more and chunk else None
        rows = [{"id": i, "caption": f"item {i}"} for i in chunk]
        if not mask.selects_all:
            keep = set(mask.top_level_fields() or ())
            rows = [{k: v for k, v in row.items() if k in keep} for row in rows]
        return page_response(request, rows, next_cursor)

    @router.get("/other-list")
    def other_list(page: Page, deps: Deps) -> dict[str, Any]:
        page.position(deps.cursors, "other")
        return {"items": [], "next_cursor": None}

    @router.get("/posts/1")
    def get_post(request: Request, mask: Annotated[Mask, Depends(read_mask(Post.DESCRIPTOR))]) -> Response:
        tag = ETag.for_version("1", demo.version, mask)
        hit = not_modified(request, tag, cache=PRIVATE_REVALIDATE)
        if hit is not None:
            return hit
        return json_response({"id": "1", "caption": f"v{demo.version}"}, etag=tag, cache=PRIVATE_REVALIDATE)

    @router.patch("/posts/1")
    def patch_post(request: Request, viewer: SignedIn) -> Response:
        check_if_match(request, ETag.for_version("1", demo.version, Mask.parse("", Post.DESCRIPTOR)))
        demo.version += 1
        return json_response({"id": "1", "caption": f"v{demo.version}"})

    @router.post("/posts", status_code=201)
    def create_post(body: dict[str, Any], viewer: CurrentViewer) -> Response:
        demo.created.append(body)
        post = {"id": str(len(demo.created)), "caption": body.get("caption"), "by": viewer.handle if viewer else None}
        return json_response(post, status=201, headers={"Location": f"/demo/posts/{post['id']}"})

    @router.post("/upload", status_code=201)
    def upload(body: dict[str, Any]) -> dict[str, Any]:
        demo.created.append(body)
        return {"chars": len(body.get("caption", ""))}

    @router.post("/slow", status_code=201)
    def slow(body: dict[str, Any]) -> dict[str, Any]:
        demo.started.set()
        assert demo.release.wait(30), "the test never released the slow request"
        demo.created.append(body)
        return {"n": len(demo.created)}

    @router.post("/credentials")
    def credentials(body: dict[str, Any]) -> Response:
        demo.created.append(body)
        return json_response({"token": f"t{len(demo.created)}"}, cache=NO_STORE)

    @router.post("/fail")
    def fail(body: dict[str, Any]) -> dict[str, Any]:
        demo.created.append(body)
        raise RuntimeError("database password is hunter2")

    @router.post("/form")
    def form(viewer: SignedIn, caption: Annotated[str, Form()]) -> dict[str, Any]:
        return {"caption": caption, "by": viewer.handle}

    @router.delete("/posts/1")
    def delete_post(viewer: SignedIn) -> dict[str, Any]:
        return {"deleted": True, "by": viewer.handle}

    @router.post("/login")
    def login(request: Request) -> Response:
        response = json_response({"ok": True}, cache=NO_STORE)
        set_session_cookie(response, request, "alice-session", max_age_s=3600)
        return response

    @router.post("/logout")
    def logout(request: Request, viewer: SignedIn) -> Response:
        response = json_response({"ok": True})
        clear_session_cookie(response, request)
        return response

    @router.get("/me")
    def me(viewer: SignedIn) -> dict[str, Any]:
        return {"handle": viewer.handle}

    @router.get("/big")
    def big(n: int) -> dict[str, Any]:
        return {"text": "x" * n}

    @router.get("/media")
    def media(content_type: str, n: int = 4096) -> Response:
        return Response(b"\0" * n, media_type=content_type)

    @router.get("/missing")
    def missing() -> None:
        raise NotFound("post '42' does not exist", field="id")

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    return router


@pytest.fixture
def demo() -> Demo:
    return Demo()


@pytest.fixture
def make_client(redis_client: redis.Redis, tmp_path: Path, demo: Demo) -> Iterator[Any]:
    """``make_client(limits=…, raise_server_exceptions=…)``: a TestClient on a fresh app."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'web.db'}")
    clients: list[TestClient] = []

    def make(
        limits: HttpLimits | None = None, *, raise_server_exceptions: bool = True, base_url: str = "http://testserver"
    ) -> TestClient:
        # the demo routes take bodies of a few MiB (the idempotency layer's spool is tested with
        # them, as multipart uploads reach it); the real routes' 64 KiB limit has its own tests
        limits = limits or HttpLimits(
            per_account=Rate(1000, 3600.0), per_ip=Rate(1000, 3600.0), max_body_bytes=16 << 20
        )
        deps = web_deps(
            engine, redis_client, tmp_path, authenticator=DictAuthenticator(TOKENS), secret=SECRET, limits=limits
        )
        client = TestClient(
            create_app(deps, routers=[demo_router(demo)]),
            raise_server_exceptions=raise_server_exceptions,
            base_url=base_url,
        )
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
    engine.dispose()


@pytest.fixture
def client(make_client: Any) -> TestClient:
    client: TestClient = make_client()
    return client


def bearer(token: str = "alice-token") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie(session: str = "alice-session") -> dict[str, str]:
    return {"Cookie": f"darkroom_session={session}"}


def csrf(session: str = "alice-session") -> str:
    return csrf_token_for(SECRET, session)
