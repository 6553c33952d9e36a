"""the low-data Opus version of each episode, and the published files' SHA-256

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = (
    ("audio_sha256", sa.String(64)),
    ("low_data_key", sa.String(500)),
    ("low_data_length", sa.BigInteger()),
    ("low_data_sha256", sa.String(64)),
    ("low_data_kbps", sa.Integer()),
)


def upgrade() -> None:
    with op.batch_alter_table("episodes", schema=None, recreate="never") as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("episodes", schema=None, recreate="never") as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
