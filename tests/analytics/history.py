"""A seeded random history of platform events for the job tests: small pools of accounts, posts,
tags and workflows, so keys collide; events in time order with some days late; stream entries in
the relay's format (``Event.to_fields``), workflow events in their documented shape."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import orjson

from darkroom.social.ids import new_id

T0 = 1_773_144_000.0  # 2026-03-10 12:00 UTC
_TAGS = ("cats", "dogs", "sea", "sun", "ünïcode", "x_1")
_WORKFLOWS = ("video", "image")
_PRIORITIES = ("interactive", "batch")


@dataclass
class History:
    """``batch()`` answers the next batch of stream entries; ``sent`` holds every entry sent."""

    rng: random.Random
    now: float = T0
    accounts: list[str] = field(default_factory=lambda: [new_id() for _ in range(4)])
    posts: list[str] = field(default_factory=lambda: [new_id() for _ in range(5)])
    sent: list[dict[str, str]] = field(default_factory=list)

    def batch(self, size: int, *, late_share: float = 0.2, duplicate_share: float = 0.1) -> list[dict[str, str]]:
        out = []
        for _ in range(size):
            if self.sent and self.rng.random() < duplicate_share:
                out.append(self.rng.choice(self.sent))  # the relay published it again: same event_id
                continue
            self.now += self.rng.uniform(0, 3 * 3600)
            at = self.now - self.rng.uniform(3600, 4 * 86_400) if self.rng.random() < late_share else self.now
            entry = self._event(at)
            self.sent.append(entry)
            out.append(entry)
        return out

    def _event(self, at: float) -> dict[str, str]:
        rng = self.rng
        kind = rng.choice(
            ["post.viewed"] * 5
            + ["post.liked", "comment.created", "post.created", "post.created", "account.followed"]
            + ["step.finished", "step.finished", "workflow.finished"]
        )
        account = rng.choice(self.accounts)
        post = ""
        data: dict[str, object] = {}
        if kind == "post.created":
            post = new_id()
            self.posts.append(post)
            data = {"upload_ids": [new_id()], "tags": rng.sample(_TAGS, rng.randint(0, 3))}
        elif kind.startswith(("post.", "comment.")):
            post = rng.choice(self.posts)
            if kind == "comment.created":
                data = {"comment_id": new_id(), "author_id": account}
        elif kind == "account.followed":
            data = {"followee_id": rng.choice(self.accounts)}
        else:
            data = {"workflow_id": new_id(), "workflow": rng.choice(_WORKFLOWS), "priority": rng.choice(_PRIORITIES)}
            data["state"] = "succeeded"
            data["duration_ms"] = rng.randint(1, 60_000)
            if kind == "step.finished":
                data["step"] = rng.choice(("probe", "encode"))
            else:
                data["lateness_ms"] = rng.randint(-30_000, 30_000)
        return {
            "event_id": new_id(),
            "type": kind,
            "occurred_at": repr(at),
            "account_id": account,
            "post_id": post,
            "data": orjson.dumps(data).decode(),
        }
