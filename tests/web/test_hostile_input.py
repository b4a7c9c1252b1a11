"""Hostile input at every door of the HTTP API: each request is a clear 4xx problem+json that names
the offending value, and stores nothing (every table's row count is the same before and after).
docs/social.md, "Security tests".

Covered elsewhere, not repeated here: oversize and mislabelled *uploads* (a photo one byte over
its limit, a body over the largest limit refused before reading, a real server that stops reading
a 32 MiB body, a text file named .png, a clip named .jpg, cut-off forms: tests/web/test_uploads_routes.py
and tests/web/test_tus.py), a 2,201-character caption (tests/web/test_posts_routes.py), a 1,001-
character comment (tests/web/test_reactions_routes.py).

One world per module (SQLite: the edge's checks do not depend on the database): alice (public,
with a post, two likes and two comments on it, two followers), bob and carol, fiona.
"""

from __future__ import annotations

import re
import shutil
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa

from darkroom.social import passwords, reactions
from darkroom.storage.db import open_database
from darkroom.storage.schema import accounts, metadata, posts
from darkroom.web.deps import HttpLimits
from tests.web.media_app import RecordedStarts
from tests.web.real_app import social_app
from tests.web.social_app import PostsApp, User

MAX_BODY = HttpLimits().max_body_bytes
PROBLEM = "application/problem+json"


@dataclass
class World:
    app: PostsApp
    alice: User
    bob: User
    slots: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Every table's row count, in one statement."""
        query = sa.union_all(
            *(sa.select(sa.literal(t.name), sa.func.count()).select_from(t) for t in metadata.sorted_tables)
        )
        with self.app.engine.connect() as conn:
            return {name: n for name, n in conn.execute(query)}

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"\{([a-z_]+)\}", lambda m: self.slots[m.group(1)], value)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value


def _cursor(app: PostsApp, path: str, who: User) -> str:
    answer = app.client.get(path, params={"limit": 1}, headers=who.auth)
    assert answer.status_code == 200 and answer.json()["next_cursor"], answer.text
    cursor: str = answer.json()["next_cursor"]
    return cursor


@pytest.fixture(scope="module")
def world(redis_url: str, tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Iterator[World]:
    previous = passwords.configure(passwords.FAST_FOR_TESTS)  # module fixtures start before the autouse one
    tmp = tmp_path_factory.mktemp("hostile")
    shutil.copyfile(_sqlite_template, tmp / "darkroom.db")
    engine = open_database(f"sqlite:///{tmp / 'darkroom.db'}")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        with social_app(engine, client, tmp, starts=lambda: RecordedStarts([])) as social:
            app = PostsApp(engine, client, social.client)
            alice, bob, carol = (app.member(h) for h in ("alice", "bob", "carol"))
            app.member("fiona")
            for follower in (bob, carol):
                app.follow(follower, alice)
            older = app.post(alice, "older #sun")
            post = app.post(alice, "hello #sun")
            app.fan_out(app.ready(alice, older), app.ready(alice, post))
            with engine.begin() as conn:
                for who in (alice, bob):
                    reactions.like(conn, who.viewer, post)
                    reactions.add_comment(conn, who.viewer, post, f"from {who.handle}")
            world = World(app, alice, bob)
            world.slots = {
                "post": post,
                "alice": alice.handle,
                "upload": app.uploads(alice)[0],
                "bob_upload": app.uploads(bob)[0],
                "likes_cursor": _cursor(app, f"/v1/posts/{post}/likes", alice),
                "comments_cursor": _cursor(app, f"/v1/posts/{post}/comments", alice),
                "feed_cursor": _cursor(app, "/v1/feed", alice),
            }
            yield world
    finally:
        client.close()
        engine.dispose()
        passwords.configure(previous)


@dataclass(frozen=True)
class Hostile:
    """One hostile request and the problem it must get: ``status``, ``code``, and ``names``, a
    piece of the offending value the problem's ``detail`` must show."""

    method: str
    path: str
    status: int
    code: str
    names: str
    json: Any = None
    content: bytes | tuple[bytes, ...] | None = None  # a tuple: sent chunked, without Content-Length
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)


def send(world: World, case: Hostile) -> httpx.Response:
    content = iter(case.content) if isinstance(case.content, tuple) else case.content
    headers = {**world.alice.auth, **case.headers}
    path, _, query = world.fill(case.path).partition("?")
    params = dict(urllib.parse.parse_qsl(query)) | world.fill(dict(case.params))  # httpx's params= replace a query
    return world.app.client.request(
        case.method, path, json=world.fill(case.json), content=content, headers=headers, params=params or None
    )


def check(world: World, case: Hostile) -> dict[str, Any]:
    before = world.counts()
    answer = send(world, case)
    assert answer.status_code == case.status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = answer.json()
    assert problem["code"] == case.code, problem
    assert world.fill(case.names) in problem["detail"], problem
    assert world.counts() == before, "a refused request stored something"
    return problem


# -- lists: cursors and limits ---------------------------------------------------------------------
LISTS = [
    "/v1/feed",
    "/v1/accounts/{alice}/followers",
    "/v1/accounts/{alice}/following",
    "/v1/follow-requests",
    "/v1/accounts/{alice}/posts",
    "/v1/tags/sun/posts",
    "/v1/posts/{post}/likes",
    "/v1/posts/{post}/comments",
]
BAD_CURSORS = {
    "garbled": "nope",
    "traversal": "../../etc/passwd",
    "too long": "A" * 10_000,
    "nul": "ab\x00cd",
}
# a real cursor of another list: signed by this server, bound to its own list
FOREIGN = {
    "/v1/feed": "{likes_cursor}",
    "/v1/posts/{post}/likes": "{comments_cursor}",
    "/v1/posts/{post}/comments": "{likes_cursor}",
}


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("kind", [*BAD_CURSORS, "another list's"])
def test_an_invalid_cursor_is_400_naming_it(world: World, path: str, kind: str) -> None:
    cursor = BAD_CURSORS.get(kind) or FOREIGN.get(path, "{feed_cursor}")
    shown = repr(world.fill(cursor))[1:-1][:20]  # the detail shows the value's repr, cut when long
    problem = check(world, Hostile("GET", path, 400, "invalid_cursor", shown, params={"cursor": cursor}))
    assert problem["field"] == "cursor"


@pytest.mark.parametrize("path", [*LISTS, "/v1/search?q=a"])
@pytest.mark.parametrize("limit", ["101", str(10**12), "-1", "0", "abc", "1e3", "", "2.5", "9" * 30])
def test_a_limit_outside_1_to_100_is_400_naming_it(world: World, path: str, limit: str) -> None:
    problem = check(world, Hostile("GET", path, 400, "invalid_input", repr(limit), params={"limit": limit}))
    assert problem["field"] == "limit"


@pytest.mark.parametrize("path", LISTS)
def test_limits_at_1_and_100_are_served(world: World, path: str) -> None:
    for limit in ("1", "100"):
        answer = world.app.client.get(world.fill(path), params={"limit": limit}, headers=world.alice.auth)
        assert answer.status_code == 200, answer.text


# -- read masks ------------------------------------------------------------------------------------
MASKED_READS = [
    "/v1/posts/{post}",
    "/v1/accounts/{alice}",
    "/v1/accounts/me",
    "/v1/uploads/{upload}",
    "/v1/search?q=al",
    *LISTS,
]


@pytest.mark.parametrize("path", MASKED_READS)
@pytest.mark.parametrize("fields", ["nope", "author.nope", "created_at,nope", "password_hash", "email", "id..caption"])
def test_an_unknown_field_path_is_400_naming_it(world: World, path: str, fields: str) -> None:
    named = next(p for p in fields.split(",") if p != "created_at")
    named = "" if fields == "id..caption" else named  # an empty segment: the whole value is named
    problem = check(world, Hostile("GET", path, 400, "invalid_field_mask", named or fields, params={"fields": fields}))
    assert problem["field"] == "fields"


# -- bodies: unknown fields, output-only fields, wrong types ---------------------------------------
BODIES = [
    Hostile("PATCH", "/v1/accounts/me", 400, "invalid_input", "nickname", json={"nickname": "x"},
            params={"update_mask": "display_name"}),
    Hostile("PATCH", "/v1/accounts/me", 400, "invalid_input", "role", json={"role": "admin"},
            params={"update_mask": "*"}),
    Hostile("PATCH", "/v1/accounts/me", 400, "invalid_input", "password_hash", json={"password_hash": "x"},
            params={"update_mask": "*"}),
    Hostile("PATCH", "/v1/accounts/me", 400, "invalid_field_mask", "handle", json={"handle": "root"},
            params={"update_mask": "handle"}),
    Hostile("PATCH", "/v1/accounts/me", 400, "invalid_field_mask", "follower_count", json={},
            params={"update_mask": "follower_count"}),
    Hostile("PATCH", "/v1/accounts/me", 400, "invalid_input", "private", json={"private": "yes"},
            params={"update_mask": "private"}),
    Hostile("PATCH", "/v1/accounts/me", 400, "invalid_input", "{bob_upload}", json={"avatar": {"id": "{bob_upload}"}},
            params={"update_mask": "avatar"}),  # someone else's photo as one's avatar
    Hostile("POST", "/v1/posts", 400, "invalid_input", "{bob_upload}",
            json={"upload_ids": ["{upload}", "{bob_upload}"]}),
    Hostile("PATCH", "/v1/posts/{post}", 400, "invalid_input", "author_id", json={"author_id": "x"},
            params={"update_mask": "caption"}),
    Hostile("PATCH", "/v1/posts/{post}", 400, "invalid_field_mask", "like_count", json={"like_count": 9},
            params={"update_mask": "like_count"}),
    Hostile("POST", "/v1/posts", 400, "invalid_input", "author", json={"upload_ids": ["{upload}"], "author": "bob"}),
    Hostile("POST", "/v1/posts", 400, "invalid_input", "upload_ids", json={"upload_ids": "{upload}"}),
    Hostile("POST", "/v1/posts/{post}/comments", 400, "invalid_input", "author_id",
            json={"text": "x", "author_id": "b"}),
    Hostile("POST", "/v1/accounts", 400, "invalid_input", "role",
            json={"handle": "mallory", "email": "m@example.com", "password": "long enough", "role": "admin"}),
    Hostile("POST", "/v1/tokens", 400, "invalid_input", "admin", json={"name": "t", "scopes": ["read"], "admin": True}),
    Hostile("POST", "/v1/tokens", 400, "invalid_input", "root", json={"name": "t", "scopes": ["root"]}),
    Hostile("POST", "/v1/sessions", 400, "invalid_input", "remember",
            json={"login": "alice", "password": "x", "remember": 1}),
    Hostile("POST", "/v1/posts/{post}/comments", 400, "invalid_input", "[1, 2]", json=[1, 2]),
]  # fmt: skip


@pytest.mark.parametrize("case", BODIES, ids=[f"{c.method} {c.path} {c.names}" for c in BODIES])
def test_a_body_with_an_unknown_or_mistyped_field_is_400_naming_it(world: World, case: Hostile) -> None:
    check(world, case)


def test_output_only_fields_in_a_patch_are_ignored_not_written(world: World) -> None:
    """Mass assignment: a PATCH may carry the resource's output fields (AIP-134), never write them."""
    post = world.slots["post"]
    edited = world.app.client.patch(
        f"/v1/posts/{post}?update_mask=caption",
        json={"caption": "hello #sun", "state": "failed", "like_count": 999, "author": {"handle": "bob"}},
        headers=world.alice.auth,
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["state"], edited.json()["author"]["handle"]) == ("ready", "alice")
    assert edited.json()["like_count"] != 999
    me = world.app.client.patch(
        "/v1/accounts/me?update_mask=bio",
        json={"bio": "b", "handle": "root", "follower_count": 10**6, "id": "x"},
        headers=world.alice.auth,
    )
    assert me.status_code == 200, me.text
    with world.app.engine.connect() as conn:
        row = conn.execute(sa.select(accounts.c.handle, accounts.c.role).where(accounts.c.id == world.alice.id)).one()
        state = conn.execute(sa.select(posts.c.state).where(posts.c.id == post)).scalar_one()
    assert (row.handle, row.role, state) == ("alice", "user", "ready")


# -- sign-up: look-alike and NFKC-equal handles -----------------------------------------------------
HANDLES = [
    ("\u0430lice", 400, "invalid_input", "U+0430"),  # Cyrillic a
    ("b\u03bfb", 400, "invalid_input", "U+03BF"),  # Greek omicron
    ("ali\u200dce", 400, "invalid_input", "U+200D"),  # zero-width joiner
    ("ali\u200bce", 400, "invalid_input", "U+200B"),  # zero-width space
    ("\u202ealice", 400, "invalid_input", "U+202E"),  # right-to-left override
    ("alice\u0301", 400, "invalid_input", "U+00E9"),  # e + combining acute: NFKC makes it one é
    ("\uff41\uff4c\uff49\uff43\uff45", 409, "already_exists", "alice"),  # fullwidth: NFKC folds it to alice
    ("\ufb01ona", 409, "already_exists", "fiona"),  # the fi ligature: NFKC folds it to fi
    ("ALICE", 409, "already_exists", "alice"),
    (" alice ", 409, "already_exists", "alice"),
    ("admin", 400, "invalid_input", "admin"),  # reserved
    ("a" * 31, 400, "invalid_input", "30"),
]


@pytest.mark.parametrize(("handle", "status", "code", "names"), HANDLES, ids=[ascii(h[0])[:24] for h in HANDLES])
def test_a_look_alike_or_taken_handle_is_refused_at_sign_up(
    world: World, handle: str, status: int, code: str, names: str
) -> None:
    body = {"handle": handle, "email": f"x{len(handle)}{ord(handle[0])}@example.com", "password": "long enough"}
    problem = check(world, Hostile("POST", "/v1/accounts", status, code, names, json=body))
    assert problem["field"] == "handle"


# -- oversize bodies, wrong content types, bodies no JSON reader takes -------------------------------
BIG = "x" * (MAX_BODY + 1)
TOO_LARGE = [
    Hostile("POST", "/v1/posts", 413, "too_large", str(MAX_BODY), json={"caption": BIG, "upload_ids": ["{upload}"]}),
    Hostile("PATCH", "/v1/accounts/me", 413, "too_large", str(MAX_BODY), json={"bio": BIG},
            params={"update_mask": "bio"}),
    Hostile("POST", "/v1/accounts", 413, "too_large", str(MAX_BODY),
            json={"handle": "h", "email": "e", "password": BIG}),
    Hostile("POST", "/v1/sessions", 413, "too_large", str(MAX_BODY), json={"login": "alice", "password": BIG * 16}),
    # chunked: no Content-Length, counted as it arrives
    Hostile("POST", "/v1/posts/{post}/comments", 413, "too_large", str(MAX_BODY),
            content=(b'{"text": "', BIG.encode(), b'"}'), headers={"Content-Type": "application/json"}),
    # chunked with an Idempotency-Key: the idempotency layer reads it first, and is refused the same
    Hostile("POST", "/v1/posts/{post}/comments", 413, "too_large", str(MAX_BODY),
            content=(b'{"text": "', BIG.encode(), b'"}'),
            headers={"Content-Type": "application/json", "Idempotency-Key": "k"}),
]  # fmt: skip
WRONG_TYPES = [
    Hostile("POST", "/v1/posts/{post}/comments", 415, "unsupported_media_type", "text/plain",
            content=b'{"text": "x"}', headers={"Content-Type": "text/plain"}),
    Hostile("POST", "/v1/accounts", 415, "unsupported_media_type", "application/x-www-form-urlencoded",
            content=b"handle=mallory&email=m%40example.com&password=long+enough",
            headers={"Content-Type": "application/x-www-form-urlencoded"}),
    Hostile("PATCH", "/v1/accounts/me", 415, "unsupported_media_type", "application/xml",
            content=b"<account><bio>x</bio></account>", headers={"Content-Type": "application/xml"},
            params={"update_mask": "bio"}),
    Hostile("POST", "/v1/posts", 415, "unsupported_media_type", "multipart/form-data",
            content=b"--b\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nx\r\n--b--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=b"}),
    Hostile("POST", "/v1/tokens", 415, "unsupported_media_type", "no Content-Type",
            content=b'{"name": "t", "scopes": ["read"]}'),
    # nested past the JSON reader's recursion limit, under the size limit
    Hostile("POST", "/v1/posts/{post}/comments", 400, "invalid_input", "could not be read as JSON",
            content=b"[" * 30_000 + b"]" * 30_000, headers={"Content-Type": "application/json"}),
    Hostile("POST", "/v1/posts/{post}/comments", 400, "invalid_input", "not valid JSON",
            content=b'{"text": "x"', headers={"Content-Type": "application/json"}),
]  # fmt: skip


@pytest.mark.parametrize("case", TOO_LARGE + WRONG_TYPES, ids=lambda c: f"{c.method} {c.path} {c.names}"[:70])
def test_oversize_wrongly_typed_or_unreadable_bodies_are_refused(world: World, case: Hostile) -> None:
    check(world, case)


def test_a_body_at_the_limit_reaches_the_route(world: World) -> None:
    """Exactly ``max_body_bytes`` passes the edge (and the route judges it: a comment that long is
    a 400 naming its length); one byte more is the edge's 413."""
    envelope = b'{"text": ""}'
    at_limit = b'{"text": "' + b"x" * (MAX_BODY - len(envelope)) + b'"}'
    assert len(at_limit) == MAX_BODY
    for body, status in ((at_limit, 400), (at_limit[:-2] + b'x"}', 413)):
        answer = world.app.client.post(
            f"/v1/posts/{world.slots['post']}/comments",
            content=body,
            headers={**world.alice.auth, "Content-Type": "application/json"},
        )
        assert answer.status_code == status, answer.text


# -- paths: traversal in media keys and ids ---------------------------------------------------------
TRAVERSALS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2Fetc%2Fpasswd",
    "..%5C..%5Cwindows%5Cwin.ini",
    "..%2Fhome%2Fhttp.secret",
    ".tmp%2Fanything",
    "a%00b.jpg",
    "uploads%2F..%2F..%2F..%2Fdarkroom.db",
]


@pytest.mark.parametrize("key", TRAVERSALS)
def test_path_traversal_in_a_media_key_is_404_naming_it(world: World, key: str) -> None:
    for method in ("GET", "HEAD"):
        before = world.counts()
        answer = world.app.client.request(method, f"/v1/media/{key}")
        assert answer.status_code == 404, answer.text
        assert world.counts() == before
    assert answer.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "path",
    ["/v1/posts/{id}", "/v1/posts/{id}/comments", "/v1/uploads/{id}", "/v1/accounts/{id}", "/v1/accounts/{id}/posts"],
)
def test_path_traversal_in_ids_and_handles_is_a_4xx(world: World, path: str) -> None:
    for bad in ("..%2F..%2Fetc%2Fpasswd", "%00", "%2e%2e"):
        answer = world.app.client.get(path.format(id=bad), headers=world.alice.auth)
        assert answer.status_code in (400, 404), answer.text
        assert answer.headers["content-type"] == PROBLEM


def test_a_tus_chunk_for_a_traversing_id_writes_nothing_anywhere(world: World, tmp_path: Path) -> None:
    before = world.counts()
    answer = world.app.client.patch(
        "/v1/uploads/tus/..%2F..%2F..%2Fescaped",
        content=b"\xff\xd8\xff" + b"x" * 100,
        headers={**world.alice.auth, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                 "Content-Type": "application/offset+octet-stream"},
    )  # fmt: skip
    assert answer.status_code == 404, answer.text
    assert world.counts() == before


# -- markup is text ---------------------------------------------------------------------------------
MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)> &amp; &#60; {{7*7}} \u202e'


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in _strings(item)]


def test_markup_is_stored_and_returned_as_text_in_json(world: World) -> None:
    """Captions, comments, names and bios keep their markup verbatim, in ``application/json`` (which
    no browser renders as a page; escaping is each renderer's job)."""
    app, alice = world.app, world.alice
    made = app.client.post("/v1/posts", json={"caption": MARKUP, "upload_ids": app.uploads(alice)}, headers=alice.auth)
    assert made.status_code == 201, made.text
    post_id = made.json()["id"]
    comment = app.client.post(f"/v1/posts/{post_id}/comments", json={"text": MARKUP}, headers=alice.auth)
    assert comment.status_code == 201, comment.text
    me = app.client.patch(
        "/v1/accounts/me?update_mask=display_name,bio",
        json={"display_name": MARKUP[:64], "bio": MARKUP},
        headers=alice.auth,
    )
    assert me.status_code == 200, me.text
    reads = {
        "caption": app.client.get(f"/v1/posts/{post_id}", headers=alice.auth),
        "text": app.client.get(f"/v1/posts/{post_id}/comments", headers=alice.auth),
        "bio": app.client.get("/v1/accounts/alice", headers=alice.auth),
    }
    for name, answer in reads.items():
        assert answer.headers["content-type"] == "application/json", name
        assert MARKUP in _strings(answer.json()), name
        assert "&lt;" not in answer.text, f"{name} was escaped for HTML at storage or in the JSON"
    with app.engine.connect() as conn:
        assert conn.execute(sa.select(posts.c.caption).where(posts.c.id == post_id)).scalar_one() == MARKUP
