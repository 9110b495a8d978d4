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
    # Plain ADD COLUMN with constant defaults: SQLite does it in place. (A batch rebuild would drop the old
    # table, and with foreign keys on, the drop would cascade to every track and loop.)
    for table in TABLES:
        op.add_column(table, sa.Column("payload", sa.JSON(), server_default="{}", nullable=False))
        op.add_column(table, sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        op.add_column(table, sa.Column("worker", sa.String(length=200), nullable=True))
        op.add_column(table, sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("cancel_requested", sa.Boolean(), server_default="0", nullable=False))
        op.add_column(table, sa.Column("progress_note", sa.String(length=200), nullable=True))


def downgrade() -> None:
    # SQLite rebuilds the tables here; the migration runner turns foreign keys off meanwhile (db/session.py).
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in ("progress_note", "cancel_requested", "heartbeat_at", "worker", "attempts", "payload"):
                batch.drop_column(column)
