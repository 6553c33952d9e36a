"""The analytics API's query and answer as marshmallow schemas (docs/api.md, "Analytics")."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class AnalyticsQuerySchema(Schema):
    since = fields.Date(metadata={"description": "First day, inclusive; default 29 days before `until`."})
    until = fields.Date(metadata={"description": "Last day, inclusive; default today (UTC)."})


class _Downloads(Schema):
    downloads = fields.Integer(required=True, validate=validate.Range(min=0))


class EpisodeDownloadsSchema(_Downloads):
    id = fields.Integer(required=True)
    title = fields.String(required=True)


class DayDownloadsSchema(_Downloads):
    date = fields.Date(required=True)


class AppDownloadsSchema(_Downloads):
    name = fields.String(required=True)


class CountryDownloadsSchema(_Downloads):
    code = fields.String(required=True, metadata={"description": 'ISO 3166-1 alpha-2, or "unknown".'})


class AnalyticsSchema(_Downloads):
    """IAB-style downloads of one show over a period (docs/analytics.md)."""

    show = fields.String(required=True)
    since = fields.Date(required=True)
    until = fields.Date(required=True)
    episodes = fields.List(fields.Nested(EpisodeDownloadsSchema), required=True)
    days = fields.List(fields.Nested(DayDownloadsSchema), required=True)
    apps = fields.List(fields.Nested(AppDownloadsSchema), required=True)
    countries = fields.List(fields.Nested(CountryDownloadsSchema), required=True)
