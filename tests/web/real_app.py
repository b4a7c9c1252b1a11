"""The real HTTP app for route tests: every router of ``darkroom.web.api`` over a migrated database
(``db_engine``), real Redis and the composition root's ``DatabaseAuthenticator``; and members who
signed up and signed in through the API itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

import darkroom.queue as dq
from darkroom.api.ratelimit import Rate
from darkroom.config import Settings
from darkroom.social.feed import FeedDesign
from darkroom.storage.blobs import LocalBlobs
from darkroom.web.app import create_app
from darkroom.web.deps import Authenticator, HttpLimits, WebDeps, WorkStarts
from darkroom.web.main import DatabaseAuthenticator

__all__ = ["PASSWORD", "SECRET", "Member", "SocialApp", "social_app", "web_deps"]

SECRET = b"route-tests-secret-0123456789abcdef"
PASSWORD = "correct horse battery"
_GENEROUS = HttpLimits(per_account=Rate(10_000, 3600.0), per_ip=Rate(10_000, 3600.0))


@dataclass(frozen=True)
class Member:
    """Someone signed up and signed in: the session ``token`` (a bearer token as well as the
    cookie's value) and its CSRF token."""

    handle: str
    id: str
    token: str
    csrf: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"darkroom_session={self.token}"}


@dataclass(frozen=True)
class SocialApp:
    client: TestClient
    engine: sa.Engine

    def join(self, handle: str, *, private: bool = False) -> Member:
        """Sign ``handle`` up and in through the API (made private after, when asked)."""
        signed_up = self.client.post(
            "/v1/accounts", json={"handle": handle, "email": f"{handle}@example.com", "password": PASSWORD}
        )
        assert signed_up.status_code == 201, signed_up.text
        session = self.client.post("/v1/sessions", json={"login": handle, "password": PASSWORD})
        assert session.status_code == 201, session.text
        body = session.json()
        self.client.cookies.clear()  # each request says who it is
        member = Member(handle, body["account"]["id"], body["token"], body["csrf_token"])
        if private:
            made = self.client.patch(
                "/v1/accounts/me?update_mask=private", json={"private": True}, headers=member.bearer
            )
            assert made.status_code == 200, made.text
        return member


@contextmanager
def social_app(
    engine: sa.Engine,
    client: redis.Redis,
    tmp_path: Path,
    *,
    base_url: str = "http://testserver",
    starts: Callable[[], WorkStarts] | None = None,
    blobs: LocalBlobs | None = None,
    limits: HttpLimits = _GENEROUS,
    raise_server_exceptions: bool = True,
    feed_design: FeedDesign = FeedDesign.HYBRID,
) -> Iterator[SocialApp]:
    """The app over ``engine`` and ``client``; ``starts`` makes it take uploads (None: 503), ``blobs``
    replaces the local store under ``tmp_path``, ``limits`` the generous rate limits, ``feed_design``
    how ``GET /v1/feed`` reads."""
    deps = web_deps(
        engine, client, tmp_path, authenticator=DatabaseAuthenticator(engine, client), secret=SECRET,
        limits=limits, starts=starts, blobs=blobs, feed_design=feed_design,
    )  # fmt: skip
    with TestClient(
        create_app(deps), base_url=base_url, raise_server_exceptions=raise_server_exceptions
    ) as test_client:
        yield SocialApp(test_client, engine)


def web_deps(
    engine: sa.Engine,
    client: redis.Redis,
    tmp_path: Path,
    *,
    authenticator: Authenticator,
    secret: bytes,
    limits: HttpLimits = _GENEROUS,
    starts: Callable[[], WorkStarts] | None = None,
    blobs: LocalBlobs | None = None,
    feed_design: FeedDesign = FeedDesign.HYBRID,
    queue: dq.RedisQueue | None = None,
) -> WebDeps:
    """The app's dependencies for a test: blobs and home under ``tmp_path``; ``queue`` the
    platform's queue the operator pages read (None: they show none)."""
    return WebDeps(
        engine=engine,
        redis=client,
        blobs=blobs or LocalBlobs(tmp_path / "blobs"),
        settings=Settings(home=tmp_path / "home", feed_design=str(feed_design)),
        authenticator=authenticator,
        secret=secret,
        limits=limits,
        starts=starts,
        queue=queue,
    )
