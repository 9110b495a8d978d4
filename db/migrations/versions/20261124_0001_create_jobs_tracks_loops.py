"""Create the jobs, tracks and loops tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "'queued', 'running', 'completed', 'failed', 'cancelled', 'interrupted'"


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("job_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("file_manifest", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("model_id", sa.String(length=128), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("cfg_strength", sa.Float(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("lyrics", sa.Text(), nullable=True),
        sa.Column("style_audio_sha256", sa.String(length=64), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_jobs_status")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_jobs_progress")),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_created_at", "jobs", ["created_at", "job_id"])
    op.create_index("ix_jobs_status", "jobs", ["status", "created_at", "job_id"])

    op.create_table(
        "tracks",
        sa.Column("track_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("file_path_wav", sa.Text(), nullable=True),
        sa.Column("file_path_mp3", sa.Text(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.job_id"], name=op.f("fk_tracks_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_tracks")),
    )
    op.create_index("ix_tracks_created_at", "tracks", ["created_at", "track_id"])
    op.create_index("ix_tracks_job_id", "tracks", ["job_id"])

    op.create_table(
        "loops",
        sa.Column("loop_id", sa.String(length=36), nullable=False),
        sa.Column("track_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("fade_in_out", sa.Boolean(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result_url", sa.Text(), nullable=True),
        sa.Column("result_path", sa.Text(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_loops_status")),
        sa.CheckConstraint("format IN ('MP3', 'WAV', 'FLAC')", name=op.f("ck_loops_format")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_loops_progress")),
        sa.CheckConstraint("duration > 0", name=op.f("ck_loops_duration")),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.track_id"], name=op.f("fk_loops_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("loop_id", name=op.f("pk_loops")),
    )
    op.create_index("ix_loops_created_at", "loops", ["created_at", "loop_id"])
    op.create_index("ix_loops_status", "loops", ["status", "created_at", "loop_id"])
    op.create_index("ix_loops_track_id", "loops", ["track_id"])


def downgrade() -> None:
    op.drop_table("loops")
    op.drop_table("tracks")
    op.drop_table("jobs")
