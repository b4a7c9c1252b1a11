"""The initial schema: workflows, steps, tasks, operations, assets.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _id() -> sa.String:
    return sa.String(length=64)


def _time() -> sa.Float[float]:
    return sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("inputs", _json(), nullable=False),
        sa.Column("outputs", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("priority", sa.String(length=32), nullable=False),
        sa.Column("deadline", _time(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("ended_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
    )
    op.create_index(op.f("ix_workflows_state_created_at"), "workflows", ["state", "created_at"])
    op.create_index(op.f("ix_workflows_name_created_at"), "workflows", ["name", "created_at"])

    op.create_table(
        "steps",
        sa.Column("workflow_id", _id(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("items_total", sa.Integer(), nullable=True),
        sa.Column("items_done", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=True),
        sa.Column("output", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("ended_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_steps_workflow_id_workflows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("workflow_id", "name", name=op.f("pk_steps")),
    )

    op.create_table(
        "tasks",
        sa.Column("workflow_id", _id(), nullable=False),
        sa.Column("step", sa.String(length=100), nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("queue", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=True),
        sa.Column("output", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("ended_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id", "step"],
            ["steps.workflow_id", "steps.name"],
            name=op.f("fk_tasks_workflow_id_steps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "step", "idx", name=op.f("pk_tasks")),
    )

    op.create_table(
        "operations",
        sa.Column("id", _id(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("target", _id(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=True),
        sa.Column("result", _json(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("labels", _json(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operations")),
    )
    op.create_index(op.f("ix_operations_state_created_at"), "operations", ["state", "created_at"])
    op.create_index(op.f("ix_operations_target"), "operations", ["target"])

    op.create_table(
        "assets",
        sa.Column("id", _id(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner", _id(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.String(length=1024), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("info", _json(), nullable=False),
        sa.Column("workflow_id", _id(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
    )
    op.create_index(op.f("ix_assets_owner_created_at"), "assets", ["owner", "created_at"])


def downgrade() -> None:
    # Dropping a table drops its indexes; children before parents.
    for table in ("assets", "operations", "tasks", "steps", "workflows"):
        op.drop_table(table)
