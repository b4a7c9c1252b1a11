"""The outbox table as the relay sees it: committed, unpublished rows in ``seq`` order, marking
rows published, and deleting published rows after the retention period.

Rows are written by ``events.record``, in each action's own transaction; the relay
(:mod:`darkroom.social.relay`) publishes them. These functions run in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from darkroom.storage.schema import outbox

__all__ = ["Backlog", "OutboxRow", "delete_published", "mark_published", "read_backlog", "read_unpublished"]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An unpublished outbox row as read: ``payload`` is the stored JSON text, parsed per row so
    one garbled row cannot fail the batch."""

    seq: int
    event_id: str
    payload: str


def read_unpublished(conn: sa.Connection, limit: int) -> list[OutboxRow]:
    """Up to ``limit`` unpublished rows, in ``seq`` order (no lock: the relay's lease serializes)."""
    query = (
        sa.select(outbox.c.seq, outbox.c.event_id, sa.cast(outbox.c.payload, sa.Text))
        .where(outbox.c.published_at.is_(None))
        .order_by(outbox.c.seq)
        .limit(limit)
    )
    return [OutboxRow(int(seq), str(event_id), str(payload)) for seq, event_id, payload in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class Backlog:
    """Rows not yet relayed: how many, and how long the oldest has waited (0 when none)."""

    pending: int
    oldest_age_s: float


def read_backlog(conn: sa.Connection, now: float) -> Backlog:
    """The unpublished rows' count and the oldest one's age at ``now``.

    Both read the ``(published_at, seq)`` index's NULL range: the count walks only the backlog, and
    the oldest is the lowest ``seq`` there (rows get their ``seq`` as they are written).
    """
    waiting = outbox.c.published_at.is_(None)
    pending = int(conn.execute(sa.select(sa.func.count()).select_from(outbox).where(waiting)).scalar_one())
    if not pending:
        return Backlog(0, 0.0)
    oldest = conn.execute(sa.select(outbox.c.created_at).where(waiting).order_by(outbox.c.seq).limit(1)).scalar()
    return Backlog(pending, max(0.0, now - float(oldest)) if oldest is not None else 0.0)


def mark_published(conn: sa.Connection, rows: Iterable[OutboxRow], at: float) -> None:
    """Mark ``rows`` published at ``at`` (one UPDATE; rows marked already keep their time)."""
    conn.execute(
        sa.update(outbox)
        .where(outbox.c.seq.in_([r.seq for r in rows]), outbox.c.published_at.is_(None))
        .values(published_at=at)
    )


def delete_published(conn: sa.Connection, before: float, limit: int) -> int:
    """Delete up to ``limit`` rows published before ``before``, oldest first; answer how many."""
    oldest = (
        sa.select(outbox.c.seq)
        .where(outbox.c.published_at < before)
        .order_by(outbox.c.published_at, outbox.c.seq)
        .limit(limit)
    )
    return int(conn.execute(sa.delete(outbox).where(outbox.c.seq.in_(oldest.scalar_subquery()))).rowcount)
