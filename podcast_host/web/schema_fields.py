"""The fields the producer API's marshmallow schemas are built of: strict JSON types, files, and text
fields bounded by the domain's limits, with the patterns the OpenAPI document states for them (slugs, URLs,
web addresses, UUIDs, RRULEs, date-times).

web/schemas.py and web/namespace_schemas.py build the request bodies out of these.
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

from podcast_host.accounts import MAX_EMAIL_LENGTH
from podcast_host.episodes import MAX_NUMBER
from podcast_host.errors import Invalid
from podcast_host.feeds.categories import CATEGORY_CHOICES, format_category, validate_category
from podcast_host.namespace_fields import MAX_NAME, MAX_URL
from podcast_host.shows import LUFS_RANGE, MP3_BITRATES, OPUS_BITRATES, TEXT_LIMITS
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


# --- Podcasting 2.0 value fields ------------------------------------------------------------------------
# The fields web/namespace_schemas.py builds the namespace's values from (docs/api.md, "Podcasting 2.0
# values"), and the lists of those values that the show and episode bodies take.

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
