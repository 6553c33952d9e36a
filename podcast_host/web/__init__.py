"""The HTTP surface: pages, feeds, media, API and dashboard. Only this package imports Flask's request."""

from __future__ import annotations

import tempfile
from typing import IO

from flask import Flask, Request, Response, abort, current_app, g, request

from podcast_host.web import api, auth, dashboard, errors, feeds, media, pages


class StreamingRequest(Request):
    """Uploaded files go straight to a named temporary file on disk, never whole into memory."""

    def _get_file_stream(  # type: ignore[override]
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return tempfile.NamedTemporaryFile(prefix="podcast-host-upload-", suffix=".part")


def init_app(app: Flask) -> None:
    app.request_class = StreamingRequest
    errors.init_app(app)
    for blueprint in (api.bp, media.bp, feeds.bp, pages.bp):
        app.register_blueprint(blueprint)
    auth.init_app(app)
    dashboard.init_app(app)
    app.before_request(_refuse_oversize_bodies)
    app.teardown_appcontext(_close_session)
    app.after_request(_security_headers)


def _refuse_oversize_bodies() -> None:
    """413 from the announced length alone, before any route reads (or authenticates) the body."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit is not None and (request.content_length or 0) > limit:
        abort(413)


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def _security_headers(response: Response) -> Response:
    # Only the embed player may be framed by other sites (SPEC §5).
    if not getattr(response, "frameable", False):
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    return response
