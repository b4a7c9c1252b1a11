"""The authorization matrix: every route of the HTTP API, asked by six kinds of caller about a
public and a private owner's resources, one request per case (docs/social.md, "Security tests").

Callers (columns): ``anonymous``; the ``owner`` of the resources; a ``follower`` (an active follow,
accepted by the private owner); a ``stranger`` (no relation); ``blocked``, an account the owner
blocks; an ``admin`` (no relation). The world is built once per module and database (accounts,
follows, the blocks, per owner a ready post with a like and a comment, a deleted one, one still
processing, uploads), through the domain and the rows helpers, no media workflow run.

Each cell is the expected status; ``sees`` / ``misses`` are a 200 whose body does / does not name
the row's subject (a post, a comment, an account: see :data:`CALLS`). On every answer, besides:
a deleted post's id never appears (the feed's Redis set and the post cache still hold it: the
world pushes it and caches it before deleting it), and every error is problem+json.

``any`` rows are about the caller's own things (sign-up, sessions, tokens, ``/me``): one case per
caller, on the public owner's world. Writes that would change the world (follow, block, delete
oneself, delete a post…) act on fresh things made for the case (``{spare_post}``, a fresh
follower…), so the order of the cases does not matter.
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis
import sqlalchemy as sa

from darkroom._proto.darkroom.social.v1.social_pb2 import Post
from darkroom.api.fieldmask import Mask
from darkroom.runtime.files import put_tree, read_tree, tree_digest
from darkroom.social import graph, media_access, passwords, postcache, posts, reactions, resumable, tokens
from darkroom.social.events import Event, EventType
from darkroom.social.feed import FanoutHandler, read_feed
from darkroom.social.intake import UploadLimits
from darkroom.social.media import PackageFile
from darkroom.social.viewer import Role, Scope
from darkroom.storage.blobs import LocalBlobs
from darkroom.storage.db import open_database
from darkroom.web.media_urls import SignedMediaUrls
from tests.social import people
from tests.social.media_helpers import jpeg_bytes
from tests.social.rows import make_upload, photo_info
from tests.web.media_app import RecordedStarts
from tests.web.real_app import SocialApp, social_app

ROLES = ("anonymous", "owner", "follower", "stranger", "blocked", "admin")
PLAYLIST, SEGMENT = "hls/master.m3u8", "hls/seg.m4s"  # the matrix posts' package

# fmt: off
#  route                                               owner    anonymous owner follower stranger blocked admin
MATRIX = """
POST   /v1/accounts                                    any      201     201     201     201     201     201
POST   /v1/sessions                                    any      201     201     201     201     201     201
DELETE /v1/sessions/current                            any      204     204     204     204     204     204
POST   /v1/tokens                                      any      401     201     201     201     201     201
GET    /v1/tokens                                      any      401     200     200     200     200     200
DELETE /v1/tokens/{owner_token}                        any      401     204     404     404     404     204
GET    /v1/accounts/me                                 any      401     200     200     200     200     200
PATCH  /v1/accounts/me                                 any      401     200     200     200     200     200
DELETE /v1/accounts/me                                 any      401     204     204     204     204     204
GET    /v1/accounts/me/export                          any      401     200     200     200     200     200

GET    /v1/accounts/{handle}                           public   200     200     200     200     404     200
GET    /v1/accounts/{handle}                           private  200     200     200     200     404     200
GET    /v1/accounts/{handle}/followers                 public   sees    sees    sees    sees    404     sees
GET    /v1/accounts/{handle}/followers                 private  404     sees    sees    404     404     sees
GET    /v1/accounts/{handle}/following                 public   sees    sees    sees    sees    404     sees
GET    /v1/accounts/{handle}/following                 private  404     sees    sees    404     404     sees
POST   /v1/accounts/{handle}/follow                    public   401     400     200     200     404     200
POST   /v1/accounts/{handle}/follow                    private  401     400     200     200     404     200
DELETE /v1/accounts/{handle}/follow                    public   401     204     204     204     404     204
DELETE /v1/accounts/{handle}/follow                    private  401     204     204     204     404     204
POST   /v1/accounts/{handle}/block                     public   401     400     204     204     204     204
POST   /v1/accounts/{handle}/block                     private  401     400     204     204     204     204
DELETE /v1/accounts/{handle}/block                     public   401     204     204     204     204     204
DELETE /v1/accounts/{handle}/block                     private  401     204     204     204     204     204
GET    /v1/follow-requests                             public   401     misses  misses  misses  misses  misses
GET    /v1/follow-requests                             private  401     sees    misses  misses  misses  misses
POST   /v1/follow-requests/{requester}/accept          public   401     404     404     404     404     404
POST   /v1/follow-requests/{requester}/accept          private  401     204     404     404     404     404
POST   /v1/follow-requests/{requester}/reject          public   401     404     404     404     404     404
POST   /v1/follow-requests/{requester}/reject          private  401     204     404     404     404     404
GET    /v1/search                                      public   sees    sees    sees    sees    misses  sees
GET    /v1/search                                      private  sees    sees    sees    sees    misses  sees

POST   /v1/uploads                                     any      401     202     202     202     202     202
GET    /v1/uploads/{upload}                            any      404     200     404     404     404     404
GET    /v1/uploads/{upload}/events                     any      404     200     404     404     404     404
OPTIONS /v1/uploads/tus                                any      204     204     204     204     204     204
POST   /v1/uploads/tus                                 any      401     201     201     201     201     201
HEAD   /v1/uploads/tus/{tus_upload}                    any      404     200     404     404     404     404
PATCH  /v1/uploads/tus/{fresh_tus_upload}              any      401     204     404     404     404     404
DELETE /v1/uploads/tus/{fresh_tus_upload}              any      401     204     404     404     404     404

POST   /v1/posts                                       any      401     201     400     400     400     400
GET    /v1/posts/{post}                                public   200     200     200     200     404     200
GET    /v1/posts/{post}                                private  404     200     200     404     404     200
PATCH  /v1/posts/{spare_post}                          public   401     200     403     403     404     403
PATCH  /v1/posts/{spare_post}                          private  401     200     403     404     404     403
DELETE /v1/posts/{spare_post}                          public   401     204     403     403     404     204
DELETE /v1/posts/{spare_post}                          private  401     204     403     404     404     204
PUT    /v1/posts/{post}/like                           public   401     204     204     204     404     204
PUT    /v1/posts/{post}/like                           private  401     204     204     404     404     204
DELETE /v1/posts/{spare_post}/like                     public   401     204     204     204     404     204
DELETE /v1/posts/{spare_post}/like                     private  401     204     204     404     404     204
GET    /v1/posts/{post}/likes                          public   sees    sees    sees    sees    404     sees
GET    /v1/posts/{post}/likes                          private  404     sees    sees    404     404     sees
GET    /v1/posts/{post}/comments                       public   sees    sees    sees    sees    404     sees
GET    /v1/posts/{post}/comments                       private  404     sees    sees    404     404     sees
POST   /v1/posts/{post}/comments                       public   401     201     201     201     404     201
POST   /v1/posts/{post}/comments                       private  401     201     201     404     404     201
DELETE /v1/comments/{spare_comment}                    public   401     204     204     403     404     204
DELETE /v1/comments/{spare_comment}                    private  401     204     204     404     404     204

GET    /v1/posts/{processing_post}                     public   404     200     404     404     404     200
GET    /v1/posts/{processing_post}                     private  404     200     404     404     404     200
PATCH  /v1/posts/{processing_post}                     public   401     200     404     404     404     403
PATCH  /v1/posts/{processing_post}                     private  401     200     404     404     404     403

GET    /v1/posts/{deleted_post}                        public   404     404     404     404     404     404
GET    /v1/posts/{deleted_post}                        private  404     404     404     404     404     404
PATCH  /v1/posts/{deleted_post}                        public   401     404     404     404     404     404
PATCH  /v1/posts/{deleted_post}                        private  401     404     404     404     404     404
DELETE /v1/posts/{deleted_post}                        public   401     404     404     404     404     404
DELETE /v1/posts/{deleted_post}                        private  401     404     404     404     404     404
PUT    /v1/posts/{deleted_post}/like                   public   401     404     404     404     404     404
PUT    /v1/posts/{deleted_post}/like                   private  401     404     404     404     404     404
DELETE /v1/posts/{deleted_post}/like                   public   401     404     404     404     404     404
DELETE /v1/posts/{deleted_post}/like                   private  401     404     404     404     404     404
GET    /v1/posts/{deleted_post}/likes                  public   404     404     404     404     404     404
GET    /v1/posts/{deleted_post}/likes                  private  404     404     404     404     404     404
GET    /v1/posts/{deleted_post}/comments               public   404     404     404     404     404     404
GET    /v1/posts/{deleted_post}/comments               private  404     404     404     404     404     404
POST   /v1/posts/{deleted_post}/comments               public   401     404     404     404     404     404
POST   /v1/posts/{deleted_post}/comments               private  401     404     404     404     404     404
DELETE /v1/comments/{deleted_post_comment}             public   401     404     404     404     404     404
DELETE /v1/comments/{deleted_post_comment}             private  401     404     404     404     404     404

GET    /v1/feed                                        public   401     sees    sees    misses  misses  misses
GET    /v1/feed                                        private  401     sees    sees    misses  misses  misses
GET    /v1/accounts/{handle}/posts                     public   sees    sees    sees    sees    404     sees
GET    /v1/accounts/{handle}/posts                     private  404     sees    sees    404     404     sees
GET    /v1/tags/{tag}/posts                            public   sees    sees    sees    sees    misses  sees
GET    /v1/tags/{tag}/posts                            private  misses  sees    sees    misses  misses  sees

GET    /v1/media/{media_key}                           public   200     200     200     200     200     200
GET    /v1/media/{media_key}                           private  404     404     404     404     404     404
HEAD   /v1/media/{media_key}                           public   200     200     200     200     200     200
HEAD   /v1/media/{media_key}                           private  404     404     404     404     404     404
GET    /v1/media/{signed_media}                        public   200     200     200     200     200     200
GET    /v1/media/{signed_media}                        private  200     200     200     200     200     200
GET    /v1/media/{deleted_media_key}                   public   404     404     404     404     404     404
GET    /v1/media/{deleted_media_key}                   private  404     404     404     404     404     404
GET    /v1/media/pkg/{pkg}/{pkg_file}                  public   200     200     200     200     200     200
GET    /v1/media/pkg/{pkg}/{pkg_file}                  private  404     404     404     404     404     404
HEAD   /v1/media/pkg/{pkg}/{pkg_file}                  public   200     200     200     200     200     200
HEAD   /v1/media/pkg/{pkg}/{pkg_file}                  private  404     404     404     404     404     404
GET    /v1/media/signed/{pkg_exp}/{pkg_sig}/pkg/{pkg}/{pkg_file}   public   200 200 200 200 200 200
GET    /v1/media/signed/{pkg_exp}/{pkg_sig}/pkg/{pkg}/{pkg_file}   private  200 200 200 200 200 200
HEAD   /v1/media/signed/{pkg_exp}/{pkg_sig}/pkg/{pkg}/{pkg_file}   public   200 200 200 200 200 200
HEAD   /v1/media/signed/{pkg_exp}/{pkg_sig}/pkg/{pkg}/{pkg_file}   private  200 200 200 200 200 200
GET    /v1/media/pkg/{deleted_pkg}/{pkg_file}          public   404     404     404     404     404     404
GET    /v1/media/pkg/{deleted_pkg}/{pkg_file}          private  404     404     404     404     404     404
"""
# fmt: on
# Notes on the cells:
# - blocked: the owner blocks it, so to it the owner is missing (404) everywhere; its own things
#   (`any` rows) work. Media by an unsigned URL are public or not whoever asks (no viewer there);
#   a video's package (`pkg/{digest}/{path}`: here a segment) follows its post like the renditions.
# - the private owner's profile is public (a profile says whom to ask); its posts, lists, likes and
#   comments are for itself, followers and admins: anyone else gets 404, as for nothing at all.
# - writes on a post one can see but not change are 403 (docs/social.md); on one one cannot see,
#   404. An admin may delete posts, comments and anyone's tokens, not edit captions.
# - a signed media URL is a capability: whoever holds it may fetch until it expires (only those who
#   may see the post are given one). The owner following/blocking itself is a 400.
# - a post still processing is its author's and the admins' only: to anyone else a write is a 404
#   like a read, never a 403 that would confirm it exists.
# Routes on main not in the table: POST /v1/uploads/tus/{upload_id} (the X-HTTP-Method-Override
# form of PATCH/DELETE, same code; tests/web/test_tus.py).
NOT_IN_MATRIX = {("POST", "/v1/uploads/tus/{}")}


class Actor(StrEnum):
    """Who sends a case's request: the world's account of the role, a fresh account with the same
    relation to the owner (writes that change the sender's relations), or a fresh account for every
    role, the owner's too (writes that end the sender's account or session)."""

    WORLD = "world"
    FRESH = "fresh"
    THROWAWAY = "throwaway"


@dataclass(frozen=True)
class Call:
    """What a row's request carries besides its method and path; ``{slots}`` in strings are filled
    by :meth:`World.slot`. ``subject`` names the slot a ``sees``/``misses`` cell looks for."""

    json: Any = None
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    actor: Actor = Actor.WORLD
    subject: str | None = None


TUS = {"Tus-Resumable": "1.0.0"}
CALLS: dict[str, Call] = {
    "POST /v1/accounts": Call(
        json={"handle": "{new_handle}", "email": "{new_handle}@example.com", "password": "{password}"}
    ),
    "POST /v1/sessions": Call(json={"login": "{handle}", "password": "{password}"}),
    "DELETE /v1/sessions/current": Call(actor=Actor.THROWAWAY),
    "POST /v1/tokens": Call(json={"name": "matrix", "scopes": ["read"]}),
    "PATCH /v1/accounts/me": Call(json={"display_name": "Renamed"}, params={"update_mask": "display_name"}),
    "DELETE /v1/accounts/me": Call(actor=Actor.THROWAWAY),
    "GET /v1/accounts/{handle}/followers": Call(subject="follower_id"),
    "GET /v1/accounts/{handle}/following": Call(subject="follower_id"),
    "POST /v1/accounts/{handle}/follow": Call(actor=Actor.FRESH),
    "DELETE /v1/accounts/{handle}/follow": Call(actor=Actor.FRESH),
    "POST /v1/accounts/{handle}/block": Call(actor=Actor.FRESH),
    "GET /v1/follow-requests": Call(subject="requester_id"),
    "GET /v1/search": Call(params={"q": "{handle}"}, subject="owner_id"),
    "POST /v1/uploads": Call(files={"file": ("p.jpg", jpeg_bytes(), "image/jpeg")}),
    "OPTIONS /v1/uploads/tus": Call(headers=TUS),
    "POST /v1/uploads/tus": Call(headers={**TUS, "Upload-Length": "1000"}),
    "HEAD /v1/uploads/tus/{tus_upload}": Call(headers=TUS),
    "PATCH /v1/uploads/tus/{fresh_tus_upload}": Call(
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        content=jpeg_bytes()[:600],
    ),
    "DELETE /v1/uploads/tus/{fresh_tus_upload}": Call(headers=TUS),
    "POST /v1/posts": Call(json={"caption": "from the matrix", "upload_ids": ["{fresh_upload}"]}),
    "PATCH /v1/posts/{spare_post}": Call(json={"caption": "edited"}, params={"update_mask": "caption"}),
    "PATCH /v1/posts/{processing_post}": Call(json={"caption": "edited"}, params={"update_mask": "caption"}),
    "PATCH /v1/posts/{deleted_post}": Call(json={"caption": "edited"}, params={"update_mask": "caption"}),
    "GET /v1/posts/{post}/likes": Call(subject="follower_id"),
    "GET /v1/posts/{post}/comments": Call(subject="comment"),
    "POST /v1/posts/{post}/comments": Call(json={"text": "nice"}),
    "POST /v1/posts/{deleted_post}/comments": Call(json={"text": "nice"}),
    "GET /v1/feed": Call(params={"limit": "100"}, subject="post"),
    "GET /v1/accounts/{handle}/posts": Call(params={"limit": "100"}, subject="post"),
    "GET /v1/tags/{tag}/posts": Call(params={"limit": "100"}, subject="post"),
}  # fmt: skip


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    kind: str  # public | private | any
    role: str
    status: int
    listed: bool | None  # sees: True, misses: False, a plain status: None

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def id(self) -> str:
        return f"{self.key} [{self.kind}] {self.role}"


def parse_matrix(text: str) -> list[Case]:
    cases = []
    for line in text.strip().splitlines():
        if not line.strip():
            continue
        method, path, kind, *cells = line.split()
        assert kind in ("public", "private", "any") and len(cells) == len(ROLES), line
        for role, cell in zip(ROLES, cells, strict=True):
            listed = {"sees": True, "misses": False}.get(cell)
            if listed is not None:
                assert CALLS.get(f"{method} {path}", Call()).subject, f"{line}: sees/misses needs a subject"
            cases.append(Case(method, path, kind, role, 200 if listed is not None else int(cell), listed))
    return cases


CASES = parse_matrix(MATRIX)


# -- the world -------------------------------------------------------------------------------------
Member = people.User  # an account and its API token


@dataclass
class Owner:
    """One owner's things: a ready post (liked and commented on by the follower), a deleted one
    (with a comment), one still processing, an unposted upload and a tus upload half received."""

    member: Member
    post: str = ""
    comment: str = ""
    deleted_post: str = ""
    deleted_post_comment: str = ""
    processing_post: str = ""
    upload: str = ""
    tus_upload: str = ""
    media_key: str = ""
    deleted_media_key: str = ""
    pkg: str = ""  # the digest of the ready post's package
    deleted_pkg: str = ""
    tag: str = ""


@dataclass
class World:
    app: SocialApp
    redis: redis.Redis
    blobs: LocalBlobs
    urls: SignedMediaUrls
    owners: dict[str, Owner] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)  # follower, stranger, blocked, admin
    requester: Member = field(init=False)  # waits for the private owner to accept
    deleted_ids: tuple[str, ...] = ()
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def engine(self) -> sa.Engine:
        return self.app.engine

    # -- making things --
    def join(self, prefix: str, *, private: bool = False, role: Role = Role.USER) -> Member:
        handle = f"{prefix}{next(self._names)}"
        with self.engine.begin() as conn:
            person = people.signup_in(conn, handle, private=private, role=role)
            token = tokens.create_token(conn, person.viewer, name="matrix", scopes=[Scope.READ, Scope.WRITE])
        return Member(person, token.secret)

    def relate(self, role: str, owner: Member, member: Member) -> None:
        """Give ``member`` the relation ``role`` names to ``owner``."""
        with self.engine.begin() as conn:
            if role == "follower":
                graph.follow(conn, member.viewer, owner.handle)
                if owner.person.account.private:
                    graph.accept_request(conn, owner.viewer, member.handle)
            elif role == "blocked":
                graph.block(conn, owner.viewer, member.handle)

    def package(self, key: str) -> str:
        """A tiny HLS folder (a playlist naming its one segment) for the post of photo ``key``,
        stored as a tree as the runtime stores a package; the manifest's key (one per ``key``)."""
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "hls"
            folder.mkdir()
            (folder / "master.m3u8").write_text(f"#EXTM3U\n# {key}\nseg.m4s\n")
            (folder / "seg.m4s").write_bytes(b"\0\0\0\x10styp" + key.encode())
            return put_tree(self.blobs, Path(tmp))

    def ready_post(self, owner: Member, caption: str, key: str) -> str:
        """A ready post by ``owner`` whose one upload has the photo renditions of ``key`` and a
        video's package (stored, and recorded as the upload's: the media route serves them)."""
        photos = photo_info(key)
        tree = self.package(key)
        master = {e.path: e.key for e in read_tree(self.blobs, tree)}[PLAYLIST]
        hls = {"key": master, "content_type": "application/vnd.apple.mpegurl", "role": "hls", "tree": tree,
               "path": PLAYLIST}  # fmt: skip
        info = {**photos, "renditions": [*cast(list[object], photos["renditions"]), hls]}
        with self.engine.begin() as conn:
            upload_id = make_upload(conn, owner.id, info=info)
            media_access.record_keys(conn, upload_id, info)
            post_id = posts.create_post(conn, owner.viewer, caption=caption, upload_ids=[upload_id]).id
        for key_ in media_access.rendition_keys(photos):
            self.blobs.put_bytes(key_, jpeg_bytes())
        return post_id

    def reacted_post(self, owner: Member, caption: str, key: str) -> tuple[str, str]:
        """:meth:`ready_post`, liked and commented on by the follower; the post and comment ids."""
        post_id = self.ready_post(owner, caption, key)
        follower = self.members["follower"]
        with self.engine.begin() as conn:
            reactions.like(conn, follower.viewer, post_id)
            comment = reactions.add_comment(conn, follower.viewer, post_id, "lovely light")
        return post_id, comment.id

    # -- the slots of the table's paths and bodies --
    def slot(self, name: str, kind: str, role: str) -> str:
        owner = self.owners["private" if kind == "private" else "public"]
        fresh = f"{kind}-{role}-{next(self._names)}"
        match name:
            case "handle":
                return owner.member.handle
            case "owner_id":
                return owner.member.id
            case "follower_id":
                return self.members["follower"].id
            case "requester_id":
                return self.requester.id
            case "password":
                return people.PASSWORD
            case "new_handle":
                return f"new{next(self._names)}"
            case "owner_token":
                with self.engine.begin() as conn:
                    made = tokens.create_token(conn, owner.member.viewer, name="spare", scopes=[Scope.READ])
                return made.credential_id
            case "requester":
                asking = self.join("asks")
                with self.engine.begin() as conn:
                    graph.follow(conn, asking.viewer, owner.member.handle)  # a request only if private
                return asking.handle
            case "fresh_upload":
                with self.engine.begin() as conn:
                    return make_upload(conn, owner.member.id)
            case "fresh_tus_upload":
                return self._tus_upload(owner.member)
            case "spare_post":
                return self.reacted_post(owner.member, "spare #spare", f"spare/{fresh}")[0]
            case "spare_comment":
                with self.engine.begin() as conn:
                    return reactions.add_comment(conn, self.members["follower"].viewer, owner.post, "mine").id
            case "signed_media":
                return self.urls.url(owner.media_key, private=True).removeprefix("/v1/media/")
            case "pkg_file":
                return SEGMENT
            case "pkg_exp":
                return str(self.urls.expiry())
            case "pkg_sig":
                return self.urls.package_signature(PackageFile(owner.pkg, SEGMENT), self.urls.expiry())
            case _:
                value = getattr(owner, name)
                assert isinstance(value, str) and value, name
                return value

    def _tus_upload(self, owner: Member) -> str:
        with self.engine.begin() as conn:
            made = resumable.create_resumable(
                conn, owner.viewer, length_bytes=2 * len(jpeg_bytes()), filename="p.jpg", limits=UploadLimits()
            )
        return made.id

    def sender(self, case: Case, actor: Actor) -> Member | None:
        if case.role == "anonymous":
            return None
        owner = self.owners["private" if case.kind == "private" else "public"]
        if actor is Actor.THROWAWAY or (actor is Actor.FRESH and case.role != "owner"):
            member = self.join(case.role[:5], role=Role.ADMIN if case.role == "admin" else Role.USER)
            self.relate(case.role, owner.member, member)
            return member
        return owner.member if case.role == "owner" else self.members[case.role]


def _build(app: SocialApp, client: redis.Redis, blobs: LocalBlobs) -> World:
    world = World(app, client, blobs, urls=app.client.app.state.deps.media_urls)  # type: ignore[attr-defined]
    for kind in ("public", "private"):
        world.owners[kind] = Owner(world.join(f"{kind[:4]}owner", private=kind == "private"))
    world.members = {role: world.join(role[:5], role=Role.ADMIN if role == "admin" else Role.USER)
                     for role in ("follower", "stranger", "blocked", "admin")}  # fmt: skip
    world.requester = world.join("requester")
    everyone = [o.member for o in world.owners.values()] + list(world.members.values())
    with world.engine.connect() as conn:  # every feed exists (its owner is active), so pushes land
        for member in everyone:
            read_feed(conn, client, member.id, cursor=None, limit=1)
    deleted: list[str] = []
    for kind, owner in world.owners.items():
        member = owner.member
        for role in ("follower", "blocked"):
            world.relate(role, member, world.members[role])
        with world.engine.begin() as conn:
            graph.follow(conn, member.viewer, world.members["follower"].handle)  # for the following lists
            if kind == "private":
                graph.follow(conn, world.requester.viewer, member.handle)
        owner.tag = f"matrix{kind}"
        owner.post, owner.comment = world.reacted_post(member, f"#{owner.tag}", f"{kind}/live")
        owner.deleted_post, owner.deleted_post_comment = world.reacted_post(member, f"#{owner.tag}", f"{kind}/gone")
        owner.media_key = media_access.rendition_keys(photo_info(f"{kind}/live"))[0]
        owner.deleted_media_key = media_access.rendition_keys(photo_info(f"{kind}/gone"))[0]
        owner.pkg, owner.deleted_pkg = (tree_digest(world.package(f"{kind}/{p}")) for p in ("live", "gone"))
        with world.engine.begin() as conn:
            waiting = make_upload(conn, member.id, state="processing", info={})
            owner.processing_post = posts.create_post(conn, member.viewer, caption="", upload_ids=[waiting]).id
            owner.upload = make_upload(conn, member.id)
        owner.tus_upload = world._tus_upload(member)
        # the feeds and the post cache hold the doomed post before it is deleted: the reads'
        # own checks, not a tidy cache, must hide it
        FanoutHandler(world.engine, client).handle(
            [Event(EventType.POST_READY, member.id, p) for p in (owner.post, owner.deleted_post)]
        )
        with world.engine.connect() as conn:
            postcache.hydrate(conn, client, [owner.deleted_post], None, Mask.parse("", Post.DESCRIPTOR))
        with world.engine.begin() as conn:
            posts.delete_post(conn, member.viewer, owner.deleted_post)
        deleted.append(owner.deleted_post)
    world.deleted_ids = tuple(deleted)
    return world


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    previous = passwords.configure(passwords.FAST_FOR_TESTS)  # module fixtures start before the autouse one
    tmp = tmp_path_factory.mktemp(f"matrix-{request.param}")
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        shutil.copyfile(template, tmp / "darkroom.db")
        url = f"sqlite:///{tmp / 'darkroom.db'}"
    else:
        url = request.getfixturevalue("postgres_databases")()
    engine = open_database(url)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    blobs = LocalBlobs(tmp / "blobs")
    try:
        with social_app(engine, client, tmp, starts=lambda: RecordedStarts([]), blobs=blobs) as app:
            yield _build(app, client, blobs)
    finally:
        client.close()
        engine.dispose()
        passwords.configure(previous)


# -- the cases ---------------------------------------------------------------------------------------
_SLOT = re.compile(r"\{([a-z_]+)\}")


def _fill(value: Any, slot: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return _SLOT.sub(lambda m: slot(m.group(1)), value)
    if isinstance(value, list):
        return [_fill(v, slot) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, slot) for k, v in value.items()}
    return value


def send(world: World, case: Case) -> tuple[httpx.Response, str | None]:
    call = CALLS.get(case.key, Call())
    cache: dict[str, str] = {}

    def slot(name: str) -> str:  # one value per name and case (a path and a body may share it)
        if name not in cache:
            cache[name] = world.slot(name, case.kind, case.role)
        return cache[name]

    sender = world.sender(case, call.actor)
    headers = dict(call.headers) | ({"Authorization": f"Bearer {sender.token}"} if sender else {})
    world.app.client.cookies.clear()  # a sign-in's cookies: each case says who it is itself
    response = world.app.client.request(
        case.method,
        _fill(case.path, slot),
        params=_fill(dict(call.params), slot) or None,  # {} would drop a signed URL's query
        json=_fill(call.json, slot),
        headers=headers,
        content=call.content,
        files=call.files,
    )
    return response, slot(call.subject) if call.subject else None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_authorization(world: World, case: Case) -> None:
    response, subject = send(world, case)
    assert response.status_code == case.status, f"{case.id}: {response.status_code} {response.text[:300]}"
    if case.status >= 400 and case.method != "HEAD":
        assert response.headers["content-type"] == "application/problem+json", case.id
    if case.listed is not None:
        assert subject is not None
        assert (subject in response.text) is case.listed, f"{case.id}: {subject} in {response.text[:300]}"
    for deleted in world.deleted_ids if response.is_success else ():  # a 404 names what it did not find
        assert deleted not in response.text, f"{case.id} shows the deleted post {deleted}"


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_the_matrix_covers_every_route(world: World) -> None:
    """A route added to the app (its OpenAPI) without a row here fails this test."""
    paths = world.app.client.get("/openapi.json").json()["paths"]
    served = {(method.upper(), _shape(path)) for path, operations in paths.items() for method in operations}
    covered = {(c.method, _shape(c.path)) for c in CASES} | NOT_IN_MATRIX
    assert sorted(served - covered) == []
    assert sorted(covered - served) == []
    public, private = ({c.key for c in CASES if c.kind == kind} for kind in ("public", "private"))
    assert public == private  # every owner-dependent row is asked of both kinds of owner


@pytest.mark.parametrize(
    "path",
    ["/v1/posts/{post}", "/v1/posts/{post}/comments", "/v1/posts/{post}/likes", "/v1/accounts/{handle}/posts",
     "/v1/accounts/{handle}/followers", "/v1/media/{media_key}", "/v1/media/pkg/{pkg}/hls/seg.m4s"],
)  # fmt: skip
def test_a_pending_follow_request_sees_nothing_a_stranger_does_not(world: World, path: str) -> None:
    """The requester asked to follow the private owner and was not accepted yet: still a stranger."""
    owner = world.owners["private"]
    url = path.format(post=owner.post, handle=owner.member.handle, media_key=owner.media_key, pkg=owner.pkg)
    answer = world.app.client.get(url, headers={"Authorization": f"Bearer {world.requester.token}"})
    assert answer.status_code == 404, answer.text
