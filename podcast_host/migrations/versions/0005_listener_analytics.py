"""listener analytics: daily salts, listener days, download tallies, ingested logs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 00:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_salts",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("salt", sa.String(64), nullable=False),
    )
    op.create_table(
        "listener_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("listener", sa.String(64), primary_key=True),
        sa.Column(
            "episode_id", sa.Integer(), sa.ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("app", sa.String(100), nullable=False),
        sa.Column("device", sa.String(40), nullable=False),
        sa.Column("os", sa.String(40), nullable=False),
        sa.Column("country", sa.String(8), nullable=False),
        sa.Column("ranges", sa.JSON(), nullable=False),
        sa.Column("loose_bytes", sa.BigInteger(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_listener_days_episode_id", "listener_days", ["episode_id"])
    op.create_table(
        "download_tallies",
        sa.Column("show_id", sa.Integer(), sa.ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("downloads", sa.Integer(), nullable=False),
    )
    op.create_table(
        "ingested_logs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("head_sha256", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ingested_logs_head_sha256", "ingested_logs", ["head_sha256"])


def downgrade() -> None:
    op.drop_index("ix_ingested_logs_head_sha256", "ingested_logs")
    op.drop_table("ingested_logs")
    op.drop_table("download_tallies")
    op.drop_index("ix_listener_days_episode_id", "listener_days")
    op.drop_table("listener_days")
    op.drop_table("analytics_salts")
