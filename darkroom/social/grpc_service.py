"""The gRPC ``darkroom.social.v1.SocialService``: the HTTP API's accounts, posts, feed, comments and
likes for programs that speak gRPC, over the same domain functions and the same messages.

- **One definition.** Replies are ``social.proto``'s messages built by ``resources`` (the HTTP
  JSON is their proto3 JSON mapping), so no field is kept twice.
- **Masks.** ``read_mask`` goes through ``darkroom.api.fieldmask`` to the loaders
  (``resources.load_accounts``, ``fetch_post_records``/``finish_posts``, ``postcache.hydrate``,
  ``comment_messages``, ``like_messages``), which leave out the work behind unselected fields; on
  lists it applies to each item. ``update_mask`` is required (AIP-134): an unknown path, or one
  that cannot be written, is INVALID_ARGUMENT naming it.
- **ETags** (AIP-154). Get and Update answer with initial metadata ``etag``: a weak tag of the
  resource's version, whatever the mask. An update's ``etag`` that is no longer current is
  ABORTED (checked after the caller's right to change the resource, so it reveals nothing).
- **People, not programs.** A call carries ``authorization: Bearer <token>`` (a token or session
  of ``credentials``) or nothing (anonymous reads of public data). Servers that require API keys
  let this service's calls through to this check (``BearerAuth(own_auth_services=...)``).
- **Pages.** ``page_size`` 1-100 (0: 20). ``page_token`` is the domain's cursor wrapped by
  ``api.cursors.CursorCodec``: signed with the service's secret and bound to its list
  (``followers:<handle>``, ``posts:<handle>``, ``feed:<account id>``, ``comments:<post id>``…).
  Every list RPC reads its page through one helper (``_read_page``); what a call carries (bearer,
  page size and token, etag) is checked in :mod:`darkroom.social.grpc_calls`.
- **Reads do not write.** They run in ``storage.db.read_only`` transactions (no SQLite write lock);
  the only write on a read path is ``credentials.note_use``, about once a minute per token.
- Each RPC runs through :mod:`darkroom.social.grpc_handlers` (one thread hop per call, the etag
  sent). Errors map through :data:`~darkroom.social.statuses.SOCIAL_STATUSES`; the offending
  request field (``page_size``, ``read_mask``, ``post.caption``…) is in ``darkroom-error-field``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc
import redis as redis_lib
import sqlalchemy as sa
from google.protobuf.message import Message

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api.fieldmask import Mask, format_path
from darkroom.social import (
    account_edits,
    accounts,
    credentials,
    graph,
    postcache,
    posts,
    profiles,
    reactions,
    resources,
)
from darkroom.social.errors import NotFound, PreconditionFailed, Unauthorized
from darkroom.social.feed import FeedConfig, FeedDesign, read_feed
from darkroom.social.grpc_calls import STALE, PageTokens, bearer, etag_of, expected_version, page_size, required
from darkroom.social.grpc_handlers import PAGING_FIELDS, Answer, Impl, method_handlers
from darkroom.social.handles import lookup_handle
from darkroom.social.ids import check_id
from darkroom.social.media import PLAIN_URLS, MediaUrls
from darkroom.social.metrics import FeedMetrics
from darkroom.social.paging import Page
from darkroom.social.viewer import Viewer, require, require_write
from darkroom.storage.db import read_only

__all__ = ["SERVICE_NAME", "SocialService", "add_to_server"]

M = TypeVar("M", bound=Message)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SocialService"].full_name


@dataclass(frozen=True, slots=True)
class _Shown(Generic[M]):
    """One page of a list RPC as the reply carries it: its messages and the next page token."""

    items: list[M]
    next_page_token: str


class SocialService:
    """The RPCs over ``engine`` (the metadata database) and ``redis`` (bytes replies: the post cache
    and the feeds). ``secret`` (16 bytes or more) signs page tokens: give every server of one
    deployment the same one (``darkroom.api.secret.load_secret``). ``urls`` makes rendition URLs
    (the HTTP app's signer, so private accounts' media stay behind signed URLs)."""

    def __init__(
        self,
        engine: sa.Engine,
        redis: redis_lib.Redis,
        *,
        secret: bytes,
        urls: MediaUrls = PLAIN_URLS,
        feed_design: FeedDesign = FeedDesign.HYBRID,
        feed_config: FeedConfig | None = None,
        feed_metrics: FeedMetrics | None = None,
    ) -> None:
        self.engine = engine
        self.reader = read_only(engine)
        self.redis = redis
        self.pages = PageTokens(secret)
        self.urls = urls
        self.feed_design = feed_design
        self.feed_config = feed_config or FeedConfig()
        # the feed reads' histogram (darkroom_feed_read_seconds), on the serving process's registry
        self.feed_metrics = feed_metrics

    def handler(self) -> grpc.GenericRpcHandler:
        """A generic handler serving every RPC of the service."""
        account_fields = {f: f"account.{f}" for f in account_edits.UPDATABLE_FIELDS}
        impls: dict[str, tuple[Impl, Mapping[str, str]]] = {
            "GetAccount": (self.get_account, {}),
            "UpdateAccount": (self.update_account, account_fields),
            "ListFollowers": (self.list_followers, PAGING_FIELDS),
            "ListFollowing": (self.list_following, PAGING_FIELDS),
            "GetPost": (self.get_post, {"post_id": "id"}),
            "UpdatePost": (self.update_post, {"post_id": "post.id", "caption": "post.caption"}),
            "ListAccountPosts": (self.list_account_posts, PAGING_FIELDS),
            "ListFeed": (self.list_feed, PAGING_FIELDS),
            "ListComments": (self.list_comments, PAGING_FIELDS),
            "ListLikes": (self.list_likes, PAGING_FIELDS),
        }
        return method_handlers(pb.DESCRIPTOR.services_by_name["SocialService"], impls, self.viewer)

    def viewer(self, metadata: Iterable[Any] | None) -> Viewer | None:
        """Who the call's bearer token belongs to; None without one; :class:`Unauthorized` for a
        malformed header or a token that is unknown, expired or revoked (even on public reads)."""
        token = bearer(metadata)
        if token is None:
            return None
        with self.reader.begin() as conn:
            found = credentials.identify(conn, token)
        if found is None:
            raise Unauthorized("the bearer token is not valid (unknown, expired or revoked)", field="authorization")
        if found.stale_use:
            with self.engine.begin() as conn:
                credentials.note_use(conn, found)
        return found.viewer

    # -- pages -------------------------------------------------------------------------------------
    def _read_page(
        self, page_token: str, list_name: str, read: Callable[[sa.Connection, str | None], Page[M]]
    ) -> _Shown[M]:
        """One page of list ``list_name``: ``page_token`` decoded to the domain's cursor, ``read``
        run on it in one read-only transaction, its next cursor encoded as the next page token."""
        cursor = self.pages.cursor(page_token, list_name)
        with self.reader.begin() as conn:
            page = read(conn, cursor)
        return _Shown(page.items, self.pages.token(page.next_cursor, list_name))

    # -- accounts ------------------------------------------------------------------------------------
    def get_account(self, r: pb.GetAccountRequest, viewer: Viewer | None) -> Answer:
        mask = resources.account_mask(r.read_mask)
        handle = required(r.handle, "handle")
        with self.reader.begin() as conn:
            row = accounts.get_account(conn, handle, viewer=viewer)
            found = resources.load_accounts(conn, [row.id], viewer, mask, urls=self.urls)
        if row.id not in found:  # it blocked the viewer in between
            raise NotFound(f"no account {handle!r}", field="handle")
        return Answer(found[row.id], etag_of("account", row.id, row.version))

    def update_account(self, r: pb.UpdateAccountRequest, viewer: Viewer | None) -> Answer:
        who = require_write(viewer)
        mask = Mask.parse(r.update_mask, pb.Account.DESCRIPTOR, name="update_mask")
        paths = [format_path(p) for p in mask.update_paths(allowed=account_edits.UPDATABLE_FIELDS)]
        body = r.account
        changes = account_edits.AccountChanges(
            display_name=body.display_name, bio=body.bio, private=body.private, avatar_upload_id=body.avatar.id
        )
        with self.engine.begin() as conn:
            current = accounts.get_accounts_by_id(conn, [who.account_id]).get(who.account_id)
            if current is None:
                raise Unauthorized("this account no longer exists", field="authorization")
            expected = expected_version(r.etag, "account", current.id, current.version)
            if expected == STALE:
                raise PreconditionFailed(
                    f"etag {r.etag!r} is not @{current.handle}'s current one: read it again, then retry", field="etag"
                )
            row = account_edits.update_account(conn, who, changes, paths, expected_version=expected)
            found = resources.load_accounts(conn, [row.id], who, urls=self.urls)
        return Answer(found[row.id], etag_of("account", row.id, row.version))

    def list_followers(self, r: pb.ListAccountsRequest, viewer: Viewer | None) -> Answer:
        return self._follow_list(r, viewer, "followers", graph.list_followers)

    def list_following(self, r: pb.ListAccountsRequest, viewer: Viewer | None) -> Answer:
        return self._follow_list(r, viewer, "following", graph.list_following)

    def _follow_list(
        self, r: pb.ListAccountsRequest, viewer: Viewer | None, kind: str, lister: Callable[..., Any]
    ) -> Answer:
        mask = resources.account_mask(r.read_mask)
        size = page_size(r.page_size)
        handle = required(r.handle, "handle")

        def read(conn: sa.Connection, cursor: str | None) -> Page[pb.Account]:
            page = lister(conn, viewer, handle, cursor, size)
            found = resources.load_accounts(conn, [a.id for a in page.items], viewer, mask, urls=self.urls)
            return Page([found[a.id] for a in page.items if a.id in found], page.next_cursor)

        shown = self._read_page(r.page_token, f"{kind}:{lookup_handle(handle) or handle}", read)
        return Answer(pb.ListAccountsResponse(accounts=shown.items, next_page_token=shown.next_page_token))

    # -- posts ---------------------------------------------------------------------------------------
    def get_post(self, r: pb.GetPostRequest, viewer: Viewer | None) -> Answer:
        mask = resources.post_mask(r.read_mask)
        post_id = check_id(required(r.id, "id"), field="id")
        with self.reader.begin() as conn:
            records = resources.fetch_post_records(conn, [post_id], mask)
            shown = resources.finish_posts(conn, records.values(), viewer, mask, urls=self.urls)
        if post_id not in shown:
            raise NotFound(f"no post {post_id}", field="id")
        return Answer(shown[post_id], etag_of("post", post_id, records[post_id].version))

    def update_post(self, r: pb.UpdatePostRequest, viewer: Viewer | None) -> Answer:
        who = require_write(viewer)
        Mask.parse(r.update_mask, pb.Post.DESCRIPTOR, name="update_mask").update_paths(allowed=("caption",))
        post_id = check_id(required(r.post.id, "post.id"), field="post.id")
        with self.engine.begin() as conn:
            current = posts.load_post(conn, post_id)
            expected = expected_version(r.etag, "post", post_id, current.version)
            try:  # the domain checks who may change the post before the version: a stale etag tells nothing
                posts.update_caption(conn, who, post_id, r.post.caption, expected_version=expected)
            except PreconditionFailed:
                if expected != STALE:
                    raise
                raise PreconditionFailed(
                    f"etag {r.etag!r} is not post {post_id}'s current one: read it again, then retry", field="etag"
                ) from None
            records = resources.fetch_post_records(conn, [post_id])
            shown = resources.finish_posts(conn, records.values(), who, urls=self.urls)
        postcache.invalidate(self.redis, [post_id])  # after the commit: a reader in between refills the old copy
        return Answer(shown[post_id], etag_of("post", post_id, records[post_id].version))

    def list_account_posts(self, r: pb.ListAccountPostsRequest, viewer: Viewer | None) -> Answer:
        mask = resources.post_mask(r.read_mask)
        size = page_size(r.page_size)
        handle = required(r.handle, "handle")

        def read(conn: sa.Connection, cursor: str | None) -> Page[pb.Post]:
            page = profiles.list_account_posts(conn, viewer, handle, cursor, size)
            return Page(postcache.hydrate(conn, self.redis, page.items, viewer, mask, urls=self.urls), page.next_cursor)

        shown = self._read_page(r.page_token, f"posts:{lookup_handle(handle) or handle}", read)
        return Answer(pb.ListPostsResponse(posts=shown.items, next_page_token=shown.next_page_token))

    def list_feed(self, r: pb.ListFeedRequest, viewer: Viewer | None) -> Answer:
        who = require(viewer)
        mask = resources.post_mask(r.read_mask)
        size = page_size(r.page_size)

        def read(conn: sa.Connection, cursor: str | None) -> Page[pb.Post]:
            # last_seen_at is noted when the token is (credentials.note_use), so the read stays read-only
            page = read_feed(
                conn,
                self.redis,
                who.account_id,
                cursor=cursor,
                limit=size,
                design=self.feed_design,
                config=self.feed_config,
                touch_last_seen=False,
                metrics=self.feed_metrics,
            )
            return Page(postcache.hydrate(conn, self.redis, page.post_ids, who, mask, urls=self.urls), page.next_cursor)

        shown = self._read_page(r.page_token, f"feed:{who.account_id}", read)
        return Answer(pb.ListPostsResponse(posts=shown.items, next_page_token=shown.next_page_token))

    # -- reactions -----------------------------------------------------------------------------------
    def list_comments(self, r: pb.ListCommentsRequest, viewer: Viewer | None) -> Answer:
        mask = resources.comment_mask(r.read_mask)
        size = page_size(r.page_size)
        post_id = required(r.post_id, "post_id")

        def read(conn: sa.Connection, cursor: str | None) -> Page[pb.Comment]:
            page = reactions.list_comments(conn, viewer, post_id, cursor, size)
            return Page(resources.comment_messages(conn, page.items, viewer, mask, urls=self.urls), page.next_cursor)

        shown = self._read_page(r.page_token, f"comments:{post_id}", read)
        return Answer(pb.ListCommentsResponse(comments=shown.items, next_page_token=shown.next_page_token))

    def list_likes(self, r: pb.ListLikesRequest, viewer: Viewer | None) -> Answer:
        mask = resources.like_mask(r.read_mask)
        size = page_size(r.page_size)
        post_id = required(r.post_id, "post_id")

        def read(conn: sa.Connection, cursor: str | None) -> Page[pb.Like]:
            page = reactions.list_likes(conn, viewer, post_id, cursor, size)
            return Page(resources.like_messages(conn, page.items, viewer, mask, urls=self.urls), page.next_cursor)

        shown = self._read_page(r.page_token, f"likes:{post_id}", read)
        return Answer(pb.ListLikesResponse(likes=shown.items, next_page_token=shown.next_page_token))


def add_to_server(server: grpc.aio.Server, service: SocialService) -> str:
    """Serve ``service`` on ``server`` (a ``grpc.aio.Server``, before it starts); returns the
    service name (the shape ``QueueServer(extra_services=...)`` expects). Name it in the server's
    ``own_auth_services`` too when the server requires API keys."""
    server.add_generic_rpc_handlers((service.handler(),))
    return SERVICE_NAME
