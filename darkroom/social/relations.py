"""How one signed-in account relates to a batch of accounts and posts, read in one statement.

Visibility (blocks, follows of private accounts), the viewer fields of an account
(``followed_by_me``, ``requested_by_me``, ``follows_me``, ``blocked_by_me``) and of a post
(``liked_by_me``) all come from the same few index lookups; asking for them in one ``UNION ALL``
keeps a hydrated page at one round trip for everything about the viewer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect

from darkroom.storage.schema import blocks, follows, likes

__all__ = [
    "NONE",
    "Kinded",
    "Lookup",
    "PartBuilder",
    "Relations",
    "among",
    "array_literal",
    "collect",
    "load",
    "queries",
    "run",
]

Kinded = sa.Select[str, str]  # a select of (kind, id) rows, one part of the UNION ALL
# a part for a dialect, with named parameters (``viewer_id``, ``accounts``, ``posts``…); parts are
# built once per dialect and kept, statements too: building and hashing a statement costs several
# times what executing a cached one does
PartBuilder = Callable[[str], Kinded]


@dataclass(frozen=True, slots=True)
class Relations:
    """A viewer's edges to the accounts and posts it was loaded for."""

    following: frozenset[str] = frozenset()  # active follows viewer → account
    requested: frozenset[str] = frozenset()  # follow requests viewer → private account, unanswered
    followers: frozenset[str] = frozenset()  # active follows account → viewer
    blocking: frozenset[str] = frozenset()  # the viewer blocks the account
    blocked_by: frozenset[str] = frozenset()  # the account blocks the viewer
    liked: frozenset[str] = frozenset()  # posts the viewer likes

    @property
    def hidden(self) -> frozenset[str]:
        """Accounts in a block with the viewer, either way."""
        return self.blocking | self.blocked_by


NONE = Relations()


@dataclass(frozen=True, slots=True)
class Lookup:
    """Parts of one ``UNION ALL`` statement and the values of their parameters; ``+`` joins two."""

    parts: tuple[PartBuilder, ...] = ()
    params: Mapping[str, object] = field(default_factory=dict)

    def __add__(self, other: Lookup) -> Lookup:
        return Lookup(self.parts + other.parts, {**self.params, **other.params})


def load(conn: sa.Connection, viewer_id: str, accounts: Collection[str] = (), posts: Collection[str] = ()) -> Relations:
    """The edges between ``viewer_id`` and ``accounts`` / ``posts``: one statement, none when both
    are empty."""
    lookup = queries(viewer_id, accounts, posts)
    if not lookup.parts:
        return NONE
    return collect(run(conn, lookup))


def run(conn: sa.Connection, lookup: Lookup) -> list[tuple[str, str]]:
    """Execute ``lookup``'s parts as one statement: their ``(kind, id)`` rows."""
    if not lookup.parts:
        return []
    if conn.dialect.name == "postgresql" and not _observed(conn):
        return _run_on_psycopg(conn, lookup)
    result = conn.execute(_statement(conn.dialect.name, lookup.parts), dict(lookup.params))
    return [(str(kind), str(id_)) for kind, id_ in result]


def _run_on_psycopg(conn: sa.Connection, lookup: Lookup) -> list[tuple[str, str]]:
    """:func:`run` on PostgreSQL: the statement SQLAlchemy compiled (once per set of parts) sent on
    the connection's psycopg cursor, in its transaction. SQLAlchemy's execution around it (the
    parameters processed, the result's metadata built at every execution) was about a tenth of a
    feed page's CPU, for a statement every page sends (docs/benchmarks.md). The parameters are
    bound as SQLAlchemy would: every list is an :func:`among` list, an array literal. Errors are
    SQLAlchemy's, as if it had run the statement. A connection whose statements something observes
    (:func:`_observed`) is not sent this way."""
    sql, defaults = _compiled(lookup.parts, conn.dialect)
    params = dict(defaults)
    for name, value in lookup.params.items():
        params[name] = array_literal(value) if isinstance(value, (list, tuple)) else value
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, params)
        return [(str(kind), str(id_)) for kind, id_ in cursor.fetchall()]
    except Exception as exc:
        import psycopg

        if not isinstance(exc, psycopg.Error):
            raise
        if isinstance(exc, psycopg.OperationalError):
            conn.invalidate(exc)  # a broken connection goes back to no pool
        raise sa.exc.DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
    finally:
        cursor.close()


def _observed(conn: sa.Connection) -> bool:
    """Whether something listens to the statements ``conn`` sends (tracing, tests counting them):
    then they go SQLAlchemy's way, which tells it."""
    events = conn.dispatch
    return bool(events.before_cursor_execute or events.after_cursor_execute)


_COMPILED: dict[tuple[str, tuple[PartBuilder, ...]], tuple[str, dict[str, Any]]] = {}


def _compiled(parts: tuple[PartBuilder, ...], dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The statement's text and its literals' values, compiled once per dialect and set of parts."""
    key = (dialect.name, parts)
    found = _COMPILED.get(key)
    if found is None:
        statement = _statement(dialect.name, parts)
        assert isinstance(statement, sa.sql.ClauseElement)
        compiled = statement.compile(dialect=dialect)
        found = _COMPILED[key] = (str(compiled), dict(compiled.params))
    return found


@functools.cache
def _statement(dialect: str, parts: tuple[PartBuilder, ...]) -> sa.Executable:
    built = [p(dialect) for p in parts]
    return built[0] if len(built) == 1 else sa.union_all(*built)


def among(column: sa.ColumnElement[str], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column IN :name`` (a list parameter); on PostgreSQL ``column = ANY(CAST(:name AS
    VARCHAR[]))``, one parameter (the list bound as an array literal, :func:`array_literal`), so
    the statement's text and parameter count stay the same whatever the list's length. That keeps
    a page's statements in the drivers' caches: psycopg parses a statement of more than 50
    parameters again at every execution (a feed page's relations statement had about 150, and
    parsing it was a tenth of the feed route's CPU). SQLite has no arrays: an expanding ``IN``
    list there."""
    if dialect == "postgresql":
        return column == sa.any_(sa.cast(sa.bindparam(name, type_=_IdList()), ARRAY(sa.String)))
    return column.in_(sa.bindparam(name, expanding=True))


_IDS = re.compile(r"[0-9A-Z]{26}(?:,[0-9A-Z]{26})*")  # ULIDs, the ids every list here holds


def array_literal(values: Iterable[str]) -> str:
    """``values`` as a PostgreSQL array literal (``{a,b}``), each element quoted unless every one
    is a plain id (so ``NULL``, commas, braces and quotes stay text)."""
    items = list(values)
    joined = ",".join(items)  # a TypeError for anything but strings
    if not items:
        return "{}"
    if _IDS.fullmatch(joined):
        return "{" + joined + "}"
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in items) + "}"


class _IdList(sa.types.TypeDecorator[Any]):
    """A list of strings bound as one array literal (text) that the statement casts to an array.
    psycopg's own dumping of a Python list inspects every element (measured on a loaded machine:
    about 70 µs of CPU for a list of 20 ids; a feed page's relations statement, four lists, went
    from ~760 to ~600 µs of client CPU); one regex over the joined ids is a few µs."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        return array_literal(value)


def queries(viewer_id: str, accounts: Collection[str] = (), posts: Collection[str] = ()) -> Lookup:
    """The parts behind :func:`load` and their parameters, for a caller that adds its own parts to
    the same statement (resources/posts.py)."""
    accounts = sorted(set(accounts) - {viewer_id})
    posts = sorted(set(posts))
    parts: tuple[PartBuilder, ...] = ()
    params: dict[str, object] = {"viewer_id": viewer_id}
    if accounts:
        parts += (_following, _followers, _blocking, _blocked_by)
        params["accounts"] = accounts
    if posts:
        parts += (_liked,)
        params["posts"] = posts
    return Lookup(parts, params) if parts else Lookup()


_VIEWER = sa.bindparam("viewer_id", type_=sa.String)


def _following(dialect: str) -> Kinded:
    return sa.select(follows.c.state.label("kind"), follows.c.followee_id.label("id")).where(
        follows.c.follower_id == _VIEWER, among(follows.c.followee_id, "accounts", dialect)
    )


def _followers(dialect: str) -> Kinded:
    return sa.select(_kind("follower"), follows.c.follower_id.label("id")).where(
        follows.c.followee_id == _VIEWER,
        follows.c.state == "active",
        among(follows.c.follower_id, "accounts", dialect),
    )


def _blocking(dialect: str) -> Kinded:
    return sa.select(_kind("blocking"), blocks.c.blocked_id.label("id")).where(
        blocks.c.blocker_id == _VIEWER, among(blocks.c.blocked_id, "accounts", dialect)
    )


def _blocked_by(dialect: str) -> Kinded:
    return sa.select(_kind("blocked_by"), blocks.c.blocker_id.label("id")).where(
        blocks.c.blocked_id == _VIEWER, among(blocks.c.blocker_id, "accounts", dialect)
    )


def _liked(dialect: str) -> Kinded:
    return sa.select(_kind("liked"), likes.c.post_id.label("id")).where(
        likes.c.account_id == _VIEWER, among(likes.c.post_id, "posts", dialect)
    )


def collect(rows: Iterable[tuple[str, str]]) -> Relations:
    """The :class:`Relations` in ``(kind, id)`` rows; kinds this module does not know are skipped."""
    found: dict[str, set[str]] = {}
    for kind, id_ in rows:
        found.setdefault(kind, set()).add(id_)

    def of(kind: str) -> frozenset[str]:
        return frozenset(found.get(kind, ()))

    return Relations(
        following=of("active"),
        requested=of("requested"),
        followers=of("follower"),
        blocking=of("blocking"),
        blocked_by=of("blocked_by"),
        liked=of("liked"),
    )


def _kind(name: str) -> sa.Label[str]:
    return sa.literal(name, sa.String).label("kind")
