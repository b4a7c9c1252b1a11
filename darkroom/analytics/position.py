"""Stream positions: how far into a Redis stream the ``darkroom.events`` table is.

Every ingest commit records, in its snapshot's summary, the id of the last stream entry it covers
(:func:`summary_properties`): ``darkroom.stream.<stream key>.last-id``. The table's position is that
property on the newest snapshot carrying it (:func:`committed_position`), so it moves with the data
in the same atomic commit; snapshots written by others (jobs, compaction) are stepped over.
"""

from __future__ import annotations

from typing import NamedTuple

from pyiceberg.table import Table

from darkroom.analytics.errors import InvalidEntry

__all__ = ["StreamId", "committed_position", "position_key", "summary_properties"]


class StreamId(NamedTuple):
    """A Redis stream entry id, ``<ms>-<seq>``, ordered as Redis orders them."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, text: str) -> StreamId:
        ms, sep, seq = text.partition("-")
        if not (sep and ms.isdigit() and seq.isdigit()):
            raise InvalidEntry(text, "its id is not <ms>-<seq>")
        return cls(int(ms), int(seq))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


def position_key(stream: str) -> str:
    """The snapshot summary property holding the last entry id of ``stream`` a commit covers."""
    return f"darkroom.stream.{stream}.last-id"


def summary_properties(stream: str, last: StreamId) -> dict[str, str]:
    """The summary properties of a commit covering ``stream`` up to ``last``."""
    return {position_key(stream): str(last)}


def committed_position(table: Table, stream: str) -> StreamId | None:
    """The last entry of ``stream`` committed to ``table`` (as loaded), None before the first."""
    key = position_key(stream)
    snapshot = table.current_snapshot()
    while snapshot is not None:
        value = snapshot.summary.additional_properties.get(key) if snapshot.summary else None
        if value is not None:
            return StreamId.parse(value)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return None
