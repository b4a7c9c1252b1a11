"""The real HTTP app (``real_app.social_app``: every router, the real ``DatabaseAuthenticator``)
for the post, reaction and feed routes' tests, with what they need made through the domain:
accounts and API tokens, follows and blocks, posts from uploads inserted as rows (media
processing is not what these tests are about), and the fan-out consumer run by hand."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from darkroom.social import graph, posts, tokens
from darkroom.social.events import STREAM, Event, EventType
from darkroom.social.feed import FanoutHandler, FeedDesign
from darkroom.social.viewer import Role, Scope
from tests.social import people
from tests.social.people import User
from tests.social.rows import make_upload
from tests.web.real_app import social_app

__all__ = ["PostsApp", "User", "open_app"]


@dataclass
class PostsApp:
    engine: sa.Engine
    redis: redis.Redis
    client: TestClient

    def member(self, handle: str, *, private: bool = False, role: Role = Role.USER) -> User:
        with self.engine.begin() as conn:
            return people.member_in(conn, handle, private=private, role=role)

    def read_only_token(self, member: User) -> dict[str, str]:
        with self.engine.begin() as conn:
            token = tokens.create_token(conn, member.viewer, name="reader", scopes=[Scope.READ])
        return {"Authorization": f"Bearer {token.secret}"}

    def uploads(self, member: User, n: int = 1, *, state: str = "ready") -> list[str]:
        with self.engine.begin() as conn:
            return [make_upload(conn, member.id, state=state) for _ in range(n)]

    def post(self, member: User, caption: str = "", *, media: int = 1) -> str:
        """A ready post by ``member`` (through the domain: tags, mentions, events)."""
        ids = self.uploads(member, media)
        with self.engine.begin() as conn:
            return posts.create_post(conn, member.viewer, caption=caption, upload_ids=ids).id

    def follow(self, follower: User, followee: User) -> None:
        with self.engine.begin() as conn:
            graph.follow(conn, follower.viewer, followee.handle)

    def block(self, blocker: User, blocked: User) -> None:
        with self.engine.begin() as conn:
            graph.block(conn, blocker.viewer, blocked.handle)

    def fan_out(self, *events: Event) -> None:
        """Run the feed's consumer on ``events`` here and now (what the runner does in the background)."""
        FanoutHandler(self.engine, self.redis).handle(list(events))

    def ready(self, author: User, post_id: str) -> Event:
        return Event(EventType.POST_READY, author.id, post_id)

    def views(self) -> list[dict[str, str]]:
        """The ``post.viewed`` entries on the events stream, oldest first (the app's buffered ones
        published first)."""
        self.client.app.state.deps.impressions.flush()
        entries = self.redis.xrange(STREAM)
        decoded = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]
        return [e for e in decoded if e["type"] == EventType.POST_VIEWED.value]

    def items(self, path: str, member: User | None = None, **params: Any) -> list[dict[str, Any]]:
        answer = self.client.get(path, headers=member.auth if member else {}, params=params)
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def ids(self, path: str, member: User | None = None, **params: Any) -> list[str]:
        return [item["id"] for item in self.items(path, member, **params)]

    def all_pages(self, path: str, member: User | None, limit: int) -> Sequence[list[str]]:
        pages, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
            answer = self.client.get(path, headers=member.auth if member else {}, params=params)
            assert answer.status_code == 200, answer.text
            pages.append([item["id"] for item in answer.json()["items"]])
            cursor = answer.json()["next_cursor"]
            if cursor is None:
                return pages


@contextmanager
def open_app(
    engine: sa.Engine, client: redis.Redis, tmp_path: Path, *, feed_design: FeedDesign = FeedDesign.HYBRID
) -> Iterator[PostsApp]:
    with social_app(engine, client, tmp_path, feed_design=feed_design) as app:
        yield PostsApp(engine, client, app.client)
