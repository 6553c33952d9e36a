"""private shows and their subscribers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shows", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("access", sa.String(10), server_default="public", nullable=False))
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("show_id", sa.Integer(), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_subscribers_show_id", "subscribers", ["show_id"])


def downgrade() -> None:
    op.drop_index("ix_subscribers_show_id", "subscribers")
    op.drop_table("subscribers")
    with op.batch_alter_table("shows", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("access")
