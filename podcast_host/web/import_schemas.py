"""The import API's body and answer as marshmallow schemas (docs/api.md, "Imports")."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from podcast_host.models import IMPORT_STATES, ITEM_STATES, MAX_SOURCE_LENGTH
from podcast_host.web.schema_fields import URL_PATTERN, slug_field


class ImportCreateSchema(Schema):
    url = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=MAX_SOURCE_LENGTH),
            validate.Regexp(URL_PATTERN, error="Give an http(s) URL."),
        ],
        metadata={
            "format": "uri",
            "description": "The feed at the old host.",
            "example": "https://old.example/feed.xml",
        },
    )
    show = slug_field(
        description="Import into this show; made when it does not exist. Default: the feed's show."
    )
    keep_audio = fields.Boolean(
        load_default=False,
        metadata={"description": "Publish MP3 enclosures byte for byte instead of processing."},
    )


class ImportItemSchema(Schema):
    guid = fields.String(required=True)
    title = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(ITEM_STATES))
    reason = fields.String(allow_none=True, metadata={"description": "Why it failed, or what was left out."})
    episode_id = fields.Integer(allow_none=True)


class ImportSchema(Schema):
    """One import run and its items so far (docs/migrate.md)."""

    id = fields.Integer(required=True)
    url = fields.String(required=True)
    show = fields.String(allow_none=True, metadata={"description": "The show's slug, once known."})
    keep_audio = fields.Boolean(required=True)
    state = fields.String(required=True, validate=validate.OneOf(IMPORT_STATES))
    error = fields.String(allow_none=True, metadata={"description": "Why the whole import failed."})
    notices = fields.List(fields.String(), required=True)
    total_items = fields.Integer(required=True)
    done_items = fields.Integer(required=True)
    imported = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)
    items = fields.List(fields.Nested(ImportItemSchema), required=True)
