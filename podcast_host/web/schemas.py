"""The producer API's bodies as marshmallow schemas: what each request may send and each answer holds.

web/openapi.py checks requests against them and builds the OpenAPI document from them.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from podcast_host.notes import MAX_NOTES_CHARS
from podcast_host.shows import LANGUAGE_PATTERN, LUFS_RANGE, MP3_BITRATES, SHOW_TYPES, TEXT_LIMITS, time_zones
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
