"""The metadata database's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Alembic migrations under ``storage/migrations`` create exactly these tables; a test compares the
two. Times are epoch seconds (floats); small structured values are JSON (JSONB on PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["assets", "metadata", "operations", "steps", "tasks", "workflows"]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Id = sa.String(64)
Time = sa.Float(precision=53)

# One row per workflow run. ``version`` counts the engine's writes (a cheap change marker for pollers).
workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending running succeeded failed canceled
    sa.Column("inputs", Json, nullable=False),
    sa.Column("outputs", Json),
    sa.Column("error", sa.Text),
    sa.Column("priority", sa.String(32), nullable=False),
    sa.Column("deadline", Time, nullable=False),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("version", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("started_at", Time),
    sa.Column("ended_at", Time),
    sa.Index(None, "state", "created_at"),
    sa.Index(None, "name", "created_at"),
)

# One row per step of a workflow (task, map or reduce).
steps = sa.Table(
    "steps",
    metadata,
    sa.Column("workflow_id", Id, sa.ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # task map reduce
    sa.Column("state", sa.String(16), nullable=False),  # waiting running succeeded failed canceled skipped
    sa.Column("items_total", sa.Integer),  # map: number of items once known
    sa.Column("items_done", sa.Integer, nullable=False, default=0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("message", sa.String(200)),
    sa.Column("output", Json),
    sa.Column("error", sa.Text),
    sa.Column("worker", sa.String(200)),
    sa.Column("started_at", Time),
    sa.Column("ended_at", Time),
)

# One row per function invocation: a task or reduce step has one (idx 0), a map one per item.
tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("workflow_id", Id, primary_key=True),
    sa.Column("step", sa.String(100), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("queue", sa.String(100), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending running succeeded failed canceled
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("message", sa.String(200)),
    sa.Column("output", Json),
    sa.Column("error", sa.Text),
    sa.Column("worker", sa.String(200)),
    sa.Column("started_at", Time),
    sa.Column("ended_at", Time),
    sa.ForeignKeyConstraint(["workflow_id", "step"], ["steps.workflow_id", "steps.name"], ondelete="CASCADE"),
)

# Long-running operations handed to API clients (google.longrunning shape).
operations = sa.Table(
    "operations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),  # e.g. "workflow"
    sa.Column("target", Id),  # e.g. the workflow id
    sa.Column("state", sa.String(16), nullable=False),  # running succeeded failed canceled
    sa.Column("done", sa.Boolean, nullable=False, default=False),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("message", sa.String(200)),
    sa.Column("result", Json),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_message", sa.Text),
    sa.Column("labels", Json, nullable=False),  # small string map, filterable
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index(None, "state", "created_at"),
    sa.Index(None, "target"),
)

# Uploaded media: the source blob and what the pipeline learned about it.
assets = sa.Table(
    "assets",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # video photo
    sa.Column("owner", Id),
    sa.Column("state", sa.String(16), nullable=False),  # uploaded processing ready rejected failed
    sa.Column("source_key", sa.String(1024), nullable=False),
    sa.Column("content_type", sa.String(100)),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),
    sa.Column("info", Json, nullable=False),
    sa.Column("workflow_id", Id),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index(None, "owner", "created_at"),
)
