"""The HTTP surface: pages, feeds, media, API and dashboard. Only this package imports Flask's request."""

from __future__ import annotations

import io
import tempfile
from html import escape
from typing import IO, Any

from flask import Flask, Request, Response, abort, current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from podcast_host.errors import TooLarge
from podcast_host.web import api, auth, dashboard, errors, feeds, i18n, media, pages
from podcast_host.web.context import services
from podcast_host.web.fast_paths import ALWAYS, FRAMING, FastPaths

# Every route but the uploads takes at most this much body: forms, JSON, notes (docs/deployment.md).
BODY_LIMIT = 1024 * 1024
# The routes that take files; they keep the upload limit (PODCAST_HOST_MAX_UPLOAD_MB). The dashboard's are
# those it checks the user's permission for before the files are read.
UPLOAD_ENDPOINTS = frozenset({"api.create_episode", "api.put_show_image", *dashboard.UPLOAD_PERMISSIONS})


# Parts of one multipart form: the upload forms send at most 4 files and about 12 fields (API) or 16
# (dashboard); other forms are small. Past the limit the form gets 413 before it is read further.
FORM_PARTS = 32
# Files one form may spool to disk, on the upload routes only: audio, image, chapters, transcript.
UPLOAD_FILES = 4


class StreamingRequest(Request):
    """Uploaded files go straight to a named temporary file on disk, never whole into memory.

    Only the upload routes do so, for at most UPLOAD_FILES files; every file is closed (and so removed)
    when the request ends, whether the form was read in full or refused half-way. A file part sent to any
    other route stays in memory, which that route's body limit already bounds.
    """

    max_form_parts = FORM_PARTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spooled_files: list[IO[bytes]] = []

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self.endpoint not in UPLOAD_ENDPOINTS:
            return io.BytesIO()
        if len(self.spooled_files) >= UPLOAD_FILES:
            raise TooLarge(f"A form may carry at most {UPLOAD_FILES} files.")
        spooled = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed with the request, in close()
            prefix="podcast-host-upload-", suffix=".part"
        )
        self.spooled_files.append(spooled)
        return spooled

    def close(self) -> None:
        super().close()
        while self.spooled_files:
            self.spooled_files.pop().close()


def init_app(app: Flask) -> None:
    app.request_class = StreamingRequest
    # The server receives bodies up to this size whole before the app runs (podcast_host/server/bridge.py).
    errors.init_app(app)
    i18n.init_app(app)
    # These add their routes to api.bp; imported here, as they import that module.
    from podcast_host.web import api_imports, api_subscribers  # noqa: F401

    for blueprint in (api.bp, media.bp, feeds.bp, pages.bp):
        app.register_blueprint(blueprint)
    auth.init_app(app)
    dashboard.init_app(app)
    app.before_request(_limit_request_body)
    app.url_value_preprocessor(_refuse_nul_in_path)
    app.teardown_appcontext(_close_session)
    app.teardown_request(_close_unannounced_body)
    app.after_request(_security_headers)
    app.after_request(_redirect_within_public_url)
    _answer_hot_paths_first(app)


def _answer_hot_paths_first(app: Flask) -> None:
    """Public feeds and media redirects that memory already proves are answered before Flask (fast_paths.py).
    Inside ProxyFix when the app has one: the download counter must see the address Flask would."""
    services = app.extensions["podcast_host"]
    outer = app.wsgi_app
    if isinstance(outer, ProxyFix):
        outer.app = FastPaths(outer.app, app, services)
    else:
        # Replacing wsgi_app is how Flask documents wrapping the app; mypy reads it as assigning to a method.
        app.wsgi_app = FastPaths(outer, app, services)  # type: ignore[method-assign]


def _refuse_nul_in_path(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A path part with a NUL names nothing here (PostgreSQL refuses NUL in text): 404, as an unknown name
    gets, before any route looks it up."""
    if values and any(isinstance(value, str) and "\x00" in value for value in values.values()):
        abort(404)


def _limit_request_body() -> None:
    """The route's body limit; 413 from the announced length alone, before any route reads (or
    authenticates) the body. Werkzeug enforces the same limit while reading a body of unannounced length."""
    upload_limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.endpoint not in UPLOAD_ENDPOINTS:
        request.max_content_length = min(BODY_LIMIT, upload_limit or BODY_LIMIT)
        if request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", ""):
            _take_unannounced_body(request.max_content_length)
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        abort(413)


def _take_unannounced_body(limit: int) -> None:
    """Read a body sent without Content-Length, up to `limit`, so that it counts like an announced one.

    Werkzeug stops reading such a body at the limit without an error when a route reads it whole (a
    urlencoded form, JSON): the route would see a truncated body instead of answering 413. Under `serve` a
    small chunked body reaches the app already whole, with its length; this covers bodies that reach the app
    still chunked (a large one there, or another WSGI server).
    """
    body = tempfile.SpooledTemporaryFile(max_size=64 * 1024)  # noqa: SIM115 - closed at teardown
    source = request.environ["wsgi.input"]
    size = 0
    while size <= limit and (piece := source.read(min(64 * 1024, limit + 1 - size))):
        body.write(piece)
        size += len(piece)
    if size > limit:
        abort(413)
    body.seek(0)
    request.environ.update({"wsgi.input": body, "CONTENT_LENGTH": str(size)})
    request.environ.pop("HTTP_TRANSFER_ENCODING", None)
    g.unannounced_body = body


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def _redirect_within_public_url(response: Response) -> Response:
    """Werkzeug builds some redirects (a show address without its trailing slash) from the request's Host
    header, which any client can forge; PODCAST_HOST_PUBLIC_URL is the only base a redirect may name."""
    location = response.headers.get("Location")
    if 300 <= response.status_code < 400 and location and location.startswith(request.host_url):
        base = services().settings.public_url
        target = f"{base}/{location[len(request.host_url) :]}"
        response.headers["Location"] = target
        # Werkzeug's body names the old location, with the forged host.
        response.set_data(f'Redirecting to <a href="{escape(target)}">{escape(target)}</a>.\n')
        response.mimetype = "text/html"
    return response


def _close_unannounced_body(_exc: BaseException | None) -> None:
    body = g.pop("unannounced_body", None)
    if body is not None:
        body.close()


def _security_headers(response: Response) -> Response:
    # Only the embed player may be framed by other sites (docs/architecture.md, "Framing").
    for name, value in ALWAYS if getattr(response, "frameable", False) else (*FRAMING, *ALWAYS):
        response.headers.setdefault(name, value)
    return response
