"""Let workers in other processes run jobs and loops: payload, attempts, worker, heartbeat, cancel, note.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("jobs", "loops")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("payload", sa.JSON(), server_default="{}", nullable=False))
            batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
            batch.add_column(sa.Column("worker", sa.String(length=200), nullable=True))
            batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False))
            batch.add_column(sa.Column("progress_note", sa.String(length=200), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in ("progress_note", "cancel_requested", "heartbeat_at", "worker", "attempts", "payload"):
                batch.drop_column(column)
