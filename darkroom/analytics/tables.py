"""The analytics tables: ``darkroom.events``, every platform event, one row each.

An Iceberg v2 table partitioned by ``day(occurred_at)``:

==============  ===========  =========  =====================================================
column          type         nullable   holds
==============  ===========  =========  =====================================================
``event_id``    string       no         the event's id (a ULID; unique: ingest's guarantee)
``type``        string       no         ``post.liked``, … (:class:`~darkroom.social.events.EventType`)
``occurred_at`` timestamptz  no         when it happened (microseconds, UTC)
``account_id``  string       yes        who acted
``post_id``     string       yes        the post involved, for ``post.*`` and ``comment.*``
``properties``  string       no         the event's other data, a JSON object
==============  ===========  =========  =====================================================

``event_id`` is the identifier field. Its bounds are kept in full in the manifests (not the
default 16-character truncation), so ingest can tell from metadata alone which data files could
hold a given id (:mod:`darkroom.analytics.dedupe`). Commits are not retried by pyiceberg
(``commit.retry.num-retries`` 0): a retry would rebase an append onto a snapshot whose stream
position ingest has not checked (:mod:`darkroom.analytics.ingest`).
"""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform
from pyiceberg.types import NestedField, StringType, TimestamptzType

__all__ = ["EVENTS", "EVENTS_ARROW", "EVENTS_PROPERTIES", "EVENTS_SCHEMA", "EVENTS_SPEC", "NAMESPACE", "events_table"]

NAMESPACE = "darkroom"
EVENTS = (NAMESPACE, "events")

EVENTS_SCHEMA = Schema(
    NestedField(1, "event_id", StringType(), required=True),
    NestedField(2, "type", StringType(), required=True),
    NestedField(3, "occurred_at", TimestamptzType(), required=True),
    NestedField(4, "account_id", StringType(), required=False),
    NestedField(5, "post_id", StringType(), required=False),
    NestedField(6, "properties", StringType(), required=True),
    identifier_field_ids=[1],
)
EVENTS_SPEC = PartitionSpec(PartitionField(source_id=3, field_id=1000, transform=DayTransform(), name="occurred_day"))
EVENTS_PROPERTIES = {
    "format-version": "2",
    "write.metadata.metrics.column.event_id": "full",
    "commit.retry.num-retries": "0",
}
# The Arrow schema ingest builds batches in (pyiceberg's own mapping, field ids included).
EVENTS_ARROW: pa.Schema = EVENTS_SCHEMA.as_arrow()


def events_table(catalog: Catalog) -> Table:
    """``darkroom.events``, created when missing. Idempotent, and safe when processes race: the
    loser of a create loads the winner's table. The properties above are set again when missing."""
    try:
        catalog.create_namespace(NAMESPACE)
    except Exception:  # NamespaceAlreadyExistsError, or the catalog database's own unique-key error in a race
        if not catalog.namespace_exists(NAMESPACE):
            raise
    try:
        table = catalog.load_table(EVENTS)
    except NoSuchTableError:
        try:
            return catalog.create_table(
                EVENTS, schema=EVENTS_SCHEMA, partition_spec=EVENTS_SPEC, properties=EVENTS_PROPERTIES
            )
        except Exception:  # TableAlreadyExistsError, or a unique-key error: another process won
            if not catalog.table_exists(EVENTS):
                raise
            table = catalog.load_table(EVENTS)
    missing = {k: v for k, v in EVENTS_PROPERTIES.items() if k != "format-version" and table.properties.get(k) != v}
    if missing:
        with table.transaction() as tx:
            tx.set_properties(missing)
    return table
