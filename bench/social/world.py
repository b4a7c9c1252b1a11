"""The benchmark's social graph, made from a seed: accounts, follows with a power-law in-degree,
posts, the active accounts and their bearer tokens. Pure numpy, no database: :mod:`.dataset` loads
it into PostgreSQL, :mod:`.feeds` builds its feeds in Redis. The same :class:`Scale` always makes
the same world, so a cached database and a regenerated world agree.

In-degree: the account of rank ``r`` (ranks shuffled over accounts) has ``C * r**-alpha``
followers, capped at everyone else, ``C`` chosen so the follows add up; each account's followers
are drawn uniformly from the others (so out-degrees are close to the mean). Posts: authors drawn
uniformly, times uniform over the :data:`POST_DAYS` days before :data:`END_S`; ids are ULIDs of
those times, so id order is time order, as in the product.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

__all__ = ["END_S", "POST_DAYS", "Scale", "World", "generate", "ulids"]

END_S = 1_761_955_200  # 2025-11-01 00:00 UTC: the newest post; fixed, so the data set never changes
POST_DAYS = 90
ACCOUNT_DAYS = 365  # accounts were created in the year before the first post
_CROCKFORD = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)

Ints = npt.NDArray[np.int64]
Ids = npt.NDArray[np.bytes_]


@dataclass(frozen=True)
class Scale:
    """What to make. ``alpha``: the in-degree's power-law exponent (Zipf by rank)."""

    accounts: int = 100_000
    follows: int = 10_000_000
    posts: int = 1_000_000
    active_share: float = 0.20
    seed: int = 1
    alpha: float = 0.9

    def __post_init__(self) -> None:
        if self.accounts < 10 or self.posts < 1 or not 0 < self.active_share <= 1:
            raise ValueError(f"a scale needs >= 10 accounts, >= 1 post and 0 < active_share <= 1: {self}")
        if not 0 < self.follows <= self.accounts * (self.accounts - 1) // 2:
            raise ValueError(f"{self.follows} follows do not fit {self.accounts} accounts")

    @property
    def active(self) -> int:
        return max(1, round(self.accounts * self.active_share))


def ulids(ms: Ints, rng: np.random.Generator) -> Ids:
    """ULIDs (26 Crockford base32 characters: 48 bits of milliseconds, 80 random bits) of ``ms``."""
    n = len(ms)
    out = np.empty((n, 26), dtype=np.uint8)
    for k in range(10):
        out[:, k] = _CROCKFORD[(ms >> (45 - 5 * k)) & 31]
    for half in range(2):
        bits = rng.integers(0, 1 << 40, size=n, dtype=np.int64)
        for k in range(8):
            out[:, 10 + 8 * half + k] = _CROCKFORD[(bits >> (35 - 5 * k)) & 31]
    return out.view("S26").reshape(n)


def _in_degrees(scale: Scale, rng: np.random.Generator) -> Ints:
    n, cap = scale.accounts, scale.accounts - 1
    rank = np.arange(1, n + 1, dtype=np.float64) ** -scale.alpha
    lo, hi = 0.0, float(scale.follows)
    for _ in range(100):  # the C for which the capped degrees add up to the follows asked for
        c = (lo + hi) / 2
        if np.minimum(c * rank, cap).sum() > scale.follows:
            hi = c
        else:
            lo = c
    degrees = np.minimum(np.rint(lo * rank), cap).astype(np.int64)
    return degrees[rng.permutation(n)]


def _followers_of(n: int, j: int, d: int, rng: np.random.Generator) -> Ints:
    """``d`` distinct accounts other than ``j``."""
    if d >= n - 1:
        picked = np.arange(n - 1, dtype=np.int64)
    elif d > (n - 1) // 2:
        left_out = rng.choice(n - 1, size=n - 1 - d, replace=False)
        keep = np.ones(n - 1, dtype=bool)
        keep[left_out] = False
        picked = np.flatnonzero(keep).astype(np.int64)
    else:
        picked = rng.choice(n - 1, size=d, replace=False).astype(np.int64)
    picked[picked >= j] += 1
    return picked


@dataclass
class World:
    """Accounts are indexes ``0..accounts-1``; posts are indexes in id (= time) order."""

    scale: Scale
    account_ids: Ids
    account_ms: Ints
    follower: Ints  # one follow per position: follower -> followee, sorted by follower then followee
    followee: Ints
    follow_s: Ints
    post_ids: Ids
    post_ms: Ints
    post_author: Ints
    active: Ints  # accounts by activity rank: the first k are the active ones at any share

    @cached_property
    def in_degree(self) -> Ints:
        return np.bincount(self.followee, minlength=self.scale.accounts).astype(np.int64)

    @cached_property
    def out_degree(self) -> Ints:
        return np.bincount(self.follower, minlength=self.scale.accounts).astype(np.int64)

    @cached_property
    def post_count(self) -> Ints:
        return np.bincount(self.post_author, minlength=self.scale.accounts).astype(np.int64)

    @cached_property
    def _follow_starts(self) -> Ints:
        return np.concatenate([[0], np.cumsum(self.out_degree)])

    @cached_property
    def _posts_by_author(self) -> tuple[Ints, Ints]:
        order = np.argsort(self.post_author, kind="stable")  # each author's posts stay in id order
        return order.astype(np.int64), np.concatenate([[0], np.cumsum(self.post_count)])

    def followees(self, account: int) -> Ints:
        s = self._follow_starts
        return self.followee[s[account] : s[account + 1]]

    def posts_of(self, account: int) -> Ints:
        """``account``'s posts, oldest first."""
        order, starts = self._posts_by_author
        return order[starts[account] : starts[account + 1]]

    def active_accounts(self, share: float | None = None) -> Ints:
        """The first ``share`` of accounts by activity rank (the scale's share by default)."""
        k = self.scale.active if share is None else max(1, round(self.scale.accounts * share))
        return self.active[:k]

    def handle(self, account: int) -> str:
        return f"u{account:07d}"

    def token(self, account: int) -> str:
        """``account``'s bearer token (a ``drt_`` secret made from the seed: the database keeps its digest)."""
        mac = hmac.new(f"bench-social-{self.scale.seed}".encode(), self.account_ids[account], hashlib.sha256)
        return "drt_" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def id_of(self, account: int) -> str:
        return self.account_ids[account].decode()

    def post_id(self, post: int) -> str:
        return self.post_ids[post].decode()


def generate(scale: Scale) -> World:
    """The world of ``scale`` (deterministic: the same scale, the same world)."""
    rng = np.random.default_rng(scale.seed)
    n = scale.accounts
    post_start_ms = (END_S - POST_DAYS * 86400) * 1000
    account_ms = np.sort(rng.integers(post_start_ms - ACCOUNT_DAYS * 86400 * 1000, post_start_ms, size=n))
    account_ids = ulids(account_ms, rng)
    degrees = _in_degrees(scale, rng)
    followers = [_followers_of(n, j, int(d), rng) for j, d in enumerate(degrees)]
    follower = np.concatenate(followers)
    followee = np.repeat(np.arange(n, dtype=np.int64), degrees)
    order = np.lexsort((followee, follower))
    follower, followee = follower[order], followee[order]
    newer = np.maximum(account_ms[follower], account_ms[followee]) // 1000
    follow_s = newer + (rng.random(len(follower)) * (post_start_ms // 1000 - newer)).astype(np.int64)
    post_ms = np.sort(rng.integers(post_start_ms, END_S * 1000, size=scale.posts))
    post_ids = ulids(post_ms, rng)
    by_id = np.argsort(post_ids, kind="stable")  # ties within a millisecond: the random part decides
    post_ids, post_ms = post_ids[by_id], post_ms[by_id]
    post_author = rng.integers(0, n, size=scale.posts).astype(np.int64)
    active = rng.permutation(n).astype(np.int64)
    return World(scale, account_ids, account_ms, follower, followee, follow_s, post_ids, post_ms, post_author, active)
