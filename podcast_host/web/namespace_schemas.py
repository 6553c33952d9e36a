"""The Podcasting 2.0 values as the producer API takes and gives them (docs/api.md, "Podcasting 2.0
values"): the request bodies' value schemas (PersonFields, LocationFields, ...), the JSON Schema rules between
their fields that openapi.build_document adds, and the answers' value schemas (Person, Location, ...).

The shapes are those of namespace_fields.py: each field typed and bounded here, the rules between fields (a
role of the person's group, a licence off the list with its URL, COUNT with a dtstart) stated in
NAMESPACE_RULES for the document and checked by the domain.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from podcast_host.namespace_fields import (
    DEFAULT_ROLE,
    LOCATION_RELS,
    MAX_NAME,
    MAX_RRULE,
    MAX_TXT,
    MEDIUMS,
    SOUNDBITE_SECONDS,
    known_licenses,
    service_slugs,
    taxonomy,
)
from podcast_host.web.schema_fields import (
    COUNTRY_PATTERN,
    INSTANT_PATTERN,
    OSM_PATTERN,
    RRULE_PATTERN,
    RRULE_WITHOUT_COUNT,
    UUID_PATTERN,
    VISIBLE,
    Flag,
    Instant,
    Real,
    choice_field,
    name_field,
    text_field,
    web_address_field,
)

# --- request bodies -------------------------------------------------------------------------------------


class PersonFieldsSchema(Schema):
    name = name_field()
    role = choice_field(sorted({role for roles in taxonomy().values() for role in roles}), "Default: host.")
    group = choice_field(taxonomy(), "The role's group; by default the first that has the role.")
    img = web_address_field("A picture of the person.")
    href = web_address_field("A page about the person.")


class LocationFieldsSchema(Schema):
    name = name_field()
    rel = choice_field(LOCATION_RELS, "subject (what it is about, the default) or creator (where made).")
    lat = Real(allow_none=True, validate=validate.Range(-90, 90), metadata={"description": "Degrees."})
    lon = Real(allow_none=True, validate=validate.Range(-180, 180), metadata={"description": "Degrees."})
    osm = fields.String(
        validate=validate.Regexp(OSM_PATTERN, error="Give N, W or R and a number, like R113314."),
        metadata={"description": "An OpenStreetMap node (N), way (W) or relation (R), like R113314."},
    )
    country = fields.String(
        validate=validate.Regexp(COUNTRY_PATTERN, error="Give a two-letter country code."),
        metadata={"description": "ISO 3166-1 alpha-2."},
    )


class SoundbiteFieldsSchema(Schema):
    start = Real(required=True, validate=validate.Range(min=0), metadata={"description": "Seconds."})
    duration = Real(
        required=True, validate=validate.Range(*SOUNDBITE_SECONDS), metadata={"description": "Seconds."}
    )
    title = text_field(MAX_NAME)


class LicenseFieldsSchema(Schema):
    identifier = name_field()
    url = web_address_field("The licence's text; needed for a licence off the namespace's list.")


class TxtFieldsSchema(Schema):
    purpose = text_field(MAX_NAME, 'What the record is for, such as "verify".')
    value = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=MAX_TXT),
            validate.Regexp(VISIBLE, error="Give at least one visible character."),
        ],
    )


class PodrollEntryFieldsSchema(Schema):
    feed_guid = fields.String(
        required=True,
        validate=validate.Regexp(UUID_PATTERN, error="Give the show's podcast:guid, a UUID."),
        metadata={"description": "The recommended show's podcast:guid."},
    )
    feed_url = web_address_field("The recommended show's feed.")
    title = text_field(MAX_NAME)
    medium = choice_field(("", *MEDIUMS))


class UpdateFrequencyFieldsSchema(Schema):
    text = name_field()
    rrule = fields.String(
        validate=[
            validate.Length(max=MAX_RRULE),
            validate.Regexp(RRULE_PATTERN, error="Give an iCalendar RRULE, FREQ first: FREQ=WEEKLY."),
        ],
        metadata={"description": "An iCalendar RRULE, FREQ first: FREQ=WEEKLY;BYDAY=MO,TH."},
    )
    dtstart = Instant(
        allow_none=True,
        metadata={"pattern": INSTANT_PATTERN, "description": "When the schedule starts; needed with COUNT."},
    )
    complete = Flag(metadata={"description": "No new episodes will come."})


class BlockFieldsSchema(Schema):
    everywhere = Flag(metadata={"description": "Block every platform but those listed."})
    platforms = fields.List(
        choice_field(sorted(service_slugs())),
        metadata={"description": "Blocked platforms, or, with everywhere, the ones allowed."},
    )


def _person_rules() -> list[dict[str, Any]]:
    """A role of the person's group: one alternative per group, where the role is one of that group's (and may
    be left out only in the cast, whose default role is host)."""
    rules = []
    for group, roles in taxonomy().items():
        rule: dict[str, Any] = {"properties": {"group": {"enum": [group]}, "role": {"enum": list(roles)}}}
        if DEFAULT_ROLE not in roles:
            rule["required"] = ["role"]
        rules.append(rule)
    return rules


# JSON Schema rules between fields, which marshmallow fields cannot state: openapi.build_document adds them to
# the components of these names, and namespace_fields.py enforces them.
NAMESPACE_RULES: dict[str, dict[str, Any]] = {
    "PersonFields": {"anyOf": _person_rules()},
    "LocationFields": {
        "anyOf": [
            {
                "required": ["lat", "lon"],
                "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
            },
            {
                "properties": {
                    "lat": {"type": "number", "nullable": True, "enum": [None]},
                    "lon": {"type": "number", "nullable": True, "enum": [None]},
                }
            },
        ]
    },
    "LicenseFields": {
        "anyOf": [
            {"properties": {"identifier": {"enum": [name for name, _ in known_licenses().values()]}}},
            {"required": ["url"], "properties": {"url": {"minLength": 1}}},
        ]
    },
    "UpdateFrequencyFields": {
        "anyOf": [
            {"properties": {"rrule": {"pattern": RRULE_WITHOUT_COUNT}}},
            {"required": ["dtstart"], "properties": {"dtstart": {"type": "string"}}},
        ]
    },
}


# --- response bodies ------------------------------------------------------------------------------------


class PersonSchema(Schema):
    name = fields.String(required=True)
    role = fields.String(required=True)
    group = fields.String(required=True)
    img = fields.String(required=True)
    href = fields.String(required=True)


class LocationSchema(Schema):
    name = fields.String(required=True)
    rel = fields.String(required=True)
    lat = fields.Float(required=True, allow_none=True)
    lon = fields.Float(required=True, allow_none=True)
    osm = fields.String(required=True)
    country = fields.String(required=True)


class SoundbiteSchema(Schema):
    start = fields.Float(required=True)
    duration = fields.Float(required=True)
    title = fields.String(required=True)


class LicenseSchema(Schema):
    identifier = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": '"": the listed licence\'s own.'})


class TxtSchema(Schema):
    purpose = fields.String(required=True)
    value = fields.String(required=True)


class PodrollEntrySchema(Schema):
    feed_guid = fields.String(required=True)
    feed_url = fields.String(required=True)
    title = fields.String(required=True)
    medium = fields.String(required=True)


class UpdateFrequencySchema(Schema):
    text = fields.String(required=True)
    rrule = fields.String(required=True)
    dtstart = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    complete = fields.Boolean(required=True)


class BlockSchema(Schema):
    everywhere = fields.Boolean(required=True)
    platforms = fields.List(fields.String(), required=True)


def entries(schema: type[Schema]) -> fields.List[Any]:
    """An answer's list of Podcasting 2.0 entries: [] when there are none."""
    return fields.List(fields.Nested(schema), required=True)
