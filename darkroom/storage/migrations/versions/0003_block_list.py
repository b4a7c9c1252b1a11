"""An account's block list, newest block first: an index on blocks(blocker_id, created_at, blocked_id).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_blocks_blocker_id_created_at_blocked_id"), ["blocker_id", "created_at", "blocked_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blocks_blocker_id_created_at_blocked_id"))
