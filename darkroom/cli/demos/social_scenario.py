"""The social scenario's steps over the HTTP API (:mod:`darkroom.cli.demos.social_demo` runs them on a
platform of its own): each step does what a person's client would, checks the answers, and answers
a detail for its check or raises :class:`~darkroom.cli.demos.api_client.StepFailed`. Waits for
background work (processing, the fan-out, the counters) are polls with a deadline.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from rich.console import Console
from rich.markup import escape

from darkroom.cli.demos.api_client import ApiClient, StepFailed, poll
from darkroom.cli.demos.checks import Check
from darkroom.cli.demos.samples import Picture, make_clip, make_picture
from darkroom.cli.demos.steps import Step, run_steps
from darkroom.local.platform import LocalPlatform

__all__ = ["ROUTES", "Scenario"]

PASSWORD = "demo-password-1"  # a throwaway platform's accounts
TUS = {"Tus-Resumable": "1.0.0"}
# (method, OpenAPI path) of every route the scenario calls
ROUTES = (
    ("post", "/v1/accounts"), ("post", "/v1/sessions"), ("patch", "/v1/accounts/me"),
    ("get", "/v1/accounts/{handle}"), ("post", "/v1/accounts/{handle}/follow"),
    ("get", "/v1/accounts/{handle}/posts"), ("get", "/v1/follow-requests"),
    ("post", "/v1/follow-requests/{handle}/accept"), ("post", "/v1/uploads"), ("get", "/v1/uploads/{upload_id}"),
    ("post", "/v1/uploads/tus"), ("patch", "/v1/uploads/tus/{upload_id}"), ("post", "/v1/posts"),
    ("get", "/v1/posts/{post_id}"), ("put", "/v1/posts/{post_id}/like"), ("get", "/v1/posts/{post_id}/comments"),
    ("post", "/v1/posts/{post_id}/comments"), ("get", "/v1/feed"), ("get", "/v1/media/{key}"),
)  # fmt: skip


@dataclass
class Scenario:
    """The steps, in order, against ``api`` (the platform's HTTP API); ``inputs`` takes the generated
    media. :meth:`run` appends one :class:`Check` per step."""

    api: ApiClient
    platform: LocalPlatform
    inputs: Path
    timeout_s: float
    console: Console
    ids: dict[str, str] = field(default_factory=dict)  # "photo", "clip", "post", "cleo_post"…

    def run(self, checks: list[Check]) -> None:
        # the route list only informs: the later steps do not need it
        steps = [
            Step("the HTTP API answers", self.serving),
            Step("the OpenAPI lists every route the scenario uses", self.routes, needed=False),
            Step("@ana, @ben and @cleo sign up and log in", self.sign_up),
            Step("@cleo turns private", self.cleo_private),
            Step("@ben follows @ana", self.ben_follows_ana),
            Step("@ana uploads a photo (multipart)", self.upload_photo),
            Step("@ana uploads a clip (tus, two chunks)", self.upload_clip),
            Step("@ana posts them; the caption's tags and mentions", self.ana_posts),
            Step("@ana's post becomes ready", self.post_ready),
            Step("its renditions are served", self.renditions),
            Step("@ben's feed shows the post", self.ben_feed),
            Step("@ben likes and comments", self.ben_reacts),
            Step("@ana sees the like and the comment", self.ana_sees_counts),
            Step("@cleo's post is hidden from @ben", self.cleo_hidden),
            Step("@ben's follow of @cleo is a request", self.follow_request),
            Step("@cleo accepts; @ben sees @cleo's posts", self.accept),
        ]
        run_steps(steps, checks, self.console)

    # -- steps: each answers a detail for its check, or raises StepFailed ----------------------------
    def serving(self) -> str:
        def answered() -> bool | None:
            http = next(c for c in self.platform.children if c.name == "http-1")
            if not http.alive:
                raise StepFailed(f"the HTTP server exited: {http.last_log_line()}")
            try:
                self.api.call("GET", "/openapi.json")
            except StepFailed:
                return None
            return True

        poll("the HTTP server to answer", answered, timeout_s=60, on_wait=self._waiting("starting the HTTP API"))
        return self.api.base_url

    def routes(self) -> str:
        paths = self.api.json("GET", "/openapi.json").get("paths", {})
        missing = [f"{m.upper()} {p}" for m, p in ROUTES if m not in paths.get(p, {})]
        if missing:
            raise StepFailed(f"missing: {', '.join(missing)}")
        return f"{len(ROUTES)} routes"

    def sign_up(self) -> str:
        for handle in ("ana", "ben", "cleo"):
            body = {"handle": handle, "email": f"{handle}@example.com", "password": PASSWORD}
            made = self.api.json("POST", "/v1/accounts", json=body, expect=(200, 201))
            _expect(made.get("handle") == handle, f"POST /v1/accounts answered handle {made.get('handle')!r}")
            session = self.api.json(
                "POST", "/v1/sessions", json={"login": handle, "password": PASSWORD}, expect=(200, 201)
            )
            token = session.get("token")
            _expect(isinstance(token, str) and token, f"POST /v1/sessions answered no token: {sorted(session)}")
            self.api.tokens[handle] = str(token)
        return "3 accounts, 3 bearer tokens"

    def cleo_private(self) -> str:
        me = self.api.json(
            "PATCH", "/v1/accounts/me", as_="cleo", params={"update_mask": "private"}, json={"private": True}
        )
        _expect(me.get("private") is True, f"PATCH answered private={me.get('private')!r}")
        return "PATCH /v1/accounts/me?update_mask=private"

    def ben_follows_ana(self) -> str:
        self.api.call("POST", "/v1/accounts/ana/follow", as_="ben", expect=(200, 201, 204))
        ana = self.api.json("GET", "/v1/accounts/ana", as_="ben")
        _expect(ana.get("followed_by_me") is True, f"@ana as @ben: followed_by_me={ana.get('followed_by_me')!r}")
        return "followed_by_me"

    def upload_photo(self) -> str:
        photo = make_picture(
            self.inputs / "harbour.jpg", Picture("harbour at dusk", 960, 640, (250, 150, 60), (40, 50, 140), seed=7)
        )
        with photo.open("rb") as f:
            made = self.api.json(
                "POST", "/v1/uploads", as_="ana", files={"file": (photo.name, f, "image/jpeg")}, expect=(200, 201, 202)
            )
        self.ids["photo"] = str(made.get("id"))
        _expect(made.get("kind") == "photo", f"the upload's kind is {made.get('kind')!r}")
        return f"{self.ids['photo']}: {made.get('state')}"

    def upload_clip(self) -> str:
        clip = make_clip(self.inputs / "clip.mp4", duration_s=1.5, width=426, height=240).read_bytes()
        name = base64.b64encode(b"clip.mp4").decode()
        made = self.api.call(
            "POST",
            "/v1/uploads/tus",
            as_="ana",
            expect=(201,),
            headers={**TUS, "Upload-Length": str(len(clip)), "Upload-Metadata": f"filename {name}"},
        )
        location = made.headers.get("Location", "")
        _expect(bool(location), "POST /v1/uploads/tus answered no Location")
        half = len(clip) // 2
        for offset, chunk in ((0, clip[:half]), (half, clip[half:])):
            sent = self.api.call(
                "PATCH",
                location,
                as_="ana",
                content=chunk,
                expect=(204,),
                headers={**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
            )
            _expect(sent.headers.get("Upload-Offset") == str(offset + len(chunk)), "a chunk's offset is off")
        self.ids["clip"] = location.rstrip("/").rsplit("/", 1)[-1]
        upload = self.api.json("GET", f"/v1/uploads/{self.ids['clip']}", as_="ana")
        _expect(upload.get("kind") == "video", f"the upload's kind is {upload.get('kind')!r}")
        return f"{self.ids['clip']}: {len(clip)} bytes in 2 chunks, {upload.get('state')}"

    def ana_posts(self) -> str:
        body = {
            "caption": "Harbour at dusk, and a first clip #sunset #darkroom with @ben",
            "upload_ids": [self.ids["photo"], self.ids["clip"]],
        }
        post = self.api.json("POST", "/v1/posts", as_="ana", json=body, expect=(200, 201, 202))
        self.ids["post"] = str(post.get("id"))
        _expect(sorted(post.get("tags", [])) == ["darkroom", "sunset"], f"tags {post.get('tags')!r}")
        _expect(post.get("mentions") == ["ben"], f"mentions {post.get('mentions')!r}")
        return f"{self.ids['post']}: {post.get('state')}, tags sunset darkroom, mentions ben"

    def post_ready(self) -> str:
        started = time.monotonic()
        post = self._ready("ana", self.ids["post"])
        kinds = [m.get("kind") for m in post.get("media", [])]
        _expect(kinds == ["photo", "video"], f"media kinds {kinds}")
        return f"ready after {time.monotonic() - started:.1f}s (photo, video)"

    def renditions(self) -> str:
        post = self.api.json("GET", f"/v1/posts/{self.ids['post']}", as_="ana")
        photo, clip = post["media"]
        image = next((r for r in photo.get("renditions", []) if r.get("role") == "image"), None)
        if image is None:
            raise StepFailed("the photo has no image rendition")
        roles = sorted(r.get("role") for r in clip.get("renditions", []))
        _expect(roles == ["dash", "hls", "poster", "storyboard"], f"the clip's renditions are {roles}")
        got = self.api.call("GET", image["url"], as_="ana")
        _expect(got.headers.get("content-type", "").startswith("image/"), f"{got.headers.get('content-type')}")
        hls = next(r for r in clip["renditions"] if r.get("role") == "hls")
        # what a player does: the master playlist, a variant's playlist, then that variant's first media
        url = hls["url"]
        for step in ("master playlist", "variant playlist"):
            playlist = self.api.call("GET", url, as_="ana")
            _expect(playlist.content.startswith(b"#EXTM3U"), f"the HLS {step} does not start with #EXTM3U")
            url = urljoin(url, _first_uri(playlist.text, step))
        segment = self.api.call("GET", url, as_="ana")
        _expect(len(segment.content) > 0, f"the first segment {url} is empty")
        return (f"{image['content_type']} {image['width']}x{image['height']}; clip: {', '.join(roles)}, "
                f"its HLS played to the first segment ({len(segment.content):,} bytes)")  # fmt: skip

    def ben_feed(self) -> str:
        self._in_feed("ben", self.ids["post"], "@ana's post in @ben's feed")
        return "GET /v1/feed"

    def ben_reacts(self) -> str:
        post = self.ids["post"]
        self.api.call("PUT", f"/v1/posts/{post}/like", as_="ben", expect=(200, 201, 204))
        text = "What a light! #sunset"
        made = self.api.json("POST", f"/v1/posts/{post}/comments", as_="ben", json={"text": text}, expect=(200, 201))
        _expect(made.get("text") == text, f"the comment reads {made.get('text')!r}")
        seen = self.api.json("GET", f"/v1/posts/{post}", as_="ben")
        _expect(seen.get("liked_by_me") is True, f"liked_by_me={seen.get('liked_by_me')!r} for @ben")
        return "PUT like, POST comment, liked_by_me"

    def ana_sees_counts(self) -> str:
        path = f"/v1/posts/{self.ids['post']}"

        def counted() -> dict[str, Any] | None:
            post = self.api.json("GET", path, as_="ana")
            return post if (post.get("like_count"), post.get("comment_count")) == (1, 1) else None

        poll(
            "like_count 1 and comment_count 1",
            counted,
            timeout_s=self.timeout_s,
            on_wait=self._waiting("waiting for the counters"),
        )
        items = self.api.json("GET", f"{path}/comments", as_="ana").get("items", [])
        authors = [(c.get("author") or {}).get("handle") for c in items]
        _expect(authors == ["ben"], f"the comments' authors are {authors}")
        return "like_count 1, comment_count 1, the comment listed"

    def cleo_hidden(self) -> str:
        photo = make_picture(
            self.inputs / "quiet.jpg", Picture("quiet", 640, 640, (20, 30, 80), (230, 120, 90), seed=8)
        )
        with photo.open("rb") as f:
            upload = self.api.json(
                "POST", "/v1/uploads", as_="cleo", files={"file": (photo.name, f, "image/jpeg")}, expect=(200, 201, 202)
            )
        body = {"caption": "For my followers #quiet", "upload_ids": [upload.get("id")]}
        post = self.api.json("POST", "/v1/posts", as_="cleo", json=body, expect=(200, 201, 202))
        self.ids["cleo_post"] = str(post.get("id"))
        self._ready("cleo", self.ids["cleo_post"])
        self.api.call("GET", f"/v1/posts/{self.ids['cleo_post']}", as_="ben", expect=(404,))
        return "404 for a non-follower"

    def follow_request(self) -> str:
        self.api.call("POST", "/v1/accounts/cleo/follow", as_="ben", expect=(200, 201, 202, 204))
        cleo = self.api.json("GET", "/v1/accounts/cleo", as_="ben")
        state = (cleo.get("requested_by_me"), cleo.get("followed_by_me"))
        _expect(state == (True, False), f"requested_by_me, followed_by_me = {state}")
        waiting = self.api.json("GET", "/v1/follow-requests", as_="cleo").get("items", [])
        _expect([a.get("handle") for a in waiting] == ["ben"], f"@cleo's requests: {waiting}")
        return "requested_by_me; @ben in @cleo's follow requests"

    def accept(self) -> str:
        self.api.call("POST", "/v1/follow-requests/ben/accept", as_="cleo", expect=(200, 201, 204))
        cleo = self.api.json("GET", "/v1/accounts/cleo", as_="ben")
        _expect(cleo.get("followed_by_me") is True, f"followed_by_me={cleo.get('followed_by_me')!r}")
        shown = self.api.json("GET", "/v1/accounts/cleo/posts", as_="ben").get("items", [])
        _expect([p.get("id") for p in shown] == [self.ids["cleo_post"]], "@cleo's posts are not listed for @ben")
        self.api.call("GET", f"/v1/posts/{self.ids['cleo_post']}", as_="ben")
        self._in_feed("ben", self.ids["cleo_post"], "@cleo's post in @ben's feed")
        return "followed_by_me; her posts, her post and @ben's feed show it"

    # -- helpers -----------------------------------------------------------------------------------
    def _ready(self, who: str, post_id: str) -> dict[str, Any]:
        path = f"/v1/posts/{post_id}"
        last: dict[str, Any] = {}

        def ready() -> dict[str, Any] | None:
            last.update(self.api.json("GET", path, as_=who))
            if last.get("state") == "failed":
                raise StepFailed(f"the post failed: {last.get('error')}")
            return dict(last) if last.get("state") == "ready" else None

        def state() -> str:
            media = ", ".join(f"{m.get('kind')} {m.get('state')}" for m in last.get("media", []))
            return f"post {post_id}: {last.get('state')} ({media})"

        return poll(f"post {post_id} to be ready", ready, timeout_s=self.timeout_s, on_wait=self._waiting(state))

    def _in_feed(self, who: str, post_id: str, what: str) -> None:
        def shown() -> bool | None:
            items = self.api.json("GET", "/v1/feed", as_=who).get("items", [])
            return True if any(p.get("id") == post_id for p in items) else None

        poll(what, shown, timeout_s=self.timeout_s, on_wait=self._waiting(f"waiting for {what}"))

    def _waiting(self, what: str | Callable[[], str]) -> Callable[[float], None]:
        """Shows ``what`` (or what it answers now) and the seconds waited, every 2 s of a wait."""
        next_s = [2.0]

        def show(waited_s: float) -> None:
            if waited_s >= next_s[0]:
                next_s[0] = waited_s + 2.0
                text = what if isinstance(what, str) else what()
                self.console.print(f"    [dim]… {escape(text)} ({waited_s:.0f}s)[/]", soft_wrap=True)

        return show


def _expect(condition: object, detail: str) -> None:
    if not condition:
        raise StepFailed(detail)


def _first_uri(playlist: str, what: str) -> str:
    """The first URI an HLS playlist names: a variant's playlist, an init section or a segment."""
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-MAP:") and 'URI="' in line:
            return line.split('URI="', 1)[1].split('"', 1)[0]
        if line and not line.startswith("#"):
            return line.strip()
    raise StepFailed(f"the HLS {what} names no URI")
