"""darkroom.social.tags: hashtag pages and hashtag search, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from darkroom.social import tags
from darkroom.social.errors import InvalidInput
from darkroom.social.tags import TagCount
from tests.social.rows import make_account, make_block, make_follow, make_post, viewer_of


def test_a_tag_page_lists_ready_visible_posts_newest_first(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        me, public, private = (
            make_account(conn, "me"),
            make_account(conn, "public"),
            make_account(conn, "private", True),
        )
        followed = make_account(conn, "followed", private=True)
        blocker = make_account(conn, "blocker")
        make_follow(conn, me, followed)
        make_block(conn, blocker, me)
        shown = {
            "public": make_post(conn, public, tags=["sun"]),
            "followed private": make_post(conn, followed, tags=["sun"]),
            "my own": make_post(conn, me, tags=["sun"]),
        }
        hidden = {
            "private": make_post(conn, private, tags=["sun"]),
            "blocker": make_post(conn, blocker, tags=["sun"]),
            "processing": make_post(conn, public, state="processing", tags=["sun"]),
            "deleted": make_post(conn, public, deleted=True, tags=["sun"]),
            "other tag": make_post(conn, public, tags=["moon"]),
        }
        page = tags.tag_posts(conn, viewer_of(conn, me), "#Sun")
        anonymous = tags.tag_posts(conn, None, "sun")
        admin = tags.tag_posts(conn, viewer_of(conn, make_account(conn, "admin", role="admin")), "sun")
    assert page.items == sorted(shown.values(), reverse=True)
    assert page.next_cursor is None
    assert set(anonymous.items) == {shown["public"], shown["my own"], hidden["blocker"]}  # public accounts
    assert set(admin.items) == {*shown.values(), hidden["private"], hidden["blocker"]}


def test_a_tag_page_is_full_when_hidden_posts_dominate_and_pages_at_the_limit(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        public, private = make_account(conn, "public"), make_account(conn, "private", private=True)
        visible: list[str] = []
        for i in range(101):
            visible.append(make_post(conn, public, tags=["sun"]))
            if i % 10 == 5:  # hidden posts scattered through the list
                make_post(conn, private, tags=["sun"])
        first = tags.tag_posts(conn, None, "sun", limit=100)
        second = tags.tag_posts(conn, None, "sun", first.next_cursor, limit=100)
        with pytest.raises(InvalidInput, match="limit 101"):
            tags.tag_posts(conn, None, "sun", limit=101)
        with pytest.raises(InvalidInput, match="bogus") as caught:
            tags.tag_posts(conn, None, "sun", "bogus")
        assert caught.value.field == "cursor"
    newest_first = visible[::-1]
    assert first.items == newest_first[:100]
    assert second.items == newest_first[100:]
    assert second.next_cursor is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_tags_are_refused_naming_them(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        for bad in ("", "#", "two words", "<script>", "a" * 101, "50%", 7):
            with pytest.raises(InvalidInput) as caught:
                tags.tag_posts(conn, None, bad)  # type: ignore[arg-type]
            assert caught.value.field == "tag"
            assert repr(bad)[:20] in str(caught.value) or "string" in str(caught.value)
        assert tags.normalize_tag("#Cafe\u0301_2") == "caf\u00e9_2"  # NFC (as captions.py stores tags), lower case
        assert (
            tags.normalize_tag("#\u0928\u092e\u0938\u094d\u0924\u0947") == "\u0928\u092e\u0938\u094d\u0924\u0947"
        )  # marks
        assert tags.normalize_tag("a" * 100) == "a" * 100
        assert tags.tag_posts(conn, None, "nothing_here").items == []


def test_search_tags_by_prefix_with_counts_most_used_first(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        alice, private = make_account(conn, "alice"), make_account(conn, "private", private=True)
        for tag, n in (("sunset", 3), ("sun", 2), ("sunday", 2), ("moon", 5), ("s_x", 1), ("sax", 1)):
            for _ in range(n):
                make_post(conn, alice, tags=[tag])
        make_post(conn, private, tags=["sun"])  # counted: counts are totals, not per viewer
        make_post(conn, alice, tags=["sunday"], deleted=True)  # not counted
        make_post(conn, alice, tags=["sunrise"], state="processing")  # not counted, not listed
        found = tags.search_tags(conn, "#Sun")
        underscore = tags.search_tags(conn, "s_")  # '_' is a character, not LIKE's wildcard
        limited = tags.search_tags(conn, "s", limit=2)
    assert found == [TagCount("sun", 3), TagCount("sunset", 3), TagCount("sunday", 2)]
    assert underscore == [TagCount("s_x", 1)]
    assert limited == [TagCount("sun", 3), TagCount("sunset", 3)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_search_tags_limits(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        alice = make_account(conn, "alice")
        names = [f"t{i:03d}" for i in range(101)]
        for name in names:
            make_post(conn, alice, tags=[name])
        assert [t.name for t in tags.search_tags(conn, "t", limit=100)] == names[:100]
        with pytest.raises(InvalidInput, match="limit 101"):
            tags.search_tags(conn, "t", limit=101)
        with pytest.raises(InvalidInput, match="q ''") as caught:
            tags.search_tags(conn, "")
        assert caught.value.field == "q"


def test_count_tag_counts_as_search_does(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        alice, private = make_account(conn, "alice"), make_account(conn, "private", private=True)
        make_post(conn, alice, tags=["sun"])
        make_post(conn, private, tags=["sun"])  # counted: a count is a total, not per viewer
        make_post(conn, alice, tags=["sun"], deleted=True)
        make_post(conn, alice, tags=["sun"], state="processing")
        make_post(conn, alice, tags=["sunset"])  # a prefix is not the tag
        assert tags.count_tag(conn, "#Sun") == TagCount("sun", 2) == tags.search_tags(conn, "sun", limit=1)[0]
        assert tags.count_tag(conn, "moon") == TagCount("moon", 0)
        with pytest.raises(InvalidInput, match="tag 'a b'") as caught:
            tags.count_tag(conn, "a b")
        assert caught.value.field == "tag"
