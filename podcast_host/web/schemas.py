"""The producer API's bodies as marshmallow schemas: what each request may send and each answer holds.

web/openapi.py checks requests against them and builds the OpenAPI document from them.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.datastructures import FileStorage

from podcast_host.accounts import (
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    MAX_TOKEN_DAYS,
    MAX_TOKEN_NAME_LENGTH,
    MIN_PASSWORD_LENGTH,
)
from podcast_host.artwork import MAX_SIDE_PX, MIN_SIDE_PX
from podcast_host.audio import EncodeSettings
from podcast_host.episodes import EPISODE_TYPES, MAX_NUMBER
from podcast_host.errors import Invalid
from podcast_host.feeds.categories import CATEGORY_CHOICES, format_category, validate_category
from podcast_host.models import ACCESS_LEVELS, EPISODE_STATUSES, ROLES
from podcast_host.namespace_fields import (
    DEFAULT_ROLE,
    LOCATION_RELS,
    MAX_LOCATIONS,
    MAX_NAME,
    MAX_PERSONS,
    MAX_PODROLL,
    MAX_RRULE,
    MAX_SOUNDBITES,
    MAX_TXT,
    MAX_TXT_RECORDS,
    MAX_URL,
    MEDIUMS,
    SOUNDBITE_SECONDS,
    known_licenses,
    service_slugs,
    taxonomy,
)
from podcast_host.notes import MAX_NOTES_CHARS
from podcast_host.shows import (
    LANGUAGE_PATTERN,
    LUFS_RANGE,
    MP3_BITRATES,
    OPUS_BITRATES,
    SHOW_TYPES,
    TEXT_LIMITS,
    time_zones,
)
from podcast_host.slugs import MAX_SLUG_LENGTH, check_slug, slugify


def _small_letters(first: int, last: int) -> str:
    """The letters of a block where capitals and small letters alternate that are slugs as they are."""
    return "".join(c for c in map(chr, range(first, last + 1)) if c.isalpha() and slugify(c) == c)


# The API checks slugs with the domain's rule (slugs.check_slug: a slug is the slug of itself, each word in
# one script or in those Japanese and Korean write together). The OpenAPI document states that rule as a
# pattern for the scripts most titles are written in: JSON Schema patterns are ECMA-262 without the "u" flag,
# so no \p{Ll}; these are letters and digits that lower-casing and NFKC leave as they are and that combine
# with nothing (tests/test_slugs.py checks each against the domain). Slugs in other scripts are accepted too:
# the pattern leaves them out rather than promise what the domain refuses.
_LATIN = r"a-z\u00df-\u00f6\u00f8-\u00ff" + _small_letters(0x0100, 0x024F)  # Latin-1, Extended-A and -B
_HAN = r"\u4e00-\u9fff"  # CJK ideographs
# A word: digits and the letters of one script, or of those a language writes together.
_SLUG_WORDS = (
    rf"[0-9{_LATIN}]+",
    r"(?:[0-9\u03ac-\u03c2\u03c4-\u03ce]|\u03c3(?!-|$))+",  # Greek; σ only where the word goes on, else ς
    rf"[0-9\u0430-\u045f{_small_letters(0x0460, 0x052F)}]+",  # Cyrillic, of Russian and other languages
    r"[0-9\u0561-\u0586]+",  # Armenian
    r"[0-9\u05d0-\u05ea]+",  # Hebrew
    # Arabic, Persian and Urdu letters (no tatweel) and digits
    r"[0-9\u0620-\u063f\u0641-\u064a\u0660-\u0669\u066e\u066f\u0671-\u0674\u0679-\u06d3\u06d5\u06ee-\u06fc\u06ff]+",
    # Devanagari: a letter, then its marks (vowel signs, virama)
    r"(?:[0-9\u0904-\u0939\u093d\u0950\u0960\u0961\u0966-\u096f\u0971-\u097f][\u093e-\u094f\u0962\u0963]*)+",
    r"[0-9\u10d0-\u10fa]+",  # Georgian
    rf"[0-9{_LATIN}\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe{_HAN}]+",  # Japanese: kana, Han, Latin
    rf"[0-9{_LATIN}{_HAN}\uac00-\ud7a3]+",  # Korean: Hangul syllables, Han, Latin
)
_SLUG_WORD = "(?:" + "|".join(_SLUG_WORDS) + ")"
SLUG_PATTERN = rf"^{_SLUG_WORD}(?:-{_SLUG_WORD})*$"
# Some character that survives notes.clean_text (controls dropped) and strip(); anchored for re.match.
VISIBLE = r"^[\s\S]*[^\s\x00-\x1f\x7f-\x9f]"
URL_PATTERN = r"^(https?://[^/\s\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*)?$"
_ENCODE_DEFAULTS = EncodeSettings()


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


class File(fields.Field[FileStorage]):
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
    return fields.String(
        required=required, validate=[validate.Length(min=1, max=TEXT_LIMITS["title"]), visible]
    )


def slug_field(required: bool = False, description: str | None = None) -> fields.String:
    return fields.String(
        required=required,
        validate=[validate.Length(min=1, max=MAX_SLUG_LENGTH), _check_slug],
        metadata={"pattern": SLUG_PATTERN, "example": "my-show", **_described(description)},
    )


def _check_slug(value: str) -> None:
    """The domain's rule, which SLUG_PATTERN describes for the common scripts only."""
    try:
        check_slug(value)
    except Invalid:
        raise ValidationError(
            "Use letters (lowercase where the script has case), digits and single hyphens."
        ) from None


def url_field(name: str, allow_none: bool = False, description: str | None = None) -> fields.String:
    """An http(s) URL, or "" for none; `name` is the show field, whose length limit it keeps."""
    checks = [
        validate.Length(max=TEXT_LIMITS[name]),
        validate.Regexp(URL_PATTERN, error="Give an http(s) URL."),
    ]
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
    return fields.String(
        required=required, validate=validate.Length(max=MAX_EMAIL_LENGTH), metadata={"format": "email"}
    )


def _described(description: str | None) -> dict[str, str]:
    return {"description": description} if description else {}


# --- Podcasting 2.0 values ------------------------------------------------------------------------------
# The shapes of namespace_fields.py as the API takes them (docs/api.md, "Podcasting 2.0 values"): each field
# typed and bounded here, the rules between fields (a role of the person's group, a licence off the list with
# its URL, COUNT with a dtstart) stated in NAMESPACE_RULES for the document and checked by the domain.

# An http(s) address with a host name (urlsplit reads its host), no space or control character; "" for none.
WEB_ADDRESS_PATTERN = r"^(https?://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?([/?#][^\s\x00-\x1f\x7f-\x9f]*)?)?$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
OSM_PATTERN = r"^([NWRnwr][0-9]{1,19}(#[0-9]{1,19})?)?$"
COUNTRY_PATTERN = r"^([A-Za-z]{2})?$"
# The iCalendar RRULEs the API takes (RFC 5545 §3.3.10): FREQ first, then any of these parts. Every such rule
# is one python-dateutil reads; COUNT needs a dtstart, as the namespace asks.
_DAY = "(?:MO|TU|WE|TH|FR|SA|SU)"
_MONTHDAY = "(?:[1-9]|[12][0-9]|3[01])"
_MONTH = "(?:[1-9]|1[0-2])"
_RRULE_PARTS = (
    "INTERVAL=[1-9][0-9]{0,2}",
    f"BYDAY={_DAY}(?:,{_DAY}){{0,6}}",
    f"BYMONTHDAY={_MONTHDAY}(?:,{_MONTHDAY}){{0,30}}",
    f"BYMONTH={_MONTH}(?:,{_MONTH}){{0,11}}",
    f"WKST={_DAY}",
)


def _rrule_pattern(*parts: str) -> str:
    return "^(?:FREQ=(?:DAILY|WEEKLY|MONTHLY|YEARLY)(?:;(?:" + "|".join(parts) + "))*)?$"


RRULE_PATTERN = _rrule_pattern(*_RRULE_PARTS, "COUNT=[1-9][0-9]{0,3}")
RRULE_WITHOUT_COUNT = _rrule_pattern(*_RRULE_PARTS)
# RFC 3339 date-times from 1970 to 8999 whose day exists (the document leaves out 29 February, which the API
# takes in leap years): what the API reads with datetime.fromisoformat.
_DAY_OF_YEAR = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
INSTANT_PATTERN = (
    r"^(?:19[7-9][0-9]|[2-8][0-9]{3})-" + _DAY_OF_YEAR + r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
_INSTANT_SHAPE = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
INSTANT_YEARS = (1970, 8999)


class Real(fields.Float):
    """A JSON number: not a string of digits, not true or false, not NaN."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class Instant(fields.String):
    """An RFC 3339 date and time with its offset, kept as the text sent (the domain puts it in UTC)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        moment = None
        # A day or an hour that does not exist stays None, and is refused.
        with contextlib.suppress(ValueError):
            moment = (
                datetime.fromisoformat(text.replace("Z", "+00:00")) if _INSTANT_SHAPE.match(text) else None
            )
        if moment is None or not INSTANT_YEARS[0] <= moment.year <= INSTANT_YEARS[1]:
            raise ValidationError(
                f"Give a date and time from {INSTANT_YEARS[0]} to {INSTANT_YEARS[1]} with its offset, "
                "like 2026-01-05T08:00:00Z."
            )
        return text


class JsonText(fields.String):
    """A multipart text field holding JSON, read as the field `shape` reads a JSON body's value."""

    def __init__(self, shape: fields.Field[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shape = Schema.from_dict({"value": shape})

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            raise ValidationError("Send this field as JSON text.") from None
        try:
            return self.shape().load({"value": parsed})["value"]
        except ValidationError as error:
            messages = error.messages
            problem = messages.get("value", messages) if isinstance(messages, dict) else messages
            raise ValidationError(problem) from None


def name_field() -> fields.String:
    """A required short text, such as a person's name: one visible character at least."""
    visible = validate.Regexp(VISIBLE, error="Give at least one visible character.")
    return fields.String(required=True, validate=[validate.Length(min=1, max=MAX_NAME), visible])


def web_address_field(description: str | None = None) -> fields.String:
    checks = [
        validate.Length(max=MAX_URL),
        validate.Regexp(WEB_ADDRESS_PATTERN, error="Give an http(s) web address."),
    ]
    return fields.String(validate=checks, metadata=_described(description))


def choice_field(choices: Iterable[str], description: str | None = None) -> fields.String:
    return fields.String(validate=validate.OneOf(list(choices)), metadata=_described(description))


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


class _BoundedList(fields.List[Any]):
    """A list refused by its length before any entry is read: a megabyte of empty entries costs nothing."""

    def __init__(self, inner: fields.Field[Any], most: int, **kwargs: Any) -> None:
        super().__init__(inner, **kwargs)
        self.most = most

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, list) and len(value) > self.most:
            raise ValidationError(f"Longer than maximum length {self.most}.")
        return super()._deserialize(value, attr, data, **kwargs)


def entries_field(schema: type[Schema], most: int, description: str) -> fields.List[Any]:
    """A list of Podcasting 2.0 entries; null or [] clears it."""
    return _BoundedList(
        most=most,
        inner=fields.Nested(schema),
        allow_none=True,
        validate=validate.Length(max=most),
        metadata={"description": description},
    )


def low_data_field(description: str) -> fields.Integer:
    return fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.OneOf(OPUS_BITRATES),
        metadata={"description": description},
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


# --- request bodies -------------------------------------------------------------------------------------


class ShowFieldsSchema(Schema):
    """The editable fields of a show, named like the options of `podcast-host show add`."""

    title = title_field()
    description = text_field(TEXT_LIMITS["description"], "Markdown")
    language = fields.String(
        metadata={"example": "en"},
        validate=validate.Regexp(LANGUAGE_PATTERN, error="Use an ISO 639 code like en or ar."),
    )
    time_zone = fields.String(
        # The domain's own list: an enum in the document, so clients see the choices.
        validate=validate.OneOf(
            sorted(time_zones()), error="Use an IANA time zone like UTC or Africa/Cairo."
        ),
        metadata={"description": 'IANA time zone ("Africa/Cairo") the dashboard reads and shows times in.'},
    )
    author = text_field(TEXT_LIMITS["author"])
    email = email_field()
    category = category_field()
    explicit = Flag()
    copyright = text_field(TEXT_LIMITS["copyright"])
    show_type = fields.String(validate=validate.OneOf(SHOW_TYPES))
    locked = Flag()
    access = fields.String(
        validate=validate.OneOf(ACCESS_LEVELS),
        metadata={"description": "private: no public feed or pages, a feed per subscriber (owners only)."},
    )
    funding_url = url_field("funding_url")
    funding_text = text_field(TEXT_LIMITS["funding_text"])
    apple_podcasts_url = url_field("apple_podcasts_url", description='The show on Apple Podcasts; "": none.')
    spotify_url = url_field("spotify_url", description='The show on Spotify; "": none.')
    target_lufs_stereo = lufs_field(
        f"Loudness target for stereo episodes; null: {_ENCODE_DEFAULTS.target_lufs_stereo:g} LUFS."
    )
    target_lufs_mono = lufs_field(
        f"Loudness target for mono episodes; null: {_ENCODE_DEFAULTS.target_lufs_mono:g} LUFS."
    )
    bitrate_stereo_kbps = bitrate_field(
        f"MP3 bitrate for stereo episodes; null: {_ENCODE_DEFAULTS.bitrate_stereo_kbps}."
    )
    bitrate_mono_kbps = bitrate_field(
        f"MP3 bitrate for mono episodes; null: {_ENCODE_DEFAULTS.bitrate_mono_kbps}."
    )
    low_data_stereo_kbps = low_data_field(
        f"Low-data Opus bitrate for stereo episodes; null: {_ENCODE_DEFAULTS.low_data_stereo_kbps}."
    )
    low_data_mono_kbps = low_data_field(
        f"Low-data Opus bitrate for mono episodes; null: {_ENCODE_DEFAULTS.low_data_mono_kbps}."
    )
    persons = entries_field(PersonFieldsSchema, MAX_PERSONS, "People of the show (podcast:person).")
    locations = entries_field(LocationFieldsSchema, MAX_LOCATIONS, "Places (podcast:location).")
    license = fields.Nested(
        LicenseFieldsSchema, allow_none=True, metadata={"description": "podcast:license; null: none."}
    )
    txt = entries_field(TxtFieldsSchema, MAX_TXT_RECORDS, "Free-form records (podcast:txt).")
    podroll = entries_field(PodrollEntryFieldsSchema, MAX_PODROLL, "Shows you recommend (podcast:podroll).")
    update_frequency = fields.Nested(
        UpdateFrequencyFieldsSchema,
        allow_none=True,
        metadata={"description": "podcast:updateFrequency; null: derived from the publication dates."},
    )
    block = fields.Nested(
        BlockFieldsSchema, allow_none=True, metadata={"description": "podcast:block; null: no block."}
    )


class ShowCreateSchema(ShowFieldsSchema):
    slug = slug_field(required=True)
    title = title_field(required=True)


class ShowPatchSchema(ShowFieldsSchema):
    slug = slug_field(description="A new slug; the old one answers 301 (owners only).")
    moved_to_url = url_field(
        "moved_to_url", allow_none=True, description="The feed moved to another host (owners only)."
    )


class CoverUploadSchema(Schema):
    image = File(
        required=True, metadata={"description": f"Square JPEG or PNG, {MIN_SIDE_PX} to {MAX_SIDE_PX} pixels."}
    )


class EpisodeUploadSchema(Schema):
    """Multipart text fields arrive as text; empty ones count as absent."""

    audio = File(required=True, metadata={"description": "MP3, M4A, WAV, FLAC, OGG, Opus or AIFF."})
    image = File(metadata={"description": "Episode cover art."})
    chapters = File(metadata={"description": "Podcasting 2.0 JSON chapters."})
    transcript = File(metadata={"description": "WebVTT or SRT."})
    title = title_field(required=True)
    description = text_field(MAX_NOTES_CHARS, "Markdown show notes")
    season = fields.Integer(validate=validate.Range(0, MAX_NUMBER))
    number = fields.Integer(validate=validate.Range(0, MAX_NUMBER))
    type = fields.String(validate=validate.OneOf(EPISODE_TYPES))
    explicit = fields.Boolean()
    publish_at = datetime_field()
    draft = fields.Boolean(metadata={"description": "Without draft or publish_at: published once processed."})
    slug = slug_field()
    persons = JsonText(
        entries_field(PersonFieldsSchema, MAX_PERSONS, ""),
        metadata={"description": "JSON: a list of PersonFields; they replace the show's people."},
    )
    locations = JsonText(
        entries_field(LocationFieldsSchema, MAX_LOCATIONS, ""),
        metadata={"description": "JSON: a list of LocationFields."},
    )
    soundbites = JsonText(
        entries_field(SoundbiteFieldsSchema, MAX_SOUNDBITES, ""),
        metadata={"description": "JSON: a list of SoundbiteFields."},
    )
    license = JsonText(
        fields.Nested(LicenseFieldsSchema, allow_none=True),
        metadata={"description": "JSON: a LicenseFields object."},
    )


class EpisodePatchSchema(Schema):
    title = title_field()
    description = text_field(MAX_NOTES_CHARS, "Markdown show notes")
    season = Whole()
    number = Whole()
    type = fields.String(validate=validate.OneOf(EPISODE_TYPES))
    explicit = Flag()
    publish_at = datetime_field(allow_none=True)
    draft = Flag()
    slug = slug_field()
    persons = entries_field(PersonFieldsSchema, MAX_PERSONS, "The episode's people, instead of the show's.")
    locations = entries_field(LocationFieldsSchema, MAX_LOCATIONS, "Places (podcast:location).")
    soundbites = entries_field(
        SoundbiteFieldsSchema, MAX_SOUNDBITES, "Clips (podcast:soundbite), within the episode's audio."
    )
    license = fields.Nested(
        LicenseFieldsSchema, allow_none=True, metadata={"description": "podcast:license; null: the show's."}
    )


class PublishSchema(Schema):
    publish_at = datetime_field(description="Omit to publish now (or as soon as processing ends).")


class TokenCreateSchema(Schema):
    name = text_field(MAX_TOKEN_NAME_LENGTH)
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


class ShowSchema(Schema):
    slug = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    language = fields.String(required=True)
    time_zone = fields.String(required=True)
    author = fields.String(required=True)
    email = fields.String(required=True)
    category = fields.String(required=True)
    explicit = fields.Boolean(required=True)
    copyright = fields.String(required=True)
    show_type = fields.String(required=True)
    locked = fields.Boolean(required=True)
    access = fields.String(required=True, validate=validate.OneOf(ACCESS_LEVELS))
    funding_url = fields.String(required=True)
    funding_text = fields.String(required=True)
    apple_podcasts_url = fields.String(required=True)
    spotify_url = fields.String(required=True)
    image = fields.String(required=True, allow_none=True, metadata={"format": "uri"})
    feed_url = fields.String(required=True, metadata={"format": "uri"})
    page_url = fields.String(required=True, metadata={"format": "uri"})
    podcast_guid = fields.String(required=True)
    moved_to_url = fields.String(required=True, allow_none=True)
    target_lufs_stereo = fields.Float(required=True, allow_none=True)
    target_lufs_mono = fields.Float(required=True, allow_none=True)
    bitrate_stereo_kbps = fields.Integer(required=True, allow_none=True)
    bitrate_mono_kbps = fields.Integer(required=True, allow_none=True)
    low_data_stereo_kbps = fields.Integer(required=True, allow_none=True)
    low_data_mono_kbps = fields.Integer(required=True, allow_none=True)
    persons = entries(PersonSchema)
    locations = entries(LocationSchema)
    license = fields.Nested(LicenseSchema, required=True, allow_none=True)
    txt = entries(TxtSchema)
    podroll = entries(PodrollEntrySchema)
    update_frequency = fields.Nested(UpdateFrequencySchema, required=True, allow_none=True)
    block = fields.Nested(BlockSchema, required=True, allow_none=True)
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
    status = fields.String(required=True, validate=validate.OneOf(EPISODE_STATUSES))
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
    persons = entries(PersonSchema)
    locations = entries(LocationSchema)
    soundbites = entries(SoundbiteSchema)
    license = fields.Nested(LicenseSchema, required=True, allow_none=True)
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
    accept_url = fields.String(
        required=True,
        metadata={
            "format": "uri",
            "description": "The one-time link with which the invited person accepts, valid 7 days; shown "
            "this once, to hand over.",
        },
    )
