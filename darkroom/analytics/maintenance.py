"""Maintenance of every table in the ``darkroom`` namespace: compaction
(:mod:`darkroom.analytics.compaction`), then snapshot expiry and orphan-file removal
(:mod:`darkroom.analytics.expiry`), protecting what the jobs still need. ``darkroom analytics
maintain`` runs it once; the ingest process runs it between rounds (docs/analytics.md,
"Maintenance").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pyiceberg.catalog import Catalog

from darkroom.analytics.compaction import Compacted, CompactionPolicy, compact
from darkroom.analytics.expiry import Expired, ExpiryPolicy, Reader, expire
from darkroom.analytics.tables import NAMESPACE
from darkroom.config import Settings

__all__ = ["Maintained", "MaintenancePolicy", "maintain", "readers"]


@dataclass(frozen=True, slots=True)
class MaintenancePolicy:
    compaction: CompactionPolicy = field(default_factory=CompactionPolicy)
    expiry: ExpiryPolicy = field(default_factory=ExpiryPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> MaintenancePolicy:
        return cls(expiry=ExpiryPolicy(retention_s=settings.analytics_snapshot_retention_s))


@dataclass(frozen=True, slots=True)
class Maintained:
    compacted: list[Compacted]
    expired: list[Expired]
    elapsed_s: float

    def __str__(self) -> str:
        files = sum(c.files_before - c.files_after for c in self.compacted)
        expired = sum(e.expired for e in self.expired)
        orphans = sum(e.orphans_removed for e in self.expired)
        return (
            f"{len(self.compacted)} partitions compacted ({files} fewer files), {expired} snapshots expired, "
            f"{orphans} orphan files deleted, {self.elapsed_s:.2f}s"
        )


def readers() -> list[Reader]:
    """Every job as a :class:`Reader`: whose processed snapshots expiry keeps."""
    from darkroom.analytics.jobs import JOBS  # the jobs import DuckDB: only when maintaining

    return [Reader(j.name, j.source, j.target) for j in JOBS]


def maintain(
    catalog: Catalog,
    policy: MaintenancePolicy | None = None,
    *,
    compaction: bool = True,
    expiry: bool = True,
    jobs: list[Reader] | None = None,
) -> Maintained:
    """Compact, then expire, every table of the namespace (each step when asked)."""
    started = time.perf_counter()
    policy = policy or MaintenancePolicy()
    jobs = readers() if jobs is None and expiry else (jobs or [])
    compacted: list[Compacted] = []
    expired: list[Expired] = []
    names = sorted(catalog.list_tables(NAMESPACE)) if catalog.namespace_exists(NAMESPACE) else []
    for name in names:
        table = catalog.load_table(name)
        if compaction:
            compacted.extend(compact(table, policy.compaction))
        if expiry:
            expired.append(expire(catalog, table, jobs, policy.expiry))
    return Maintained(compacted, expired, time.perf_counter() - started)
