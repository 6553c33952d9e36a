"""The producer API's bodies as marshmallow schemas: what each request may send and each answer holds for
shows, episodes, tokens and members, and the error answer.

Their fields come from web/schema_fields.py and their Podcasting 2.0 values from web/namespace_schemas.py;
web/openapi.py checks requests against them and builds the OpenAPI document from them.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from podcast_host.accounts import (
    MAX_PASSWORD_LENGTH,
    MAX_TOKEN_DAYS,
    MAX_TOKEN_NAME_LENGTH,
    MIN_PASSWORD_LENGTH,
)
from podcast_host.artwork import MAX_SIDE_PX, MIN_SIDE_PX
from podcast_host.audio import EncodeSettings
from podcast_host.episodes import EPISODE_TYPES, MAX_NUMBER
from podcast_host.models import ACCESS_LEVELS, EPISODE_STATUSES, ROLES
from podcast_host.namespace_fields import (
    MAX_LOCATIONS,
    MAX_PERSONS,
    MAX_PODROLL,
    MAX_SOUNDBITES,
    MAX_TXT_RECORDS,
)
from podcast_host.notes import MAX_NOTES_CHARS
from podcast_host.shows import LANGUAGE_PATTERN, SHOW_TYPES, TEXT_LIMITS, time_zones
from podcast_host.web.namespace_schemas import (
    BlockFieldsSchema,
    BlockSchema,
    LicenseFieldsSchema,
    LicenseSchema,
    LocationFieldsSchema,
    LocationSchema,
    PersonFieldsSchema,
    PersonSchema,
    PodrollEntryFieldsSchema,
    PodrollEntrySchema,
    SoundbiteFieldsSchema,
    SoundbiteSchema,
    TxtFieldsSchema,
    TxtSchema,
    UpdateFrequencyFieldsSchema,
    UpdateFrequencySchema,
    entries,
)
from podcast_host.web.schema_fields import (
    File,
    Flag,
    JsonText,
    Whole,
    bitrate_field,
    category_field,
    datetime_field,
    email_field,
    entries_field,
    low_data_field,
    lufs_field,
    slug_field,
    text_field,
    title_field,
    url_field,
)

_ENCODE_DEFAULTS = EncodeSettings()


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
