"""Analytics: platform events in Apache Iceberg tables, ingested incrementally.

- :mod:`~darkroom.analytics.catalog`: the ``darkroom`` SQL catalog (SQLite or PostgreSQL) and its
  warehouse (a directory or S3).
- :mod:`~darkroom.analytics.tables`: ``darkroom.events``; :mod:`~darkroom.analytics.rows`: stream
  entries to its rows.
- :mod:`~darkroom.analytics.ingest`: the events stream into it, one commit per micro-batch,
  exactly once (:mod:`~darkroom.analytics.batch`, :mod:`~darkroom.analytics.position`,
  :mod:`~darkroom.analytics.settle`, :mod:`~darkroom.analytics.dedupe`).
- :mod:`~darkroom.analytics.jobs`: incremental jobs over the tables, on change capture from the
  manifests (:mod:`~darkroom.analytics.changes`) and a state kept in each target's commits
  (:mod:`~darkroom.analytics.state`); :mod:`~darkroom.analytics.query`: ad-hoc DuckDB SQL.

docs/analytics.md explains the model. This package may import social's event definitions (the
stream's key and entry format), never the web or platform packages above it.
"""

from __future__ import annotations

from darkroom.analytics.batch import MAX_BATCH_EVENTS, Batch, BatchLimits, BatchReader
from darkroom.analytics.catalog import CATALOG_NAME, CatalogLocation, catalog_location, open_catalog
from darkroom.analytics.errors import AnalyticsError, InvalidCatalogUrl, InvalidEntry, InvalidIngestConfig, OutOfOrder
from darkroom.analytics.ingest import Committed, Ingester
from darkroom.analytics.position import StreamId, committed_position
from darkroom.analytics.rows import EventColumns, EventRow, row_from_entry
from darkroom.analytics.settle import GROUP
from darkroom.analytics.tables import EVENTS, events_table

__all__ = [
    "AnalyticsError",
    "Batch",
    "BatchLimits",
    "BatchReader",
    "CATALOG_NAME",
    "CatalogLocation",
    "Committed",
    "EVENTS",
    "EventColumns",
    "EventRow",
    "GROUP",
    "Ingester",
    "InvalidCatalogUrl",
    "InvalidEntry",
    "InvalidIngestConfig",
    "MAX_BATCH_EVENTS",
    "OutOfOrder",
    "StreamId",
    "catalog_location",
    "committed_position",
    "events_table",
    "open_catalog",
    "row_from_entry",
]
