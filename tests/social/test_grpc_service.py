"""The gRPC SocialService on a real server (the queue's, with API keys on, as ``darkroom up`` runs
it), a real Redis, and SQLite (PostgreSQL too where the transactions matter). Rows are made by the
domain functions and ``tests/social/rows.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import redis
import sqlalchemy as sa
from google.protobuf.field_mask_pb2 import FieldMask

from darkroom._proto.darkroom.queue.v1 import queue_pb2, queue_pb2_grpc
from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom._proto.darkroom.social.v1 import social_pb2_grpc as pb_grpc
from darkroom.api.grpc_status import ERROR_FIELD_KEY, error_from_rpc
from darkroom.queue.server import ServerThread
from darkroom.social import credentials, graph, reactions, tokens
from darkroom.social.errors import NotFound
from darkroom.social.grpc_handlers import ETAG_KEY
from darkroom.social.grpc_service import SERVICE_NAME, SocialService, add_to_server
from darkroom.social.statuses import SOCIAL_STATUSES
from darkroom.social.viewer import Scope
from darkroom.storage.schema import accounts, posts
from tests.social.people import User, member_in
from tests.social.rows import make_post, make_upload
from tests.social.statements import statements

C = grpc.StatusCode
API_KEY = "k-service-0123456789"
SECRET = b"grpc-test-secret-0123456789abcdef"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
def server(db_engine: sa.Engine, redis_client: redis.Redis, redis_url: str) -> Iterator[ServerThread]:
    """The queue's server with API keys required and the SocialService mounted beside it."""
    service = SocialService(db_engine, redis_client, secret=SECRET)
    with ServerThread(
        redis_url,
        api_keys={"svc": API_KEY},
        extra_services=[lambda s: add_to_server(s, service)],
        own_auth_services=[SERVICE_NAME],
    ) as srv:
        yield srv


@pytest.fixture
def channel(server: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> Any:
    return pb_grpc.SocialServiceStub(channel)


def user(engine: sa.Engine, handle: str, *, private: bool = False) -> User:
    with engine.begin() as conn:
        return member_in(conn, handle, private=private)


def follow(engine: sa.Engine, follower: User, followee: User) -> None:
    with engine.begin() as conn:
        graph.follow(conn, follower.person.viewer, followee.handle)
        if followee.person.account.private:
            graph.accept_request(conn, followee.person.viewer, follower.handle)


def new_posts(engine: sa.Engine, author: User, n: int, *, caption: str = "post") -> list[str]:
    with engine.begin() as conn:
        return [
            make_post(conn, author.id, caption=f"{caption} {i}", upload_ids=[make_upload(conn, author.id)])
            for i in range(n)
        ]


def auth(who: User | str | None) -> list[tuple[str, str]]:
    if who is None:
        return []
    return [("authorization", f"Bearer {who.token if isinstance(who, User) else who}")]


def mask(paths: str) -> FieldMask:
    return FieldMask(paths=paths.split(","))


@dataclass(frozen=True)
class Failure:
    code: grpc.StatusCode
    field: str | None
    details: str
    error: grpc.RpcError


def fails(call: Callable[..., Any], request: Any, who: User | str | None = None) -> Failure:
    with pytest.raises(grpc.RpcError) as info:
        call(request, metadata=auth(who))
    err = info.value
    meta = dict(err.trailing_metadata() or ())  # type: ignore[attr-defined]
    return Failure(err.code(), meta.get(ERROR_FIELD_KEY), err.details(), err)  # type: ignore[attr-defined]


def without_begin(sent: list[str]) -> list[str]:
    """The queries among ``sent``, after checking that no transaction took SQLite's write lock
    (``BEGIN IMMEDIATE``; reads begin ``DEFERRED``)."""
    assert not any(s.startswith("BEGIN IMMEDIATE") for s in sent), sent
    return [s for s in sent if not s.startswith("BEGIN")]


def set_fields(message: Any) -> set[str]:
    return {fd.name for fd, _ in message.ListFields()}


def pages(call: Callable[..., Any], request: Any, who: User | None, items: str) -> list[list[Any]]:
    """Every page of a list, following ``next_page_token`` to the end."""
    out = []
    while True:
        reply = call(request, metadata=auth(who))
        out.append(list(getattr(reply, items)))
        if not reply.next_page_token:
            return out
        request.page_token = reply.next_page_token


# -- authentication: people's tokens beside the platform's API keys -----------------------------------
@sqlite_only
def test_people_call_the_social_service_with_their_tokens_and_the_queue_still_needs_a_key(
    db_engine: sa.Engine, stub: Any, channel: grpc.Channel
) -> None:
    alice = user(db_engine, "alice")
    me = stub.GetAccount(pb.GetAccountRequest(handle="alice"), metadata=auth(alice))
    assert me.handle == "alice" and me.follower_count == 0
    assert stub.GetAccount(pb.GetAccountRequest(handle="alice")).handle == "alice"  # anonymous, public

    queue = queue_pb2_grpc.QueueServiceStub(channel)
    refused = fails(queue.ListQueues, queue_pb2.ListQueuesRequest(), alice)  # a person's token is no API key
    assert (refused.code, refused.field) == (C.UNAUTHENTICATED, "authorization")
    assert fails(queue.ListQueues, queue_pb2.ListQueuesRequest()).code is C.UNAUTHENTICATED
    queue.ListQueues(queue_pb2.ListQueuesRequest(), metadata=auth(API_KEY))  # the key still works there

    for bad in ("drt_garbage", API_KEY):  # an API key is no person's token either
        failure = fails(stub.GetAccount, pb.GetAccountRequest(handle="alice"), bad)
        assert (failure.code, failure.field) == (C.UNAUTHENTICATED, "authorization")
    with pytest.raises(grpc.RpcError) as info:  # a header that is not 'Bearer <token>'
        stub.GetAccount(pb.GetAccountRequest(handle="alice"), metadata=[("authorization", "Basic abc")])
    assert info.value.code() is C.UNAUTHENTICATED  # type: ignore[attr-defined]


@sqlite_only
def test_a_revoked_token_is_unauthenticated_and_a_malformed_body_invalid(
    db_engine: sa.Engine, stub: Any, channel: grpc.Channel
) -> None:
    alice = user(db_engine, "alice")
    with db_engine.begin() as conn:
        credentials.revoke(conn, alice.person.viewer, tokens.list_tokens(conn, alice.person.viewer)[0].id)
    assert fails(stub.GetAccount, pb.GetAccountRequest(handle="alice"), alice).code is C.UNAUTHENTICATED
    raw = channel.unary_unary(f"/{SERVICE_NAME}/GetPost")  # bytes that are no GetPostRequest
    with pytest.raises(grpc.RpcError) as info:
        raw(b"\xff\xff\xff")
    assert info.value.code() is C.INVALID_ARGUMENT  # type: ignore[attr-defined]


# -- accounts ---------------------------------------------------------------------------------------
@sqlite_only
def test_get_account_with_and_without_a_read_mask(db_engine: sa.Engine, stub: Any) -> None:
    alice, bob = user(db_engine, "alice"), user(db_engine, "bob")
    follow(db_engine, bob, alice)
    whole, call = stub.GetAccount.with_call(pb.GetAccountRequest(handle="ALICE"), metadata=auth(bob))
    assert (whole.id, whole.handle, whole.followed_by_me) == (alice.id, "alice", True)
    assert whole.HasField("created_at")
    etag = dict(call.initial_metadata())[ETAG_KEY]
    assert etag.startswith('W/"')
    narrow, call = stub.GetAccount.with_call(
        pb.GetAccountRequest(handle="alice", read_mask=mask("handle,followed_by_me")), metadata=auth(bob)
    )
    assert narrow == pb.Account(handle="alice", followed_by_me=True)
    assert dict(call.initial_metadata())[ETAG_KEY] == etag  # the resource's version, whatever the mask
    unknown = fails(stub.GetAccount, pb.GetAccountRequest(handle="alice", read_mask=mask("handle,shoe_size")))
    assert (unknown.code, unknown.field) == (C.INVALID_ARGUMENT, "read_mask") and "shoe_size" in unknown.details
    assert fails(stub.GetAccount, pb.GetAccountRequest(handle="nobody")).code is C.NOT_FOUND
    assert fails(stub.GetAccount, pb.GetAccountRequest()).field == "handle"


@sqlite_only
def test_update_account_with_a_mask_and_an_etag(db_engine: sa.Engine, stub: Any) -> None:
    alice = user(db_engine, "alice")
    before, call = stub.GetAccount.with_call(pb.GetAccountRequest(handle="alice"), metadata=auth(alice))
    etag = dict(call.initial_metadata())[ETAG_KEY]
    body = pb.Account(handle="ignored", display_name="Alice A.", bio="not this")
    updated, call = stub.UpdateAccount.with_call(
        pb.UpdateAccountRequest(account=body, update_mask=mask("display_name"), etag=etag), metadata=auth(alice)
    )
    assert (updated.handle, updated.display_name, updated.bio) == ("alice", "Alice A.", before.bio)
    fresh = dict(call.initial_metadata())[ETAG_KEY]
    assert fresh != etag

    def version() -> int:
        with db_engine.connect() as conn:
            return int(conn.execute(sa.select(accounts.c.version).where(accounts.c.id == alice.id)).scalar_one())

    written = version()
    stale = fails(stub.UpdateAccount, pb.UpdateAccountRequest(account=body, update_mask=mask("bio"), etag=etag), alice)
    assert (stale.code, stale.field) == (C.ABORTED, "etag")  # AIP-154
    for paths, named in (("bio,shoe_size", "shoe_size"), ("handle", "handle"), ("", "update_mask")):
        refused = fails(stub.UpdateAccount, pb.UpdateAccountRequest(account=body, update_mask=mask(paths)), alice)
        assert (refused.code, refused.field) == (C.INVALID_ARGUMENT, "update_mask") and named in refused.details
    too_long = pb.Account(display_name="x" * 65)
    refused = fails(stub.UpdateAccount, pb.UpdateAccountRequest(account=too_long, update_mask=mask("*")), alice)
    assert (refused.code, refused.field) == (C.INVALID_ARGUMENT, "account.display_name")
    anonymous = fails(stub.UpdateAccount, pb.UpdateAccountRequest(account=body, update_mask=mask("bio")))
    assert anonymous.code is C.UNAUTHENTICATED
    with db_engine.begin() as conn:
        reader = tokens.create_token(conn, alice.person.viewer, name="ro", scopes=[Scope.READ]).secret
    read_only = fails(stub.UpdateAccount, pb.UpdateAccountRequest(account=body, update_mask=mask("bio")), reader)
    assert read_only.code is C.PERMISSION_DENIED
    assert version() == written  # nothing refused was written

    done = stub.UpdateAccount(
        pb.UpdateAccountRequest(account=pb.Account(bio="new bio"), update_mask=mask("bio"), etag=fresh),
        metadata=auth(alice),
    )
    assert (done.display_name, done.bio) == ("Alice A.", "new bio")


# -- posts ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_get_post_with_a_read_mask_loads_no_author(db_engine: sa.Engine, stub: Any) -> None:
    alice = user(db_engine, "alice")
    (post_id,) = new_posts(db_engine, alice, 1, caption="hello #sun")
    with statements(db_engine) as sent:
        narrow = stub.GetPost(pb.GetPostRequest(id=post_id, read_mask=mask("id,caption")))
    assert narrow == pb.Post(id=post_id, caption="hello #sun 0")
    queries = without_begin(sent)
    assert len(queries) == 1, sent  # anonymous: the posts statement, nothing about the viewer
    assert not any(word in queries[0] for word in ("handle", "display_name", "post_media", "post_tags")), sent
    with statements(db_engine) as sent:
        whole, call = stub.GetPost.with_call(pb.GetPostRequest(id=post_id))
    assert whole.author.handle == "alice" and len(whole.media) == 1 and list(whole.tags) == []
    assert "handle" in without_begin(sent)[0]
    assert dict(call.initial_metadata())[ETAG_KEY].startswith('W/"')
    assert fails(stub.GetPost, pb.GetPostRequest(id="not-an-id")).field == "id"
    missing = fails(stub.GetPost, pb.GetPostRequest(id=post_id[:-1] + ("0" if post_id[-1] != "0" else "1")))
    assert (missing.code, missing.field) == (C.NOT_FOUND, "id")
    assert isinstance(error_from_rpc(missing.error, SOCIAL_STATUSES), NotFound)  # the typed error comes back


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_update_post_caption_with_a_mask_and_an_etag(db_engine: sa.Engine, stub: Any) -> None:
    alice, bob = user(db_engine, "alice"), user(db_engine, "bob")
    (post_id,) = new_posts(db_engine, alice, 1)
    listed = stub.ListAccountPosts(pb.ListAccountPostsRequest(handle="alice"))  # now in the post cache
    assert listed.posts[0].caption == "post 0"
    _, call = stub.GetPost.with_call(pb.GetPostRequest(id=post_id))
    etag = dict(call.initial_metadata())[ETAG_KEY]
    body = pb.Post(id=post_id, caption="new words #moon", like_count=99)

    not_hers = fails(stub.UpdatePost, pb.UpdatePostRequest(post=body, update_mask=mask("caption"), etag='W/"x"'), bob)
    assert not_hers.code is C.PERMISSION_DENIED  # who may change it comes before the etag
    for paths, named in (("caption,like_count", "like_count"), ("captoin", "captoin"), ("", "update_mask")):
        refused = fails(stub.UpdatePost, pb.UpdatePostRequest(post=body, update_mask=mask(paths)), alice)
        assert (refused.code, refused.field) == (C.INVALID_ARGUMENT, "update_mask") and named in refused.details
    too_long = pb.Post(id=post_id, caption="x" * 2201)
    refused = fails(stub.UpdatePost, pb.UpdatePostRequest(post=too_long, update_mask=mask("caption")), alice)
    assert (refused.code, refused.field) == (C.INVALID_ARGUMENT, "post.caption")
    missing = fails(stub.UpdatePost, pb.UpdatePostRequest(post=pb.Post(caption="x"), update_mask=mask("*")), alice)
    assert (missing.code, missing.field) == (C.INVALID_ARGUMENT, "post.id")

    updated, call = stub.UpdatePost.with_call(
        pb.UpdatePostRequest(post=body, update_mask=mask("*"), etag=etag), metadata=auth(alice)
    )
    assert (updated.caption, list(updated.tags), updated.like_count) == ("new words #moon", ["moon"], 0)
    assert dict(call.initial_metadata())[ETAG_KEY] != etag
    stale = fails(stub.UpdatePost, pb.UpdatePostRequest(post=body, update_mask=mask("caption"), etag=etag), alice)
    assert (stale.code, stale.field) == (C.ABORTED, "etag")
    with db_engine.connect() as conn:
        assert conn.execute(sa.select(posts.c.version).where(posts.c.id == post_id)).scalar_one() == 2
    listed = stub.ListAccountPosts(pb.ListAccountPostsRequest(handle="alice"))
    assert listed.posts[0].caption == "new words #moon"  # the cached copy was invalidated


@sqlite_only
def test_a_private_accounts_posts_are_not_found_for_non_followers(db_engine: sa.Engine, stub: Any) -> None:
    alice, bob, carol = user(db_engine, "alice", private=True), user(db_engine, "bob"), user(db_engine, "carol")
    follow(db_engine, bob, alice)
    (post_id,) = new_posts(db_engine, alice, 1)
    request = pb.ListAccountPostsRequest(handle="alice", read_mask=mask("id"))
    for stranger in (carol, None):
        assert fails(stub.ListAccountPosts, request, stranger).code is C.NOT_FOUND
        assert fails(stub.GetPost, pb.GetPostRequest(id=post_id), stranger).code is C.NOT_FOUND
        assert fails(stub.ListFollowers, pb.ListAccountsRequest(handle="alice"), stranger).code is C.NOT_FOUND
        assert fails(stub.ListComments, pb.ListCommentsRequest(post_id=post_id), stranger).code is C.NOT_FOUND
    assert [p.id for p in stub.ListAccountPosts(request, metadata=auth(bob)).posts] == [post_id]
    assert stub.GetPost(pb.GetPostRequest(id=post_id), metadata=auth(alice)).id == post_id


@sqlite_only
def test_account_posts_page_size_100_and_101_with_a_deleted_post_in_the_middle(db_engine: sa.Engine, stub: Any) -> None:
    alice = user(db_engine, "alice")
    ids = new_posts(db_engine, alice, 102)
    with db_engine.begin() as conn:
        conn.execute(sa.update(posts).where(posts.c.id == ids[50]).values(deleted_at=1.0))
    request = pb.ListAccountPostsRequest(handle="alice", page_size=100, read_mask=mask("id,like_count"))
    first, second = pages(stub.ListAccountPosts, request, None, "posts")
    assert [p.id for p in first + second] == [i for i in reversed(ids) if i != ids[50]]
    assert (len(first), len(second)) == (100, 1)
    assert set_fields(first[0]) == {"id"}  # like_count 0 is its default: proto3 does not send it
    too_many = fails(stub.ListAccountPosts, pb.ListAccountPostsRequest(handle="alice", page_size=101))
    assert (too_many.code, too_many.field) == (C.INVALID_ARGUMENT, "page_size")
    assert len(stub.ListAccountPosts(pb.ListAccountPostsRequest(handle="alice")).posts) == 20  # 0: the default
    whole = stub.ListAccountPosts(pb.ListAccountPostsRequest(handle="alice", page_size=1)).posts[0]
    assert whole.author.handle == "alice" and whole.caption == "post 101"


# -- page tokens ------------------------------------------------------------------------------------
@sqlite_only
def test_follow_lists_page_with_signed_tokens_bound_to_their_list(db_engine: sa.Engine, stub: Any) -> None:
    alice = user(db_engine, "alice")
    fans = [user(db_engine, f"fan{i}") for i in range(5)]
    for fan in fans:
        follow(db_engine, fan, alice)
        follow(db_engine, alice, fan)
    request = pb.ListAccountsRequest(handle="alice", page_size=2, read_mask=mask("handle"))
    followers = pages(stub.ListFollowers, request, alice, "accounts")
    assert [len(p) for p in followers] == [2, 2, 1]
    assert [a.handle for p in followers for a in p] == [f"fan{i}" for i in reversed(range(5))]  # newest first
    assert all(set_fields(a) == {"handle"} for p in followers for a in p)
    following = stub.ListFollowing(pb.ListAccountsRequest(handle="alice", page_size=5), metadata=auth(alice))
    assert [a.handle for a in following.accounts] == [f"fan{i}" for i in reversed(range(5))]
    assert following.accounts[0].follows_me and following.accounts[0].follower_count == 0  # whole accounts

    token = stub.ListFollowers(pb.ListAccountsRequest(handle="alice", page_size=2)).next_page_token
    for other in (
        pb.ListAccountsRequest(handle="fan0", page_token=token),  # another account's list
        pb.ListAccountsRequest(handle="alice", page_token=token[:-2] + ("AA" if token[-2:] != "AA" else "BB")),
        pb.ListAccountsRequest(handle="alice", page_token="garbage!"),
    ):
        refused = fails(stub.ListFollowers, other)
        assert (refused.code, refused.field) == (C.INVALID_ARGUMENT, "page_token")
    assert fails(stub.ListFollowing, pb.ListAccountsRequest(handle="alice", page_token=token)).field == "page_token"


# -- the feed ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_list_feed_reads_in_a_read_only_transaction_with_and_without_a_mask(db_engine: sa.Engine, stub: Any) -> None:
    alice, bob, carol = user(db_engine, "alice"), user(db_engine, "bob"), user(db_engine, "carol")
    follow(db_engine, bob, alice)
    ids = new_posts(db_engine, alice, 3) + new_posts(db_engine, carol, 2)  # carol is not followed
    with db_engine.begin() as conn:
        reactions.like(conn, bob.person.viewer, ids[0])
    request = pb.ListFeedRequest(page_size=2, read_mask=mask("id,liked_by_me"))
    got = pages(stub.ListFeed, request, bob, "posts")
    assert [p.id for page in got for p in page] == list(reversed(ids[:3]))
    assert [p.liked_by_me for page in got for p in page] == [False, False, True]
    with statements(db_engine) as sent:  # bob's token was noted in the first call: now only reads
        whole = stub.ListFeed(pb.ListFeedRequest(), metadata=auth(bob)).posts
    assert not any(q.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")) for q in without_begin(sent)), sent
    assert [p.author.handle for p in whole] == ["alice"] * 3 and whole[0].caption == "post 2"
    assert fails(stub.ListFeed, pb.ListFeedRequest()).code is C.UNAUTHENTICATED  # a feed is someone's
    token = stub.ListFeed(pb.ListFeedRequest(page_size=1), metadata=auth(bob)).next_page_token
    assert fails(stub.ListFeed, pb.ListFeedRequest(page_token=token), carol).field == "page_token"  # bob's


# -- comments and likes -----------------------------------------------------------------------------
@sqlite_only
def test_comments_and_likes_with_and_without_a_mask(db_engine: sa.Engine, stub: Any) -> None:
    alice, bob, carol = user(db_engine, "alice"), user(db_engine, "bob"), user(db_engine, "carol")
    (post_id,) = new_posts(db_engine, alice, 1)
    with db_engine.begin() as conn:
        for who, text in ((bob, "first"), (carol, "second"), (bob, "third")):
            reactions.add_comment(conn, who.person.viewer, post_id, text)
        for who in (bob, carol):
            reactions.like(conn, who.person.viewer, post_id)

    with statements(db_engine) as sent:
        texts = pages(
            stub.ListComments,
            pb.ListCommentsRequest(post_id=post_id, page_size=2, read_mask=mask("text")),
            None,
            "comments",
        )
    assert [[c.text for c in p] for p in texts] == [["first", "second"], ["third"]]  # oldest first
    assert all(set_fields(c) == {"text"} for p in texts for c in p)
    assert not any("display_name" in s for s in without_begin(sent))  # no author loaded
    whole = stub.ListComments(pb.ListCommentsRequest(post_id=post_id), metadata=auth(alice)).comments
    assert [c.author.handle for c in whole] == ["bob", "carol", "bob"] and whole[0].post_id == post_id

    likes = stub.ListLikes(pb.ListLikesRequest(post_id=post_id, read_mask=mask("account.handle")))
    assert [like.account.handle for like in likes.likes] == ["carol", "bob"]  # newest first
    assert all(set_fields(like) == {"account"} for like in likes.likes)
    whole_likes = stub.ListLikes(pb.ListLikesRequest(post_id=post_id), metadata=auth(alice)).likes
    assert whole_likes[0].HasField("created_at") and whole_likes[0].account.id == carol.id
    bad = fails(stub.ListLikes, pb.ListLikesRequest(post_id=post_id, read_mask=mask("account.shoe_size")))
    assert (bad.code, bad.field) == (C.INVALID_ARGUMENT, "read_mask") and "shoe_size" in bad.details
    assert fails(stub.ListLikes, pb.ListLikesRequest(post_id=post_id, page_size=-1)).field == "page_size"
    assert fails(stub.ListComments, pb.ListCommentsRequest(post_id="nope")).code is C.INVALID_ARGUMENT
