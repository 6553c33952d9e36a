"""claim tokens for processing runs; SQLite ids never reused

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:20:00

A processing run now owns an episode by a random claim token, not by its claim count. On SQLite the tables
whose ids name media keys, URLs and jobs are rebuilt with AUTOINCREMENT, so a deleted row's id is never handed
out again (PostgreSQL sequences already never reuse one).

SQLite rebuilds a table by copying it, yet dropping a table that other tables reference with ON DELETE
CASCADE first deletes their rows, and foreign keys cannot be switched off inside the migration's transaction.
So every row is set aside first, the old tables are dropped children first (nothing is left to cascade to),
and the new tables are created and filled parents first.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Parents before children: the order the tables are created and filled in.
TABLES = ("users", "api_tokens", "shows", "show_aliases", "memberships", "episodes", "episode_aliases")


def upgrade() -> None:
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_tables(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_tables(autoincrement=False)
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_column("claim_token")


def _rebuild_sqlite_tables(autoincrement: bool) -> None:
    bind = op.get_bind()
    found = sa.MetaData()
    found.reflect(bind, only=TABLES)
    rebuilt = sa.MetaData()
    for name in TABLES:
        table = found.tables[name].to_metadata(rebuilt)
        if _integer_id(table):
            table.dialect_kwargs["sqlite_autoincrement"] = autoincrement
    kept = {name: f"_keep_{name}" for name in TABLES}
    for name in TABLES:
        op.execute(f'CREATE TABLE "{kept[name]}" AS SELECT * FROM "{name}"')
    for name in reversed(TABLES):
        op.execute(f'DROP TABLE "{name}"')
    rebuilt.create_all(bind)
    for name in TABLES:
        columns = ", ".join(f'"{column.name}"' for column in rebuilt.tables[name].columns)
        op.execute(f'INSERT INTO "{name}" ({columns}) SELECT {columns} FROM "{kept[name]}"')
        op.execute(f'DROP TABLE "{kept[name]}"')


def _integer_id(table: sa.Table) -> bool:
    key = list(table.primary_key.columns)
    return len(key) == 1 and isinstance(key[0].type, sa.Integer)
