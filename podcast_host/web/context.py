"""Per-request access to the app's services and a database session."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, g
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from podcast_host.services import Services
from podcast_host.uploads import Upload


def services() -> Services:
    app_services: Services = current_app.extensions["podcast_host"]
    return app_services


def spooled_upload(storage: FileStorage) -> Upload:
    """A multipart file as the domain's Upload: StreamingRequest already spooled it to a named temp file."""
    name = getattr(storage.stream, "name", None)
    if not isinstance(name, str) or not Path(name).is_file():
        raise RuntimeError("uploads must be spooled to disk (podcast_host.web.StreamingRequest)")
    storage.stream.flush()
    return Upload(path=Path(name), filename=storage.filename or "upload")


def db() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = services().db.sessions()
    session: Session = g.db_session
    return session
