"""Alembic environment: runs on the connection the app hands over, or on the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from podcast_host.models import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError(
            "Alembic needs a connection in its config's attributes, or a sqlalchemy.url option."
        )
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
