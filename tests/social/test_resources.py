"""darkroom.social.resources: rows → proto messages, read masks pushed down to the queries."""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa
from google.protobuf import json_format

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api.errors import InvalidFieldMask
from darkroom.social import reactions, resources
from darkroom.social.reactions import LikeRow
from darkroom.social.tags import TagCount
from darkroom.social.viewer import Viewer
from tests.social.rows import make_account, make_block, make_follow, make_post, make_upload, photo_info, viewer_of
from tests.social.statements import statements


class SigningUrls:
    """Marks which renditions would be signed, as the HTTP layer's implementation does."""

    def url(self, key: str, *, private: bool) -> str:
        return f"/signed/{key}" if private else f"/v1/media/{key}"


def _page(conn: sa.Connection, n: int = 20) -> tuple[list[str], str, str]:
    """``n`` posts by one author, each with two photos, two tags and a mention; the author's and
    the mentioned account's ids."""
    author = make_account(conn, "author", avatar_upload_id=None)
    friend = make_account(conn, "friend")
    ids = []
    for i in range(n):
        uploads = [make_upload(conn, author) for _ in range(2)]
        ids.append(
            make_post(conn, author, caption=f"post {i}", tags=["b", "a"], upload_ids=uploads, mention_ids=[friend])
        )
    return ids, author, friend


# -- posts ------------------------------------------------------------------------------------------
def test_a_post_with_every_field(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        avatar = None
        author = make_account(conn, "author", display_name="The <b>Author</b>")
        avatar = make_upload(conn, author, info=photo_info("avatars/a"))
        conn.execute(sa.text("UPDATE accounts SET avatar_upload_id = :u WHERE id = :a"), {"u": avatar, "a": author})
        fan = make_account(conn, "fan")
        video = make_upload(
            conn,
            author,
            kind="video",
            info={
                "width": 1920,
                "height": 1080,
                "duration_s": 12.5,
                "renditions": [
                    {"key": "v/master.m3u8", "content_type": "application/vnd.apple.mpegurl", "role": "hls"}
                ],
            },
        )
        photo = make_upload(conn, author, info=photo_info("p/1"))
        post = make_post(
            conn, author, caption="<i>hi</i> #b #a @fan", tags=["b", "a"], upload_ids=[video, photo], mention_ids=[fan]
        )
        reactions.like(conn, viewer_of(conn, fan), post)
        got = resources.load_posts(conn, [post], viewer_of(conn, fan))[post]
    assert got.id == post and got.caption == "<i>hi</i> #b #a @fan" and got.state == "ready"
    assert got.author.handle == "author" and got.author.display_name == "The <b>Author</b>"
    assert [r.url for r in got.author.avatar.renditions] == [
        "/v1/media/avatars/a-1080.jpg",
        "/v1/media/avatars/a-320.jpg",
    ]
    assert [m.id for m in got.media] == [video, photo]  # in post order
    assert (got.media[0].kind, got.media[0].width, got.media[0].duration_s) == ("video", 1920, 12.5)
    assert got.media[0].renditions[0] == pb.Rendition(
        url="/v1/media/v/master.m3u8", content_type="application/vnd.apple.mpegurl", role="hls"
    )
    assert list(got.tags) == ["a", "b"] and list(got.mentions) == ["fan"]
    assert got.liked_by_me and not got.author.followed_by_me
    assert got.created_at.seconds > 0 and got.error == ""


def test_media_urls_are_signed_for_private_accounts_only(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        public, private = make_account(conn, "public"), make_account(conn, "private", private=True)
        posts = [
            make_post(conn, a, upload_ids=[make_upload(conn, a, info=photo_info(f"k/{a}"))]) for a in (public, private)
        ]
        admin = viewer_of(conn, make_account(conn, "admin", role="admin"))
        got = resources.load_posts(conn, posts, admin, "id,media", urls=SigningUrls())
    assert got[posts[0]].media[0].renditions[0].url == f"/v1/media/k/{public}-1080.jpg"
    assert got[posts[1]].media[0].renditions[0].url == f"/signed/k/{private}-1080.jpg"


def test_error_is_shown_to_the_author_only_and_unready_posts_to_the_author_only(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        author, other = make_account(conn, "author"), make_account(conn, "other")
        admin = make_account(conn, "admin", role="admin")
        failed = make_post(conn, author, state="failed", error="the video could not be decoded")
        mine = resources.load_posts(conn, [failed], viewer_of(conn, author), "id,state,error")
        theirs = resources.load_posts(conn, [failed], viewer_of(conn, other))
        admins = resources.load_posts(conn, [failed], viewer_of(conn, admin))
    assert mine[failed].error == "the video could not be decoded" and mine[failed].state == "failed"
    assert theirs == {}
    assert admins[failed].error == ""


def test_invisible_and_deleted_posts_are_left_out(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        me, private, blocker = (
            make_account(conn, "me"),
            make_account(conn, "private", True),
            make_account(conn, "blocker"),
        )
        make_block(conn, blocker, me)
        ok = make_post(conn, me)
        hidden = [make_post(conn, private), make_post(conn, blocker), make_post(conn, me, deleted=True)]
        got = resources.load_posts(conn, [ok, *hidden, "01ARZ3NDEKTSV4RRFFQ69G5FAV"], viewer_of(conn, me))
    assert list(got) == [ok]


def test_a_page_of_20_posts_costs_two_statements_and_the_mask_decides_what_they_touch(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        ids, author, _ = _page(conn)
        viewer = viewer_of(conn, make_account(conn, "reader"))
        make_follow(conn, viewer.account_id, author)
        reactions.like(conn, viewer, ids[3])
        cases = {
            "": (viewer, 2),
            "id,caption,like_count": (viewer, 2),  # visibility still needs the viewer's blocks
            "id,author.handle,media": (viewer, 2),
            "id,caption": (None, 1),  # anonymous: visibility needs only the author's private flag
            "*": (None, 1),
        }
        seen: dict[str, list[str]] = {}
        got: dict[str, dict[str, pb.Post]] = {}
        for mask, (who, expected) in cases.items():
            with statements(db_engine) as sent:
                got[mask] = resources.load_posts(conn, ids, who, mask)
            assert len(sent) == expected, (mask, sent)
            assert len(got[mask]) == 20
            seen[mask] = sent
    touches = {mask: " ".join(sent).lower() for mask, sent in seen.items()}
    for table in ("uploads", "post_media", "post_tags", "mentions", "likes", "handle"):
        assert table in touches[""], table
        assert table not in touches["id,caption,like_count"], table
        assert table not in touches["id,caption"], table
    assert "uploads" in touches["id,author.handle,media"] and "handle" in touches["id,author.handle,media"]
    for table in ("post_tags", "mentions", "likes", "avatar"):
        assert table not in touches["id,author.handle,media"], table
    assert got[""][ids[3]].liked_by_me and not got[""][ids[4]].liked_by_me
    assert got[""][ids[0]].author.followed_by_me
    assert got["id,caption"][ids[0]] == pb.Post(id=ids[0], caption="post 0")
    assert got["id,author.handle,media"][ids[0]].author == pb.Account(handle="author")


def test_unknown_mask_paths_are_refused_naming_them(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        post = make_post(conn, make_account(conn, "author"))
        for bad, named in (
            ("id,nope", "'nope'"),
            ("author.nope", "'nope'"),
            ("media.url", "media"),  # a repeated field ends a path
            ("caption.x", "caption"),
        ):
            with pytest.raises(InvalidFieldMask, match=named):
                resources.load_posts(conn, [post], None, bad)
        with pytest.raises(InvalidFieldMask, match="'nope'"):
            resources.load_accounts(conn, [], None, "nope")
        with pytest.raises(InvalidFieldMask, match=r"'author\.x'"):
            resources.comment_messages(conn, [], None, "author.x")
        with pytest.raises(InvalidFieldMask, match="'acount'"):
            resources.like_messages(conn, [], None, "acount")
        with pytest.raises(ValueError, match="'nope'"):  # InvalidFieldMask is a ValueError (HTTP 400)
            resources.to_json(pb.Post(), "nope")


# -- accounts, comments, likes ----------------------------------------------------------------------
def test_accounts_with_viewer_fields_in_one_batch(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        me = make_account(conn, "me")
        followed, requested = make_account(conn, "followed"), make_account(conn, "requested", private=True)
        follower, blocked, blocker = (
            make_account(conn, "follower"),
            make_account(conn, "blocked"),
            make_account(conn, "blocker"),
        )
        make_follow(conn, me, followed)
        make_follow(conn, me, requested, state="requested")
        make_follow(conn, follower, me)
        make_block(conn, me, blocked)
        make_block(conn, blocker, me)
        ids = [me, followed, requested, follower, blocked, blocker]
        viewer = viewer_of(conn, me)
        with statements(db_engine) as sent:
            got = resources.load_accounts(
                conn, ids, viewer, "handle,followed_by_me,requested_by_me,follows_me,blocked_by_me"
            )
        assert len(sent) == 2
        with statements(db_engine) as sent:
            anonymous = resources.load_accounts(conn, ids, None, "handle,private")
        assert len(sent) == 1 and "avatar" not in sent[0]
    flags = {a.handle: (a.followed_by_me, a.requested_by_me, a.follows_me, a.blocked_by_me) for a in got.values()}
    assert flags == {
        "me": (False, False, False, False),
        "followed": (True, False, False, False),
        "requested": (False, True, False, False),
        "follower": (False, False, True, False),
        "blocked": (False, False, False, True),  # still readable to me, so I can unblock it
    }  # "blocker" hides itself from me
    assert len(anonymous) == 6 and anonymous[requested] == pb.Account(handle="requested", private=True)


def test_comments_load_authors_only_when_selected(db_engine: sa.Engine) -> None:
    hostile = '<script>alert("x")</script>'
    with db_engine.begin() as conn:
        author, fan = make_account(conn, "author"), make_account(conn, "fan")
        post = make_post(conn, author)
        for i in range(20):
            reactions.add_comment(conn, viewer_of(conn, fan if i % 2 else author), post, hostile)
        rows = reactions.list_comments(conn, None, post).items
        fan_v = viewer_of(conn, fan)
        with statements(db_engine) as sent:
            bare = resources.comment_messages(conn, rows, None, "id,text")
        assert sent == []
        with statements(db_engine) as sent:
            full = resources.comment_messages(conn, rows, fan_v)
        assert len(sent) == 2  # the authors, and the viewer's relations to them
        by_id = resources.load_comments(conn, [rows[0].id, rows[1].id], None, "id,author.handle")
    assert [c.text for c in bare] == [hostile] * 20 and not bare[0].HasField("author")
    assert {c.author.handle for c in full} == {"author", "fan"}
    assert by_id[rows[1].id] == pb.Comment(id=rows[1].id, author=pb.Account(handle="fan"))
    assert resources.to_json(full[0], "text") == orjson.dumps({"text": hostile})  # markup stays text


def test_load_comments_hides_comments_on_posts_the_viewer_may_not_see(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        private = make_account(conn, "private", private=True)
        post = make_post(conn, private)
        comment = reactions.add_comment(conn, viewer_of(conn, private), post, "mine").id
        assert resources.load_comments(conn, [comment], None) == {}
        assert list(resources.load_comments(conn, [comment], viewer_of(conn, private))) == [comment]


def test_likes_load_accounts_only_when_selected(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        author = make_account(conn, "author")
        post = make_post(conn, author)
        fans = [make_account(conn, f"fan{i}") for i in range(3)]
        for fan in fans:
            reactions.like(conn, viewer_of(conn, fan), post)
        rows = reactions.list_likes(conn, None, post).items
        with statements(db_engine) as sent:
            times = resources.like_messages(conn, rows, None, "created_at")
        assert sent == []
        with statements(db_engine) as sent:
            who = resources.like_messages(conn, rows, None, "account.handle")
        assert len(sent) == 1
    assert all(t.created_at.seconds > 0 and not t.HasField("account") for t in times)
    assert [w.account.handle for w in who] == ["fan2", "fan1", "fan0"]
    assert rows[0] == LikeRow(fans[2], post, rows[0].created_at)


# -- JSON -------------------------------------------------------------------------------------------
def test_json_is_the_proto3_mapping_with_field_names_as_written(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        ids, _, _ = _page(conn, 2)
        post = resources.load_posts(conn, ids, Viewer("01ARZ3NDEKTSV4RRFFQ69G5FAV", "x"))[ids[0]]
    expected = json_format.MessageToDict(
        post, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    assert orjson.loads(resources.to_json(post)) == expected
    printed = orjson.loads(resources.to_json(post, "id,like_count,liked_by_me,author.follower_count,created_at"))
    assert printed == {
        "id": ids[0],
        "like_count": 0,  # selected fields print their defaults
        "liked_by_me": False,
        "author": {"follower_count": 0},
        "created_at": post.created_at.ToJsonString(),  # RFC 3339
    }
    upload = pb.Upload(id="u", length_bytes=2**40, received_bytes=0)
    assert orjson.loads(resources.to_json(upload, "length_bytes,received_bytes")) == {
        "length_bytes": str(2**40),  # int64 as a string
        "received_bytes": "0",
    }
    assert resources.to_dict(resources.tag_message(TagCount("sun", 3))) == {"name": "sun", "post_count": 3}
