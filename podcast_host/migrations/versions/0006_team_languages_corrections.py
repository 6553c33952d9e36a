"""team and languages: invitations, password resets, disabled users, user locale, show time zone and
directory links

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 00:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(35), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("shows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(64), server_default="UTC", nullable=False))
        batch_op.add_column(
            sa.Column("apple_podcasts_url", sa.String(2000), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("spotify_url", sa.String(2000), server_default="", nullable=False))
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("show_id", sa.Integer(), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("invited_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_invitations_show_id", "invitations", ["show_id"])
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_password_resets_user_id", "password_resets", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_password_resets_user_id", "password_resets")
    op.drop_table("password_resets")
    op.drop_index("ix_invitations_show_id", "invitations")
    op.drop_table("invitations")
    # Dropped in place (SQLite 3.35+): rebuilding these tables would cascade-delete their children's rows.
    with op.batch_alter_table("shows", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("spotify_url")
        batch_op.drop_column("apple_podcasts_url")
        batch_op.drop_column("time_zone")
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("locale")
