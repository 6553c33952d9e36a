"""The migrations and the models describe one schema: a column added to a model without its migration (or the
other way round) fails here, on both databases, before it fails in production."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from podcast_host.models import Base
from podcast_host.services import Services

# Columns that migration 0007 added with an inline REFERENCES … ON DELETE clause: SQLAlchemy's SQLite
# reflection does not read the ON DELETE of an inline reference, so on SQLite the clause is checked in the
# table's SQL.
INLINE_REFERENCES = {
    ("users", "invited_through"): "REFERENCES invitations (id) ON DELETE SET NULL",
    ("users", "invited_by"): "REFERENCES users (id) ON DELETE SET NULL",
    ("password_resets", "made_by"): "REFERENCES users (id) ON DELETE CASCADE",
}


def _inline_reference(difference: Any) -> tuple[str, str] | None:
    if not isinstance(difference, tuple) or difference[0] not in ("add_fk", "remove_fk"):
        return None
    constraint = difference[1]
    key = (constraint.table.name, next(iter(constraint.columns)).name)
    return key if key in INLINE_REFERENCES else None


@pytest.mark.postgres
def test_migrated_schema_is_the_models_schema(services: Services) -> None:
    with services.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
        if conn.dialect.name == "sqlite":
            seen = {key for key in map(_inline_reference, differences) if key}
            differences = [d for d in differences if _inline_reference(d) is None]
            # SQLite's reflection misses each inline ON DELETE: all of them show, and each is in the SQL.
            assert seen == set(INLINE_REFERENCES)
            for table, column in seen:
                query = text("SELECT sql FROM sqlite_master WHERE name = :t")
                sql = conn.execute(query, {"t": table}).scalar()
                assert f"{column} INTEGER {INLINE_REFERENCES[table, column]}" in sql
    assert differences == []
