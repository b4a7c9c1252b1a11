"""darkroom.social.reactions: likes and comments, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from darkroom.social import reactions
from darkroom.social.errors import Blocked, Forbidden, InvalidInput, NotFound, Unauthorized
from darkroom.social.viewer import Scope, Viewer
from darkroom.storage.schema import comments, likes, outbox
from tests.social.rows import make_account, make_block, make_follow, make_post, viewer_of
from tests.social.statements import statements

# Checks made before any SQL run the same on both databases: SQLite only saves PostgreSQL's setup.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _events(conn: sa.Connection) -> list[dict[str, str]]:
    return [dict(row.payload) for row in conn.execute(sa.select(outbox.c.payload).order_by(outbox.c.seq))]


def _count(conn: sa.Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# -- likes ------------------------------------------------------------------------------------------
def test_like_and_unlike_are_idempotent_and_record_one_event_each(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        alice, bob = make_account(conn, "alice"), make_account(conn, "bob")
        post = make_post(conn, alice)
        bob_v = viewer_of(conn, bob)
        assert reactions.like(conn, bob_v, post) is True
        assert reactions.like(conn, bob_v, post) is False
        assert _count(conn, likes) == 1
        assert reactions.unlike(conn, bob_v, post) is True
        assert reactions.unlike(conn, bob_v, post) is False
        assert _count(conn, likes) == 0
        events = _events(conn)
    assert [(e["type"], e["account_id"], e["post_id"]) for e in events] == [
        ("post.liked", bob, post),
        ("post.unliked", bob, post),
    ]


@sqlite_only
def test_like_needs_a_signed_in_writer(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        alice = make_account(conn, "alice")
        post = make_post(conn, alice)
        with pytest.raises(Unauthorized):
            reactions.like(conn, None, post)
        reader = Viewer(alice, "alice", scopes=frozenset({Scope.READ}))
        with pytest.raises(Forbidden):
            reactions.like(conn, reader, post)
        assert _count(conn, likes) == 0


def test_posts_the_viewer_may_not_see_answer_not_found_and_store_nothing(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        me = make_account(conn, "me")
        private = make_account(conn, "private", private=True)
        requested = make_account(conn, "requested", private=True)
        blocker, blocked = make_account(conn, "blocker"), make_account(conn, "blocked")
        make_follow(conn, me, requested, state="requested")
        make_block(conn, blocker, me)
        make_block(conn, me, blocked)
        posts = {
            "private author": make_post(conn, private),
            "follow only requested": make_post(conn, requested),
            "author blocks me": make_post(conn, blocker),
            "I block the author": make_post(conn, blocked),
            "deleted": make_post(conn, me, deleted=True),
            "processing": make_post(conn, me, state="processing"),
            "failed": make_post(conn, me, state="failed", error="bad file"),
            "unknown": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        }
        viewer = viewer_of(conn, me)
        for why, post in posts.items():
            for act in (
                lambda p: reactions.like(conn, viewer, p),
                lambda p: reactions.unlike(conn, viewer, p),
                lambda p: reactions.add_comment(conn, viewer, p, "hi"),
                lambda p: reactions.list_likes(conn, viewer, p),
                lambda p: reactions.list_comments(conn, viewer, p),
            ):
                with pytest.raises(NotFound, match=post) as caught:
                    act(post)
                assert caught.value.field == "post_id", why
        assert _count(conn, likes) == _count(conn, comments) == _count(conn, outbox) == 0


def test_a_follower_may_react_to_a_private_accounts_post(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        me, private = make_account(conn, "me"), make_account(conn, "private", private=True)
        make_follow(conn, me, private)
        post = make_post(conn, private)
        viewer = viewer_of(conn, me)
        assert reactions.like(conn, viewer, post)
        reactions.add_comment(conn, viewer, post, "nice")
        assert [r.account_id for r in reactions.list_likes(conn, viewer, post).items] == [me]
        with pytest.raises(NotFound):
            reactions.list_likes(conn, None, post)  # anonymous: a private account's post does not exist


def test_an_admin_sees_across_a_block_but_may_not_react(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        admin, alice = make_account(conn, "admin", role="admin"), make_account(conn, "alice")
        make_block(conn, alice, admin)
        post = make_post(conn, alice)
        viewer = viewer_of(conn, admin)
        assert reactions.list_likes(conn, viewer, post).items == []
        with pytest.raises(Blocked, match=post):
            reactions.like(conn, viewer, post)
        with pytest.raises(Blocked):
            reactions.add_comment(conn, viewer, post, "hello")
        assert _count(conn, outbox) == 0


@sqlite_only
def test_malformed_post_id_is_invalid_input(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        viewer = viewer_of(conn, make_account(conn, "me"))
        with pytest.raises(InvalidInput, match="'nope'") as caught:
            reactions.like(conn, viewer, "nope")
        assert caught.value.field == "post_id"


def test_list_likes_pages_newest_first_at_the_limit(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        author = make_account(conn, "author")
        post = make_post(conn, author)
        fans = [make_account(conn, f"fan{i}") for i in range(101)]
        for fan in fans:
            reactions.like(conn, viewer_of(conn, fan), post)
        first = reactions.list_likes(conn, None, post, limit=100)
        assert [r.account_id for r in first.items] == fans[::-1][:100]
        assert first.next_cursor is not None
        second = reactions.list_likes(conn, None, post, first.next_cursor, limit=100)
        assert [r.account_id for r in second.items] == [fans[0]]
        assert second.next_cursor is None
        with pytest.raises(InvalidInput, match="101") as caught:
            reactions.list_likes(conn, None, post, limit=101)
        assert caught.value.field == "limit"
        with pytest.raises(InvalidInput, match="limit 0"):
            reactions.list_likes(conn, None, post, limit=0)


def test_list_likes_skips_accounts_in_a_block_with_the_viewer_and_pages_past_them(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        author, me = make_account(conn, "author"), make_account(conn, "me")
        fans = [make_account(conn, f"fan{i}") for i in range(5)]
        post = make_post(conn, author)
        for fan in fans:
            reactions.like(conn, viewer_of(conn, fan), post)
        make_block(conn, fans[2], me)  # the one in the middle
        viewer = viewer_of(conn, me)
        seen: list[str] = []
        cursor = None
        while True:
            page = reactions.list_likes(conn, viewer, post, cursor, limit=2)
            seen += [r.account_id for r in page.items]
            if (cursor := page.next_cursor) is None:
                break
        assert seen == [fans[4], fans[3], fans[1], fans[0]]


@sqlite_only
def test_cursors_are_checked(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        author = make_account(conn, "author")
        post = make_post(conn, author)
        for i in range(3):
            reactions.like(conn, viewer_of(conn, make_account(conn, f"l{i}")), post)
        cursor = reactions.list_likes(conn, None, post, limit=1).next_cursor
        assert cursor
        for bad in ("garbage!", cursor[:-3], "x" * 500):
            with pytest.raises(InvalidInput) as caught:
                reactions.list_likes(conn, None, post, bad)
            assert caught.value.field == "cursor"
            with pytest.raises(InvalidInput, match="cursor"):
                reactions.list_comments(conn, None, post, bad)


# -- comments ---------------------------------------------------------------------------------------
def test_comment_text_at_the_limit_is_stored_exactly_and_one_more_character_is_refused(
    db_engine: sa.Engine,
) -> None:
    longest = "é" * 999 + "\U0001f600"  # 1,000 characters (code points), 2,002 bytes in UTF-8
    with db_engine.begin() as conn:
        author = make_account(conn, "author")
        post = make_post(conn, author)
        viewer = viewer_of(conn, author)
        row = reactions.add_comment(conn, viewer, post, longest)
        with pytest.raises(InvalidInput, match="1001 characters") as caught:
            reactions.add_comment(conn, viewer, post, longest + "x")
        assert caught.value.field == "text"
        stored = conn.execute(sa.select(comments.c.text)).scalars().all()
    assert stored == [longest]
    assert row.text == longest


def test_bad_comment_text_is_refused_and_nothing_is_stored(db_engine: sa.Engine) -> None:
    bad: list[tuple[object, str]] = [
        ("", "1 to 1000"),
        ("  \n\t ", "blank"),
        ("a\x00b", "NUL"),  # PostgreSQL cannot store it
        ("a\ud800b", "surrogate"),
        (42, "string"),
    ]
    with db_engine.begin() as conn:
        author = make_account(conn, "author")
        post = make_post(conn, author)
        for text, why in bad:
            with pytest.raises(InvalidInput, match=why) as caught:
                reactions.add_comment(conn, viewer_of(conn, author), post, text)  # type: ignore[arg-type]
            assert caught.value.field == "text"
        assert _count(conn, comments) == _count(conn, outbox) == 0


def test_hostile_markup_stays_text(db_engine: sa.Engine) -> None:
    hostile = "<script>alert('x')</script> <img src=x onerror=alert(1)> &amp; {{7*7}} ' OR 1=1 --"
    with db_engine.begin() as conn:
        author = make_account(conn, "author")
        post = make_post(conn, author)
        reactions.add_comment(conn, viewer_of(conn, author), post, hostile)
        assert [c.text for c in reactions.list_comments(conn, None, post).items] == [hostile]


def test_add_comment_records_its_event_with_the_comment_id(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        author, fan = make_account(conn, "author"), make_account(conn, "fan")
        post = make_post(conn, author)
        row = reactions.add_comment(conn, viewer_of(conn, fan), post, "hi")
        (event,) = _events(conn)
    assert (event["type"], event["account_id"], event["post_id"]) == ("comment.created", fan, post)
    assert '"comment_id":"' + row.id in event["data"]


def test_comments_are_deleted_by_their_author_the_posts_author_or_an_admin(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        author, fan, other = (make_account(conn, h) for h in ("author", "fan", "other"))
        admin = make_account(conn, "admin", role="admin")
        post = make_post(conn, author)
        fan_v = viewer_of(conn, fan)
        by_fan, for_author, for_admin = (reactions.add_comment(conn, fan_v, post, t).id for t in "abc")
        with pytest.raises(Forbidden, match=by_fan):
            reactions.delete_comment(conn, viewer_of(conn, other), by_fan)
        reactions.delete_comment(conn, fan_v, by_fan)
        reactions.delete_comment(conn, viewer_of(conn, author), for_author)
        reactions.delete_comment(conn, viewer_of(conn, admin), for_admin)
        with pytest.raises(NotFound, match=by_fan):
            reactions.delete_comment(conn, fan_v, by_fan)  # already deleted
        assert reactions.list_comments(conn, None, post).items == []
        kept = conn.execute(sa.select(sa.func.count()).where(comments.c.deleted_at.is_not(None))).scalar_one()
        deleted_events = [e for e in _events(conn) if e["type"] == "comment.deleted"]
    assert kept == 3  # a soft delete keeps the row
    assert [e["account_id"] for e in deleted_events] == [fan, author, admin]
    assert all(e["post_id"] == post for e in deleted_events)


def test_delete_comment_on_a_post_the_viewer_may_not_see_is_not_found(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        private, fan, me = (
            make_account(conn, "private", private=True),
            make_account(conn, "fan"),
            make_account(conn, "me"),
        )
        make_follow(conn, fan, private)
        post = make_post(conn, private)
        comment = reactions.add_comment(conn, viewer_of(conn, fan), post, "hi").id
        with pytest.raises(NotFound, match=comment):
            reactions.delete_comment(conn, viewer_of(conn, me), comment)
        with pytest.raises(InvalidInput):
            reactions.delete_comment(conn, viewer_of(conn, me), "not-an-id")


def test_list_comments_oldest_first_skipping_deleted_and_blocked_ones_across_pages(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        author, me, rude = make_account(conn, "author"), make_account(conn, "me"), make_account(conn, "rude")
        post = make_post(conn, author)
        author_v, rude_v = viewer_of(conn, author), viewer_of(conn, rude)
        ids = [reactions.add_comment(conn, author_v, post, f"c{i}").id for i in range(101)]
        deleted = ids[50]
        reactions.delete_comment(conn, author_v, deleted)  # a broken item in the middle
        rude_comment = reactions.add_comment(conn, rude_v, post, "go away").id
        make_block(conn, me, rude)
        viewer = viewer_of(conn, me)
        mine = reactions.list_comments(conn, viewer, post, limit=100)
        anonymous = reactions.list_comments(conn, None, post, limit=100)
        anonymous_rest = reactions.list_comments(conn, None, post, anonymous.next_cursor, limit=100)
        small = [reactions.list_comments(conn, None, post, limit=49)]
        while (cursor := small[-1].next_cursor) is not None:
            small.append(reactions.list_comments(conn, None, post, cursor, limit=49))
    expected = [i for i in ids if i != deleted]
    assert [c.id for c in mine.items] == expected  # 100: rude's comment is hidden from me
    assert mine.next_cursor is None
    assert [c.id for c in anonymous.items + anonymous_rest.items] == [*expected, rude_comment]
    assert [c.id for page in small for c in page.items] == [*expected, rude_comment]
    assert [len(page.items) for page in small] == [49, 49, 3]


def test_latest_comments_of_many_posts_in_one_statement_under_list_comments_rules(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        author, me, rude = make_account(conn, "author"), make_account(conn, "me"), make_account(conn, "rude")
        locked = make_account(conn, "locked", private=True)
        posts = [make_post(conn, author) for _ in range(4)]
        hidden, draft = make_post(conn, locked), make_post(conn, author, state="processing")
        author_v, rude_v, locked_v = viewer_of(conn, author), viewer_of(conn, rude), viewer_of(conn, locked)
        first = [reactions.add_comment(conn, author_v, posts[0], f"c{i}").id for i in range(4)]
        reactions.delete_comment(conn, author_v, first[3])  # the newest is deleted: c1, c2 are the latest
        rude_comment = reactions.add_comment(conn, rude_v, posts[1], "go away").id
        lone = reactions.add_comment(conn, author_v, posts[2], "only one").id
        reactions.add_comment(conn, locked_v, hidden, "followers only")
        make_block(conn, me, rude)
        viewer = viewer_of(conn, me)
    asked = [*posts, hidden, draft]
    with db_engine.connect() as conn, statements(db_engine) as sent:
        mine = reactions.latest_comments(conn, viewer, asked)
    queries = [s for s in sent if s.lstrip().upper().startswith("SELECT")]  # not the driver's BEGIN
    assert len(queries) == 1  # the whole page's comments at once, not one statement per post
    assert {post: [c.id for c in rows] for post, rows in mine.items()} == {posts[0]: first[1:3], posts[2]: [lone]}
    assert mine[posts[2]][0].text == "only one" and mine[posts[2]][0].author_id == author
    with db_engine.connect() as conn:
        anonymous = reactions.latest_comments(conn, None, asked, per_post=1)
        assert reactions.latest_comments(conn, None, []) == {}
        with pytest.raises(InvalidInput, match="per_post 0 is not a whole number"):
            reactions.latest_comments(conn, None, posts, per_post=0)
        with pytest.raises(InvalidInput, match="post_id 'nope' is not a Darkroom id"):
            reactions.latest_comments(conn, None, ["nope"])
    # a block hides nothing from someone else; a private account's post stays hidden
    assert {post: [c.id for c in rows] for post, rows in anonymous.items()} == {
        posts[0]: [first[2]],
        posts[1]: [rude_comment],
        posts[2]: [lone],
    }
