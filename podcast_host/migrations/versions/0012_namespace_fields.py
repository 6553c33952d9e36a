"""Podcasting 2.0 values of shows and episodes, and each show's low-data bitrates

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SHOW_COLUMNS = (
    ("low_data_stereo_kbps", sa.Integer()),
    ("low_data_mono_kbps", sa.Integer()),
    ("persons", sa.JSON()),
    ("locations", sa.JSON()),
    ("license", sa.JSON()),
    ("txt", sa.JSON()),
    ("podroll", sa.JSON()),
    ("update_frequency", sa.JSON()),
    ("block", sa.JSON()),
)
EPISODE_COLUMNS = (
    ("persons", sa.JSON()),
    ("locations", sa.JSON()),
    ("soundbites", sa.JSON()),
    ("license", sa.JSON()),
)


def upgrade() -> None:
    for table, columns in (("shows", SHOW_COLUMNS), ("episodes", EPISODE_COLUMNS)):
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            for name, kind in columns:
                batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    for table, columns in (("shows", SHOW_COLUMNS), ("episodes", EPISODE_COLUMNS)):
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            for name, _ in reversed(columns):
                batch_op.drop_column(name)
