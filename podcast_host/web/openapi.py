"""The producer API's contract: marshmallow schemas of its bodies, and the OpenAPI 3 document built from them.

Views declare their contract with `@documented(...)`; `build_document(app)` walks the app's /api/v1 routes
and turns each declaration into an operation, so the document cannot drift from the routes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

from flask import Flask
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.datastructures import FileStorage

from podcast_host.accounts import (
    MAX_PASSWORD_LENGTH,
    MAX_TOKEN_DAYS,
    MAX_TOKENS_PER_USER,
    MIN_PASSWORD_LENGTH,
)
from podcast_host.episodes import EPISODE_TYPES
from podcast_host.errors import Invalid
from podcast_host.feeds.categories import CATEGORY_CHOICES, format_category, validate_category
from podcast_host.models import ROLES
from podcast_host.shows import LUFS_RANGE, MP3_BITRATES, SHOW_TYPES

View = TypeVar("View", bound=Callable[..., Any])
API_PREFIX = "/api/v1"
SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z]{2}|-[0-9]{3})?$"
# Some character that survives notes.clean_text (controls dropped) and strip(); anchored for re.match.
VISIBLE = r"^[\s\S]*[^\s\x00-\x1f\x7f-\x9f]"
URL_PATTERN = r"^(https?://[^/\s\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*)?$"
MAX_NUMBER = 1_000_000
MAX_ID = 2**31 - 1  # PostgreSQL's integer, the type of every id column
PATH_PARAMETERS = {"int": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}


# --- fields ---------------------------------------------------------------------------------------------


class Flag(fields.Boolean):
    """A JSON boolean: true or false, not 1 or "yes"."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Whole(fields.Integer):
    """A JSON whole number; true and false are not numbers here."""

    def __init__(self, minimum: int = 0, maximum: int = MAX_NUMBER, **kwargs: Any) -> None:
        super().__init__(strict=True, validate=validate.Range(minimum, maximum), **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class File(fields.Field):
    """A file part of a multipart body."""

    default_error_messages = {"invalid": "Send a file here (a multipart part with a filename)."}

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> FileStorage:
        if not isinstance(value, FileStorage):
            raise self.make_error("invalid")
        return value


def text_field(max_length: int, description: str | None = None) -> fields.String:
    return fields.String(validate=validate.Length(max=max_length), metadata=_described(description))


def title_field(required: bool = False) -> fields.String:
    visible = validate.Regexp(VISIBLE, error="A title needs at least one visible character.")
    return fields.String(required=required, validate=[validate.Length(min=1, max=500), visible])


def slug_field(required: bool = False, description: str | None = None) -> fields.String:
    checks = [
        validate.Length(min=1, max=80),
        validate.Regexp(SLUG_PATTERN, error="Use lowercase letters, digits and single hyphens."),
    ]
    return fields.String(
        required=required, validate=checks, metadata={"example": "my-show", **_described(description)}
    )


def url_field(allow_none: bool = False, description: str | None = None) -> fields.String:
    """An http(s) URL, or "" for none."""
    checks = [validate.Length(max=2000), validate.Regexp(URL_PATTERN, error="Give an http(s) URL.")]
    return fields.String(
        allow_none=allow_none, validate=checks, metadata={"format": "uri", **_described(description)}
    )


def category_field() -> fields.String:
    return fields.String(
        validate=_check_category, metadata={"enum": ["", *CATEGORY_CHOICES], "example": "News/Politics"}
    )


def _check_category(value: str) -> None:
    """Apple's spelling exactly; the domain's message suggests what the producer meant."""
    if value == "" or value in CATEGORY_CHOICES:
        return
    try:
        main, sub = validate_category(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    raise ValidationError(f'Write the category exactly as "{format_category(main, sub)}".')


def datetime_field(allow_none: bool = False, description: str | None = None) -> fields.String:
    """ISO 8601 with an offset; the domain parses it and names the problem when it cannot."""
    metadata = {"format": "date-time", "example": "2026-12-01T08:00:00+01:00", **_described(description)}
    return fields.String(allow_none=allow_none, metadata=metadata)


def lufs_field(description: str) -> fields.Float:
    return fields.Float(
        allow_none=True, validate=validate.Range(*LUFS_RANGE), metadata={"description": description}
    )


def bitrate_field(description: str) -> fields.Integer:
    return fields.Integer(
        allow_none=True, validate=validate.OneOf(MP3_BITRATES), metadata={"description": description}
    )


def email_field(required: bool = False) -> fields.String:
    # 320: the longest address SMTP allows (RFC 5321 §4.5.3.1), and the users.email column.
    return fields.String(required=required, validate=validate.Length(max=320), metadata={"format": "email"})


def _described(description: str | None) -> dict[str, str]:
    return {"description": description} if description else {}


# --- request bodies -------------------------------------------------------------------------------------


class ShowFieldsSchema(Schema):
    """The editable fields of a show, named like the options of `podcast-host show add`."""

    title = title_field()
    description = text_field(20000, "Markdown")
    language = fields.String(
        metadata={"example": "en"},
        validate=validate.Regexp(LANGUAGE_PATTERN, error="Use an ISO 639 code like en or ar."),
    )
    author = text_field(500)
    email = email_field()
    category = category_field()
    explicit = Flag()
    copyright = text_field(500)
    show_type = fields.String(validate=validate.OneOf(SHOW_TYPES))
    locked = Flag()
    funding_url = url_field()
    funding_text = text_field(200)
    target_lufs_stereo = lufs_field("Loudness target for stereo episodes; null: -16 LUFS.")
    target_lufs_mono = lufs_field("Loudness target for mono episodes; null: -19 LUFS.")
    bitrate_stereo_kbps = bitrate_field("MP3 bitrate for stereo episodes; null: 128.")
    bitrate_mono_kbps = bitrate_field("MP3 bitrate for mono episodes; null: 64.")


class ShowCreateSchema(ShowFieldsSchema):
    slug = slug_field(required=True)
    title = title_field(required=True)


class ShowPatchSchema(ShowFieldsSchema):
    slug = slug_field(description="A new slug; the old one answers 301 (owners only).")
    moved_to_url = url_field(allow_none=True, description="The feed moved to another host (owners only).")


class CoverUploadSchema(Schema):
    image = File(required=True, metadata={"description": "Square JPEG or PNG, 1400 to 3000 pixels."})


class EpisodeUploadSchema(Schema):
    """Multipart text fields arrive as text; empty ones count as absent."""

    audio = File(required=True, metadata={"description": "MP3, M4A, WAV, FLAC, OGG, Opus or AIFF."})
    image = File(metadata={"description": "Episode cover art."})
    chapters = File(metadata={"description": "Podcasting 2.0 JSON chapters."})
    transcript = File(metadata={"description": "WebVTT or SRT."})
    title = title_field(required=True)
    description = text_field(100_000, "Markdown show notes")
    season = fields.Integer(validate=validate.Range(0, MAX_NUMBER))
    number = fields.Integer(validate=validate.Range(0, MAX_NUMBER))
    type = fields.String(validate=validate.OneOf(EPISODE_TYPES))
    explicit = fields.Boolean()
    publish_at = datetime_field()
    draft = fields.Boolean(metadata={"description": "Without draft or publish_at: published once processed."})
    slug = slug_field()


class EpisodePatchSchema(Schema):
    title = title_field()
    description = text_field(100_000, "Markdown show notes")
    season = Whole()
    number = Whole()
    type = fields.String(validate=validate.OneOf(EPISODE_TYPES))
    explicit = Flag()
    publish_at = datetime_field(allow_none=True)
    draft = Flag()
    slug = slug_field()


class PublishSchema(Schema):
    publish_at = datetime_field(description="Omit to publish now (or as soon as processing ends).")


class TokenCreateSchema(Schema):
    name = text_field(200)
    expires_in_days = Whole(
        minimum=1, maximum=MAX_TOKEN_DAYS, metadata={"description": "Omit for a token that never expires."}
    )
    read_only = Flag(metadata={"description": "A read-only token may only send GET and HEAD requests."})


class PasswordChangeSchema(Schema):
    current_password = fields.String(
        required=True, validate=validate.Length(max=MAX_PASSWORD_LENGTH), metadata={"format": "password"}
    )
    new_password = fields.String(
        required=True,
        validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH),
        metadata={"format": "password"},
    )


class MemberGrantSchema(Schema):
    email = email_field(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


# --- response bodies ------------------------------------------------------------------------------------


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "not_found"})
    message = fields.String(required=True, metadata={"description": "One human sentence."})
    field = fields.String(metadata={"description": "The request field at fault, when known."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class ShowSchema(Schema):
    slug = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    language = fields.String(required=True)
    author = fields.String(required=True)
    email = fields.String(required=True)
    category = fields.String(required=True)
    explicit = fields.Boolean(required=True)
    copyright = fields.String(required=True)
    show_type = fields.String(required=True)
    locked = fields.Boolean(required=True)
    funding_url = fields.String(required=True)
    funding_text = fields.String(required=True)
    image = fields.String(required=True, allow_none=True, metadata={"format": "uri"})
    feed_url = fields.String(required=True, metadata={"format": "uri"})
    page_url = fields.String(required=True, metadata={"format": "uri"})
    podcast_guid = fields.String(required=True)
    moved_to_url = fields.String(required=True, allow_none=True)
    target_lufs_stereo = fields.Float(required=True, allow_none=True)
    target_lufs_mono = fields.Float(required=True, allow_none=True)
    bitrate_stereo_kbps = fields.Integer(required=True, allow_none=True)
    bitrate_mono_kbps = fields.Integer(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)


class ShowListSchema(Schema):
    shows = fields.List(fields.Nested(ShowSchema), required=True)


class EnclosureSchema(Schema):
    url = fields.String(required=True, allow_none=True, metadata={"format": "uri"})
    length = fields.Integer(required=True, allow_none=True, metadata={"description": "Bytes"})
    type = fields.String(required=True)


class LoudnessSchema(Schema):
    """Measured by ffmpeg's ebur128 filter; the output figures on the published file."""

    input_lufs = fields.Float(required=True, allow_none=True)
    input_lra = fields.Float(required=True, allow_none=True)
    input_true_peak_dbtp = fields.Float(required=True, allow_none=True)
    output_lufs = fields.Float(required=True, allow_none=True)
    output_true_peak_dbtp = fields.Float(required=True, allow_none=True)


class EpisodeSchema(Schema):
    id = fields.Integer(required=True)
    show = fields.String(required=True, metadata={"description": "The show's slug"})
    guid = fields.String(required=True)
    slug = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    season = fields.Integer(required=True, allow_none=True)
    number = fields.Integer(required=True, allow_none=True)
    type = fields.String(required=True, validate=validate.OneOf(EPISODE_TYPES))
    explicit = fields.Boolean(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(("processing", "failed", "draft", "scheduled", "published"))
    )
    error = fields.String(required=True, allow_none=True, metadata={"description": "Why processing failed"})
    progress = fields.Float(required=True, metadata={"minimum": 0, "maximum": 1})
    draft = fields.Boolean(required=True)
    publish_at = fields.DateTime(required=True, allow_none=True)
    duration_s = fields.Float(required=True, allow_none=True)
    enclosure = fields.Nested(EnclosureSchema, required=True)
    loudness = fields.Nested(LoudnessSchema, required=True)
    page_url = fields.String(required=True, metadata={"format": "uri"})
    chapters = fields.Boolean(required=True)
    transcript = fields.String(required=True, allow_none=True, metadata={"format": "uri"})
    image = fields.String(required=True, allow_none=True, metadata={"format": "uri"})
    created_at = fields.DateTime(required=True)


class EpisodeListSchema(Schema):
    episodes = fields.List(fields.Nested(EpisodeSchema), required=True)


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True, allow_none=True)
    expires_at = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "null: the token never expires."}
    )
    read_only = fields.Boolean(required=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(required=True, metadata={"description": "The secret, shown this once."})


class TokenListSchema(Schema):
    tokens = fields.List(fields.Nested(TokenSchema), required=True)


class MemberSchema(Schema):
    email = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class MemberListSchema(Schema):
    members = fields.List(fields.Nested(MemberSchema), required=True)


class InvitationSchema(Schema):
    """The same whether or not the address has an account."""

    email = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    status = fields.String(required=True, validate=validate.OneOf(("invited",)))


# --- loading --------------------------------------------------------------------------------------------


def load(schema: type[Schema], data: Any) -> dict[str, Any]:
    """Check a body against its schema; Invalid names the first field at fault."""
    try:
        return schema().load(data)
    except ValidationError as exc:
        message, name = _first_problem(exc.messages)
        raise Invalid(message, field=name) from None


def _first_problem(messages: Any) -> tuple[str, str | None]:
    if not isinstance(messages, dict):
        return "The request body must be a JSON object.", None
    name, problem = sorted(messages.items())[0]
    while isinstance(problem, dict):
        problem = next(iter(problem.values()))
    detail = problem[0] if isinstance(problem, list) and problem else str(problem)
    if name == "_schema":
        return "The request body must be a JSON object.", None
    if detail == "Missing data for required field.":
        return f"The field {name!r} is required.", name
    if detail == "Unknown field.":
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
    errors: tuple[int, ...] = ()
    public: bool = False
    optional_body: bool = False


def documented(tag: str, **kwargs: Any) -> Callable[[View], View]:
    """Attach an operation's contract to a view; the view's docstring gives its summary."""

    def attach(view: View) -> View:
        view.openapi = Operation(tag, **kwargs)  # type: ignore[attr-defined]
        return view

    return attach


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
    marshmallow.map_to_openapi_type(File, "string", "binary")
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
    return spec.to_dict()


def _schema_name(schema: Any) -> str:
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
    if operation.body or operation.form:
        media_type = "application/json" if operation.body else "multipart/form-data"
        content = {media_type: {"schema": operation.body or operation.form}}
        out["requestBody"] = {"required": not operation.optional_body, "content": content}
    return out


def _responses(operation: Operation, method: str) -> dict[str, Any]:
    success: dict[str, Any] = {"description": SUCCESS[operation.status]}
    if operation.response:
        success["content"] = {"application/json": {"schema": operation.response}}
    statuses = set(operation.errors)
    if not operation.public:
        statuses.add(401)
        if method not in ("GET", "HEAD"):
            statuses.add(403)  # a read-only token
    if operation.body or operation.form:
        statuses |= {400, 413, 415, 422}
    responses: dict[str, Any] = {str(operation.status): success}
    responses.update({str(status): ERRORS[status][0] for status in sorted(statuses)})
    return responses
