"""Every queue at a glance, for operators: its settings and its depth per state, read together.

:func:`overview` costs three round trips however many queues there are: the names, their
settings, then every queue's :meth:`~darkroom.queue.admin.QueueOps.stats` in one pipeline
(:meth:`~darkroom.queue.client.RedisQueue.batch`), not one trip per queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from darkroom.queue.client import RedisQueue
from darkroom.queue.errors import QueueNotFound
from darkroom.queue.models import QueueInfo, QueueStats, State

__all__ = ["QueueOverview", "overview"]


@dataclass(frozen=True, slots=True)
class QueueOverview:
    """One queue: what it is (:class:`QueueInfo`) and what is in it now (:class:`QueueStats`)."""

    info: QueueInfo
    stats: QueueStats

    @property
    def name(self) -> str:
        return self.info.name

    def depth(self, state: State) -> int:
        """Messages in ``state`` (``invisible`` are the delayed ones, ``errored`` the dead ones)."""
        return self.stats.counts.get(state, 0)

    @property
    def lateness_s(self) -> float:
        """How far past its deadline the most urgent ready message is (0 when on time or none)."""
        return self.stats.lateness_s


def overview(queue: RedisQueue) -> list[QueueOverview]:
    """Every queue of ``queue``'s namespace by name, with its stats. A queue deleted between the
    reads is left out."""
    infos = queue.list_queues()
    if not infos:
        return []
    found = queue.batch([queue.ops.stats(info.name) for info in infos])
    out: list[QueueOverview] = []
    for info, stats in zip(infos, found, strict=True):
        if isinstance(stats, QueueNotFound):
            continue
        if isinstance(stats, Exception):
            raise stats
        out.append(QueueOverview(info, stats))
    return out
