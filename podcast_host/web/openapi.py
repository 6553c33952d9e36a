"""The producer API's contract: bodies checked against their schemas (web/schemas.py, with the Podcasting 2.0
values of web/namespace_schemas.py), and the OpenAPI 3 document built from those schemas and the routes.

Views declare their contract with `@documented(...)`; `build_document(app)` walks the app's /api/v1 routes
and turns each declaration into an operation, so the document cannot drift from the routes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

from flask import Flask
from marshmallow import Schema, ValidationError

from podcast_host import errors
from podcast_host.accounts import MAX_TOKENS_PER_USER
from podcast_host.errors import Invalid
from podcast_host.models import MAX_ID
from podcast_host.web.errors import STATUS
from podcast_host.web.namespace_schemas import NAMESPACE_RULES
from podcast_host.web.schema_fields import File
from podcast_host.web.schemas import ErrorSchema

View = TypeVar("View", bound=Callable[..., Any])
API_PREFIX = "/api/v1"
PATH_PARAMETERS = {"int": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}


# --- loading --------------------------------------------------------------------------------------------


def load(schema: type[Schema], data: Any) -> dict[str, Any]:
    """Check a body against its schema; Invalid names the first field at fault."""
    try:
        loaded: dict[str, Any] = schema().load(data)
    except ValidationError as exc:
        message, name = _first_problem(exc.messages)
        raise Invalid(message, field=name) from None
    return loaded


def _first_problem(messages: object) -> tuple[str, str | None]:
    if not isinstance(messages, dict):
        return "The request body must be a JSON object.", None
    name, problem = sorted(messages.items())[0]
    path = []  # within the field: the entry of a list (a number), the key of an object
    while isinstance(problem, dict):
        key, problem = next(iter(problem.items()))
        path.append(key)
    detail = problem[0] if isinstance(problem, list) and problem else str(problem)
    if name == "_schema":
        return "The request body must be a JSON object.", None
    inside = [f"entry {key + 1}" if isinstance(key, int) else repr(key) for key in path if key != "_schema"]
    if inside and detail in ("Missing data for required field.", "Unknown field."):
        leaf = inside.pop()
        detail = f"{leaf} is required." if detail.startswith("Missing") else f"there is no field {leaf}."
    if inside:
        detail = f"{', '.join(inside)}: {detail}"
    elif detail == "Missing data for required field.":
        return f"The field {name!r} is required.", name
    elif detail == "Unknown field.":
        return f"There is no field {name!r} here.", name
    return f"The field {name!r} is not valid: {detail}", name


# --- the document ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """What a view promises: its input, its success answer, the errors beyond the usual ones."""

    tag: str
    status: int = 200
    response: type[Schema] | None = None
    body: type[Schema] | None = None
    form: type[Schema] | None = None
    query: type[Schema] | None = None
    # The success answer's type when it is not JSON (the analytics CSV).
    media_type: str = "application/json"
    errors: tuple[int, ...] = ()
    public: bool = False
    optional_body: bool = False


def documented(tag: str, **kwargs: Any) -> Callable[[View], View]:
    """Attach an operation's contract to a view; the view's docstring gives its summary."""

    def attach(view: View) -> View:
        # The contract travels on the view function itself; build_document reads it back with getattr.
        view.openapi = Operation(tag, **kwargs)  # type: ignore[attr-defined]
        return view

    return attach


# The error answers the document describes, by status; which domain error answers which status is
# web/errors.py's STATUS alone.
ERRORS = {
    400: ("BadRequest", "The body is not well-formed (JSON or multipart)."),
    401: ("Unauthorized", "No API token, or one that is revoked, expired or mistyped."),
    403: ("Forbidden", "Your role on this show does not allow it, or the token is read-only."),
    404: ("NotFound", "No such show, episode, token, user or member."),
    409: (
        "Conflict",
        f"Taken slug, episode already processing, the last owner, or {MAX_TOKENS_PER_USER} tokens already.",
    ),
    413: ("TooLarge", "The body is larger than the server's upload limit."),
    415: ("UnsupportedMediaType", "Not JSON where JSON is expected, or audio that cannot be read."),
    422: ("Invalid", "A field is missing or malformed; `error.field` names it."),
    429: ("TooManyRequests", "Too many wrong passwords; wait for Retry-After seconds."),
    503: ("Unavailable", "The media store does not answer; try again later."),
}
SUCCESS = {
    200: "OK",
    201: "Created",
    202: "Accepted; what it starts (audio processing, an invitation) goes on after this answer",
    204: "Done",
}


def build_document(app: Flask, server_url: str) -> dict[str, Any]:
    """The OpenAPI 3 document of every documented /api/v1 route of `app`."""
    # Only GET /api/v1/openapi.json needs apispec: it is imported then, not by every web process.
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    marshmallow = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="podcast-host producer API",
        version=_version(),
        openapi_version="3.0.3",
        plugins=[marshmallow],
        info={
            "description": "Shows, episodes, API tokens and roles. Errors: "
            '`{"error": {"code": "…", "message": "…"}}`.'
        },
        servers=[{"url": server_url}],
        security=[{"bearerAuth": []}],
    )
    # apispec leaves map_to_openapi_type without annotations.
    marshmallow.map_to_openapi_type(File, "string", "binary")  # type: ignore[no-untyped-call]
    spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `podcast-host token add` or POST /api/v1/tokens.",
        },
    )
    spec.components.schema("Error", schema=ErrorSchema)
    for name, description in ERRORS.values():
        spec.components.response(
            name, {"description": description, "content": {"application/json": {"schema": "Error"}}}
        )
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        operation: Operation | None = getattr(view, "openapi", None)
        if operation is None or not rule.rule.startswith(API_PREFIX):
            continue
        path, parameters = _path(rule.rule)
        methods = sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"})
        spec.path(
            path=path,
            parameters=parameters,
            operations={m.lower(): _operation(view, operation, m) for m in methods},
        )
    document = spec.to_dict()
    components = document["components"]["schemas"]
    for name, rules in NAMESPACE_RULES.items():
        if name in components:  # a component no route uses is not in the document
            components[name].update(rules)
    _null_means_null(components)
    return document


def _null_means_null(node: object) -> None:
    """apispec writes a nullable nested object as anyOf [{"type": "object", "nullable": true}, its $ref] for
    OpenAPI 3.0, and that first branch lets any object in; it is made to take null alone."""
    if isinstance(node, dict):
        for branch in node.get("anyOf", ()):
            if branch == {"type": "object", "nullable": True}:
                branch["enum"] = [None]
        for value in node.values():
            _null_means_null(value)
    elif isinstance(node, list):
        for value in node:
            _null_means_null(value)


def _schema_name(schema: Schema | type[Schema]) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__.removesuffix("Schema")


def _version() -> str:
    try:
        return version("podcast-host")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


_RULE_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """Flask's "/episodes/<int:episode_id>" as OpenAPI's "/episodes/{episode_id}" and its parameters."""
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMETERS.get(converter, {"type": "string"}),
        }
        for converter, name in _RULE_ARGUMENT.findall(rule)
    ]
    return _RULE_ARGUMENT.sub(r"{\2}", rule), parameters


def _operation(view: Callable[..., Any], operation: Operation, method: str) -> dict[str, Any]:
    doc = inspect.getdoc(view) or view.__name__
    summary, _, description = doc.partition("\n")
    out: dict[str, Any] = {
        "operationId": view.__name__,
        "summary": summary.strip(),
        "tags": [operation.tag],
        "responses": _responses(operation, method),
    }
    if description.strip():
        out["description"] = description.strip()
    if operation.public:
        out["security"] = []
    if operation.query:
        out["parameters"] = [{"in": "query", "schema": operation.query}]
    if operation.body or operation.form:
        media_type = "application/json" if operation.body else "multipart/form-data"
        content = {media_type: {"schema": operation.body or operation.form}}
        out["requestBody"] = {"required": not operation.optional_body, "content": content}
    return out


def _responses(operation: Operation, method: str) -> dict[str, Any]:
    success: dict[str, Any] = {"description": SUCCESS[operation.status]}
    if operation.response:
        success["content"] = {operation.media_type: {"schema": operation.response}}
    elif operation.media_type != "application/json":
        success["content"] = {operation.media_type: {"schema": {"type": "string"}}}
    statuses = set(operation.errors)
    if not operation.public:
        statuses.add(STATUS[errors.NotAuthenticated])
        if method not in ("GET", "HEAD"):
            statuses.add(STATUS[errors.Forbidden])  # a read-only token
    if operation.query:
        statuses.add(STATUS[errors.Invalid])
    if operation.body or operation.form:
        # 400: a body that is not well-formed JSON or multipart, refused before any domain check.
        statuses |= {
            400,
            *(STATUS[cls] for cls in (errors.TooLarge, errors.UnsupportedMedia, errors.Invalid)),
        }
    responses: dict[str, Any] = {str(operation.status): success}
    responses.update({str(status): ERRORS[status][0] for status in sorted(statuses)})
    return responses
