"""shared feed addresses: the networks a subscriber's token is used from; one live subscription per address

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("shared_networks", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "subscriber_networks",
        sa.Column(
            "subscriber_id",
            sa.Integer(),
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("network", sa.String(64), primary_key=True),
    )
    # Two adds racing could have made two live subscriptions of one address before this index: the later
    # ones are revoked (as of when they were made) so that the index can be built.
    op.execute(
        "UPDATE subscribers SET revoked_at = created_at WHERE revoked_at IS NULL AND id NOT IN "
        "(SELECT min(id) FROM subscribers WHERE revoked_at IS NULL GROUP BY show_id, email)"
    )
    where = sa.text("revoked_at IS NULL")
    op.create_index(
        "uq_subscribers_live_email",
        "subscribers",
        ["show_id", "email"],
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("uq_subscribers_live_email", "subscribers")
    op.drop_table("subscriber_networks")
    with op.batch_alter_table("subscribers", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("shared_networks")
