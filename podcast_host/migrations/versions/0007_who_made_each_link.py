"""who made each link: the invitation and inviter an account came through, the admin behind a password link

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:40:00

Every column is added and dropped in place (ALTER TABLE … ADD COLUMN … REFERENCES, and DROP COLUMN), never
by copying the users table into a new one: on SQLite the copy drops the old table, and dropping it first
deletes the tokens and roles that reference it (see 0004). Password links made before this revision name no
maker, and so stop working.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "invited_through",
                sa.Integer(),
                sa.ForeignKey("invitations.id", ondelete="SET NULL"),
                nullable=True,
            ),
            inline_references=True,
        )
        batch_op.add_column(
            sa.Column(
                "invited_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
            ),
            inline_references=True,
        )
    with op.batch_alter_table("password_resets", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("made_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
            inline_references=True,
        )
        batch_op.create_index("ix_password_resets_made_by", ["made_by"])


def downgrade() -> None:
    with op.batch_alter_table("password_resets", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_password_resets_made_by")
        batch_op.drop_column("made_by")
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("invited_by")
        batch_op.drop_column("invited_through")
