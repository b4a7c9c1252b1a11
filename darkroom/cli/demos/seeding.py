"""Plant a :class:`~darkroom.cli.demos.social_sample.SampleSet` on a running platform
(``darkroom seed --sample``), through the domain as a person's actions would go.

Media are generated, received with :func:`darkroom.social.uploads.receive_upload` and started with
the :class:`~darkroom.social.processing.AfterCommit` starter, so they run the real media workflows
on the platform's workers; the platform's social runner settles the posts. Likes and comments need
a ready post, so they wait for the posts (with a deadline).

Every step adds only what is missing: an account by handle, a follow, a post by author and caption,
a like, a comment by author, post and text. A second run adds nothing; a run cut short is finished
by the next. A handle taken by an account that is not the sample's (its email is not the sample's)
stops the run before anything is written.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from darkroom.cli.demos.samples import Picture, make_clip, make_picture
from darkroom.cli.demos.social_sample import Clip, SampleAccount, SampleFollow, SamplePost, SampleSet
from darkroom.platform.wiring import Wiring
from darkroom.social import account_edits, account_lifecycle, graph, posts, reactions
from darkroom.social.errors import AlreadyExists
from darkroom.social.processing import AfterCommit
from darkroom.social.uploads import UploadLimits, receive_upload
from darkroom.social.viewer import Viewer
from darkroom.storage.schema import accounts as accounts_table
from darkroom.storage.schema import comments, follows
from darkroom.storage.schema import posts as posts_table

__all__ = ["Added", "PlantedPost", "SeedReport", "Waiting", "plant"]

POLL_S = 0.5  # how often the posts' states are read while waiting (one indexed query)


@dataclass
class Added:
    """What one run added (all zero: the sample was there already)."""

    accounts: int = 0
    follows: int = 0
    posts: int = 0
    likes: int = 0
    comments: int = 0

    @property
    def nothing(self) -> bool:
        return not (self.accounts or self.follows or self.posts or self.likes or self.comments)


@dataclass(frozen=True, slots=True)
class PlantedPost:
    key: str
    id: str
    author: str
    caption: str
    state: posts.PostState
    media: int


@dataclass
class SeedReport:
    """``created`` holds the handles made by this run (they have its password); ``skipped`` the
    likes and comments left out because their post was not ready in time."""

    accounts: list[SampleAccount]
    created: list[str]
    posts: list[PlantedPost]
    added: Added
    skipped: int = 0
    waited_s: float = 0.0

    @property
    def settled(self) -> bool:
        """Every post is ready (none failed, none still processing)."""
        return all(p.state is posts.PostState.READY for p in self.posts)


@dataclass(frozen=True, slots=True)
class Waiting:
    """Progress while waiting: how many posts are ready out of all, and for how long so far."""

    ready: int
    total: int
    elapsed_s: float


@dataclass
class _Run:
    wiring: Wiring
    sample: SampleSet
    password: str
    viewers: dict[str, Viewer] = field(default_factory=dict)
    added: Added = field(default_factory=Added)
    created: list[str] = field(default_factory=list)


def plant(
    wiring: Wiring,
    sample: SampleSet,
    *,
    password: str,
    timeout_s: float = 300.0,
    on_wait: Callable[[Waiting], None] | None = None,
) -> SeedReport:
    """Add what is missing of ``sample`` (new accounts get ``password``); wait up to ``timeout_s``
    for the posts to be processed, then like and comment on those that are ready."""
    run = _Run(wiring, sample, password)
    _accounts(run)
    _follows(run)
    post_ids = {post.key: _post(run, post) for post in sample.posts}
    started = time.monotonic()
    states = _wait(wiring.db, post_ids, timeout_s, on_wait)
    waited_s = time.monotonic() - started
    ready = {key for key, state in states.items() if state is posts.PostState.READY}
    skipped = _reactions(run, post_ids, ready)
    by_key = {p.key: p for p in sample.posts}
    planted = [
        PlantedPost(key, post_id, by_key[key].author, by_key[key].caption, states[key], len(by_key[key].media))
        for key, post_id in post_ids.items()
    ]
    return SeedReport(list(sample.accounts), run.created, planted, run.added, skipped, waited_s)


# -- accounts and follows --------------------------------------------------------------------------
def _accounts(run: _Run) -> None:
    with run.wiring.db.begin() as conn:
        for wanted in run.sample.accounts:  # every handle checked before anything is written
            row = conn.execute(sa.select(accounts_table).where(accounts_table.c.handle == wanted.handle)).first()
            if row is not None and (row.email != wanted.email or row.deleted_at is not None or row.disabled):
                raise AlreadyExists(
                    f"@{wanted.handle} is taken by an account that is not the sample's (or was deleted or "
                    "disabled): the sample would act as it, so nothing was seeded",
                    field="handle",
                )
    with run.wiring.db.begin() as conn:
        for wanted in run.sample.accounts:
            row = conn.execute(sa.select(accounts_table).where(accounts_table.c.handle == wanted.handle)).first()
            if row is None:
                made = account_lifecycle.create_account(
                    conn,
                    handle=wanted.handle,
                    email=wanted.email,
                    password=run.password,
                    display_name=wanted.display_name,
                    private=wanted.private,
                )
                viewer = Viewer(made.id, made.handle)
                changes = account_edits.AccountChanges(display_name=wanted.display_name, bio=wanted.bio)
                account_edits.update_account(conn, viewer, changes, ["bio"])
                run.created.append(made.handle)
                run.added.accounts += 1
            else:
                viewer = Viewer(row.id, row.handle)
            run.viewers[wanted.handle] = viewer


def _follows(run: _Run) -> None:
    with run.wiring.db.begin() as conn:
        for edge in run.sample.follows:
            _follow(conn, run, edge)


def _follow(conn: sa.Connection, run: _Run, edge: SampleFollow) -> None:
    follower, followee = run.viewers[edge.follower], run.viewers[edge.followee]
    where = (follows.c.follower_id == follower.account_id, follows.c.followee_id == followee.account_id)
    before = conn.execute(sa.select(follows.c.state).where(*where)).scalar()
    state = graph.follow(conn, follower, edge.followee)
    if state is graph.FollowState.REQUESTED and edge.accepted:
        graph.accept_request(conn, followee, edge.follower)
        state = graph.FollowState.ACTIVE
    if state.value != before:
        run.added.follows += 1


# -- posts -----------------------------------------------------------------------------------------
def _post(run: _Run, post: SamplePost) -> str:
    """The id of the author's live post with this caption, or of a new one."""
    author = run.viewers[post.author]
    w = run.wiring
    with w.db.connect() as conn:
        found = conn.execute(
            sa.select(posts_table.c.id)
            .where(
                posts_table.c.author_id == author.account_id,
                posts_table.c.caption == post.caption,
                posts_table.c.deleted_at.is_(None),
            )
            .limit(1)
        ).scalar()
    if found is not None:
        return str(found)
    limits = UploadLimits.from_settings(w.settings)
    starter = AfterCommit(w.workflows)
    with tempfile.TemporaryDirectory(prefix="darkroom-seed-") as scratch:
        files = [_media_file(Path(scratch), item, n) for n, item in enumerate(post.media)]
        with starter.transaction(w.db) as conn:
            upload_ids = []
            for path in files:
                with path.open("rb") as stream:
                    row = receive_upload(
                        conn,
                        w.blobs,
                        author,
                        stream,
                        filename=path.name,
                        limits=limits,
                        spool_dir=w.settings.home / "uploads",
                        start=starter,
                    )
                upload_ids.append(row.id)
            made = posts.create_post(conn, author, caption=post.caption, upload_ids=upload_ids)
    run.added.posts += 1
    return made.id


def _media_file(folder: Path, item: Picture | Clip, n: int) -> Path:
    name = f"{n}-{item.title if isinstance(item, Picture) else item.name}".replace(" ", "-")
    if isinstance(item, Picture):
        return make_picture(folder / f"{name}.jpg", item)
    return make_clip(folder / f"{name}.mp4", duration_s=item.duration_s, width=item.width, height=item.height)


def _wait(
    engine: sa.Engine, post_ids: dict[str, str], timeout_s: float, on_wait: Callable[[Waiting], None] | None
) -> dict[str, posts.PostState]:
    """Each post's state once none is processing, or at the deadline."""
    started = time.monotonic()
    keys = {post_id: key for key, post_id in post_ids.items()}
    while True:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(posts_table.c.id, posts_table.c.state).where(posts_table.c.id.in_(keys)))
            states = {keys[post_id]: posts.PostState(state) for post_id, state in rows}
        elapsed = time.monotonic() - started
        ready = sum(state is posts.PostState.READY for state in states.values())
        if on_wait is not None:
            on_wait(Waiting(ready, len(states), elapsed))
        if posts.PostState.PROCESSING not in states.values() or elapsed >= timeout_s:
            return states
        time.sleep(POLL_S)  # another process (the platform's social runner) settles them


# -- likes and comments ----------------------------------------------------------------------------
def _reactions(run: _Run, post_ids: dict[str, str], ready: set[str]) -> int:
    """Like and comment on the ready posts; answers how many were left out (post not ready)."""
    skipped = 0
    with run.wiring.db.begin() as conn:
        for like in run.sample.likes:
            if like.post not in ready:
                skipped += 1
            elif reactions.like(conn, run.viewers[like.who], post_ids[like.post]):
                run.added.likes += 1
        for comment in run.sample.comments:
            if comment.post not in ready:
                skipped += 1
                continue
            who, post_id = run.viewers[comment.who], post_ids[comment.post]
            there = conn.execute(
                sa.select(comments.c.id).where(
                    comments.c.post_id == post_id,
                    comments.c.author_id == who.account_id,
                    comments.c.text == comment.text,
                    comments.c.deleted_at.is_(None),
                )
            ).first()
            if there is None:
                reactions.add_comment(conn, who, post_id, comment.text)
                run.added.comments += 1
    return skipped
