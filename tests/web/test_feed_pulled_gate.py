"""GET /v1/feed with a pulled set that drifted (a rebuild racing an unfollow or a block, an author
that went private or was disabled): the set only says whose recent posts to merge; the page's
visibility check is the final gate, so nothing private, blocked, disabled or deleted shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from darkroom.social import account_edits, account_lifecycle, keys, posts
from darkroom.social.accounts import OPERATOR
from darkroom.storage.schema import accounts
from tests.web.social_app import PostsApp, User, open_app

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[PostsApp]:
    with open_app(db_engine, redis_client, tmp_path) as social:
        yield social


def _pulling(app: PostsApp, reader: User, star: User) -> str:
    """A post of ``star`` in its recent posts, and ``reader``'s pulled set naming ``star`` (built):
    what a rebuild that read SQL before an unfollow or a block leaves for up to an hour."""
    post_id = app.post(star, "from the star")
    app.fan_out(app.ready(star, post_id))
    app.redis.sadd(keys.pulled(reader.id), keys.FEED_BUILT, star.id)
    return post_id


@SQLITE
def test_a_pulled_public_author_shows(app: PostsApp) -> None:
    reader, star = app.member("reader"), app.member("star")
    post_id = _pulling(app, reader, star)
    assert app.ids("/v1/feed", reader) == [post_id]  # the set is read: the cases below are its gate


@SQLITE
def test_a_pulled_author_that_blocks_or_is_blocked_never_shows(app: PostsApp) -> None:
    reader, star, other = app.member("reader"), app.member("star"), app.member("other")
    app.follow(reader, star)
    app.follow(reader, other)
    _pulling(app, reader, star)
    _pulling(app, reader, other)
    app.block(star, reader)  # the consumer has not run: the set still names both
    app.block(reader, other)
    assert app.ids("/v1/feed", reader) == []


@SQLITE
def test_a_pulled_private_author_shows_only_to_its_followers(app: PostsApp) -> None:
    reader, follower, star = app.member("reader"), app.member("follower"), app.member("star")
    app.follow(follower, star)
    post_id = _pulling(app, reader, star)
    app.redis.sadd(keys.pulled(follower.id), keys.FEED_BUILT, star.id)
    with app.engine.begin() as conn:  # the star goes private
        changes = account_edits.AccountChanges(private=True)
        account_edits.update_account(conn, star.person.viewer, changes, ["private"])
    assert app.ids("/v1/feed", reader) == []
    assert post_id in app.ids("/v1/feed", follower)


@SQLITE
def test_a_pulled_disabled_or_deleted_author_or_post_never_shows(app: PostsApp) -> None:
    reader, gone, quiet, author = app.member("reader"), app.member("gone"), app.member("quiet"), app.member("author")
    for star in (gone, quiet, author):
        app.follow(reader, star)
    disabled_post = _pulling(app, reader, gone)
    gone_post = _pulling(app, reader, quiet)
    deleted = _pulling(app, reader, author)
    assert len(app.ids("/v1/feed", reader)) == 3  # shown, so each post is in the post cache now
    with app.engine.begin() as conn:
        account_lifecycle.disable_account(conn, OPERATOR, "gone")
        conn.execute(sa.update(accounts).where(accounts.c.id == quiet.id).values(deleted_at=1.0))
        posts.delete_post(conn, author.person.viewer, deleted)
    shown = app.ids("/v1/feed", reader)
    assert disabled_post not in shown
    assert gone_post not in shown
    assert deleted not in shown
    for post_id in (disabled_post, gone_post, deleted):
        assert app.client.get(f"/v1/posts/{post_id}", headers=reader.auth).status_code == 404
