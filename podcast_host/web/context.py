"""Per-request access to the app's services and a database session."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from podcast_host.services import Services


def services() -> Services:
    return current_app.extensions["podcast_host"]


def db() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = services().db.sessions()
    return g.db_session
