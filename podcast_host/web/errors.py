"""One place mapping domain and HTTP errors to statuses and the JSON error shape (docs/api.md, "Errors")."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from podcast_host import errors
from podcast_host.db import is_outage

log = logging.getLogger(__name__)

# The status of each domain error: stated here only; the OpenAPI document and the dashboard's forms ask.
STATUS: dict[type[errors.PodcastHostError], int] = {
    errors.NotFound: 404,
    errors.Invalid: 422,
    errors.Conflict: 409,
    errors.NotAuthenticated: 401,
    errors.Forbidden: 403,
    errors.TooLarge: 413,
    errors.UnsupportedMedia: 415,
    errors.Unavailable: 503,
}

# The `code` of an HTTP error's JSON body; one the app also raises as a domain error has that error's code.
HTTP_CODES = {
    400: "bad_request",
    405: "method_not_allowed",
    429: "too_many_requests",
    500: "internal_error",
    **{STATUS[cls]: cls.code for cls in (errors.NotFound, errors.TooLarge, errors.UnsupportedMedia)},
}


def init_app(app: Flask) -> None:
    app.register_error_handler(errors.PodcastHostError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(SQLAlchemyError, _database_error)


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, object] = {"code": code, "message": message}
    if field:
        body["field"] = field
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _wants_json() -> bool:
    """JSON for the API and for any client that does not ask for HTML first (curl, apps)."""
    if request.path.startswith("/api/") or not request.accept_mimetypes:
        return True
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json"


def message_of(exc: BaseException) -> str:
    """A refusal as the reader should see it: in the interface's language when the domain marked it with
    `errors.refusal`, else as raised. The API keeps the English that its clients and documentation know."""
    text = exc.args[0] if exc.args else str(exc)
    if not isinstance(text, errors.Refusal) or request.path.startswith("/api/"):
        return str(exc)
    return _translated(text)


def _translated(text: errors.Refusal) -> str:
    # A refusal may carry another (the entry's problem inside "persons, entry 2: …"): both are translated.
    params = {
        name: _translated(value) if isinstance(value, errors.Refusal) else value
        for name, value in text.params.items()
    }
    return str(gettext(text.template, **params))


def status_of(exc: errors.PodcastHostError) -> int:
    """The HTTP status of a domain error; 400 for one without its own."""
    return next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)


def _domain_error(exc: errors.PodcastHostError) -> Response | tuple[str, int]:
    status = status_of(exc)
    field = getattr(exc, "field", None)
    if _wants_json():
        return error_response(status, exc.code, message_of(exc), field)
    return render_template("error.html", status=status, message=message_of(exc)), status


def _database_error(exc: SQLAlchemyError) -> Response | tuple[str, int]:
    """A database out of reach (down, restarting, cut off, busy) is a passing outage: 503, logged in one
    line. Any other database error is a bug, raised on to be a 500 with its traceback."""
    if not is_outage(exc):
        raise exc
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    log.warning("the database does not answer: %s", reason)
    return _domain_error(errors.Unavailable("The database does not answer; try again in a moment."))


MESSAGES = {
    413: _l("The request is larger than this address accepts."),
    404: _l("Nothing lives at this address."),
}


def _http_error(exc: HTTPException) -> Response | tuple[str, int, list[tuple[str, str]]]:
    status = exc.code or 500
    message = str(MESSAGES.get(status, exc.description or exc.name))
    # Keep what the exception says besides its body, such as Allow on a 405.
    extra = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if _wants_json():
        response = error_response(status, HTTP_CODES.get(status, exc.name.lower().replace(" ", "_")), message)
        response.headers.extend(extra)
        return response
    return render_template("error.html", status=status, message=message), status, extra
