"""The subscribers API's bodies and answers as marshmallow schemas (docs/api.md, "Subscribers")."""

from __future__ import annotations

from marshmallow import Schema, fields

from podcast_host.subscribers import MAX_NAME_CHARS
from podcast_host.web.schema_fields import File, email_field, text_field


class SubscriberCreateSchema(Schema):
    email = email_field(required=True)
    name = text_field(MAX_NAME_CHARS, "How the producer knows them; never shown to listeners.")


class SubscriberCsvSchema(Schema):
    file = File(
        required=True,
        metadata={"description": "UTF-8 CSV, one `email,name` row per subscriber; a header row is optional."},
    )


class SubscriberSchema(Schema):
    """A subscriber of a private show (docs/private-feeds.md)."""

    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    feed_url = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "format": "uri",
            "description": "The subscriber's own feed, with its token: in the answer that made or re-issued "
            "the token only, else null (the token is not stored).",
        },
    )
    created_at = fields.DateTime(required=True)
    revoked = fields.Boolean(required=True)
    suspected_shared = fields.Boolean(
        required=True,
        metadata={
            "description": "The current feed URL was used from more networks (IPv4 /24, IPv6 /48) in one "
            "UTC day than PODCAST_HOST_SHARE_ALERT allows: it was probably passed on. Re-issuing the token "
            "clears it."
        },
    )
    shared_networks = fields.Integer(
        required=True,
        metadata={
            "description": "The most networks the current feed URL was seen from in one day once "
            "flagged; 0 while not flagged."
        },
    )


class SubscriberListSchema(Schema):
    subscribers = fields.List(fields.Nested(SubscriberSchema), required=True)


class CsvRefusalSchema(Schema):
    line = fields.Integer(required=True, metadata={"description": "The row's line in the file, from 1."})
    message = fields.String(required=True, metadata={"description": "Why the row was left out."})


class SubscriberDownloadsSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    downloads = fields.Integer(required=True)


class SubscriberAnalyticsSchema(Schema):
    """A private show's downloads per subscriber over a period (owners only)."""

    show = fields.String(required=True)
    since = fields.Date(required=True)
    until = fields.Date(required=True)
    subscribers = fields.List(fields.Nested(SubscriberDownloadsSchema), required=True)


class SubscriberImportSchema(Schema):
    added = fields.List(fields.Nested(SubscriberSchema), required=True)
    refused = fields.List(fields.Nested(CsvRefusalSchema), required=True)
