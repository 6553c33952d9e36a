"""imports from another host's feed, episodes published with their original MP3, one guid per show

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("keep_audio", sa.Boolean(), server_default=sa.false(), nullable=False))
    # An index, not a table constraint: SQLite adds one in place, without copying the table.
    op.create_index("uq_episodes_show_guid", "episodes", ["show_id", "guid"], unique=True)
    op.create_table(
        "feed_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("show_id", sa.Integer(), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=True),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("target_slug", sa.String(200), nullable=True),
        sa.Column("keep_audio", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("notices", sa.Text(), nullable=True),
        sa.Column("total_items", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_feed_imports_show_id", "feed_imports", ["show_id"])
    op.create_table(
        "import_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "import_id", sa.Integer(), sa.ForeignKey("feed_imports.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(200), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "episode_id", sa.Integer(), sa.ForeignKey("episodes.id", ondelete="SET NULL"), nullable=True
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_import_items_import_id", "import_items", ["import_id"])


def downgrade() -> None:
    op.drop_index("ix_import_items_import_id", "import_items")
    op.drop_table("import_items")
    op.drop_index("ix_feed_imports_show_id", "feed_imports")
    op.drop_table("feed_imports")
    op.drop_index("uq_episodes_show_guid", "episodes")
    with op.batch_alter_table("episodes", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("keep_audio")
