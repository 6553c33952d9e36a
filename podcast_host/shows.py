"""Shows: create, edit, rename (old URLs keep answering), cover art, listing.

Changes are flushed for the caller to commit; announcing the feed and deleting replaced media wait for that
commit (docs/architecture.md, "Transactions and what follows them").
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from podcast_host import accounts, namespace_fields
from podcast_host.artwork import ArtworkError, check_cover
from podcast_host.db import after_commit, enqueue_after_commit
from podcast_host.errors import Forbidden, Invalid, NotFound, refusal
from podcast_host.feeds.build import podcast_guid
from podcast_host.feeds.categories import validate_category
from podcast_host.feeds.links import feed_url
from podcast_host.field_refusals import (
    loudness_out_of_range,
    not_a_bitrate,
    not_a_flag,
    not_a_link,
    not_a_number,
    too_long,
)
from podcast_host.jobs import JobQueue
from podcast_host.models import ACCESS_LEVELS, Membership, Show, ShowAlias, User
from podcast_host.notes import clean_text, render_notes_html
from podcast_host.services import Services
from podcast_host.slugs import check_slug, refuse_look_alike
from podcast_host.storage import MediaStore, delete_objects, media_key
from podcast_host.uploads import store_bytes

# BCP 47 as Apple and RSS expect it: an ISO 639 language code, optionally with a region ("en", "pt-BR").
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z]{2}|-[0-9]{3})?$"
LANGUAGE_RE = re.compile(LANGUAGE_PATTERN)
SHOW_TYPES = ("episodic", "serial")
TEXT_LIMITS = {
    "title": 500,
    "author": 500,
    "copyright": 500,
    "description": 20000,
    "email": accounts.MAX_EMAIL_LENGTH,
    "funding_url": 2000,
    "funding_text": 200,
    "apple_podcasts_url": 2000,
    "spotify_url": 2000,
    "moved_to_url": 2000,
    "category": 200,
    "time_zone": 64,
}
EDITABLE = (
    "title",
    "description",
    "language",
    "time_zone",
    "author",
    "email",
    "category",
    "explicit",
    "copyright",
    "show_type",
    "locked",
    "access",
    "funding_url",
    "funding_text",
    "apple_podcasts_url",
    "spotify_url",
    "target_lufs_stereo",
    "target_lufs_mono",
    "bitrate_stereo_kbps",
    "bitrate_mono_kbps",
    "low_data_stereo_kbps",
    "low_data_mono_kbps",
    "persons",
    "locations",
    "license",
    "txt",
    "podroll",
    "update_frequency",
    "block",
)
# The Podcasting 2.0 values a show carries, each checked by namespace_fields.py (docs/feeds.md).
NAMESPACE_CLEANERS: dict[str, Callable[[object], object]] = {
    "persons": namespace_fields.clean_persons,
    "locations": namespace_fields.clean_locations,
    "license": namespace_fields.clean_license,
    "txt": namespace_fields.clean_txt,
    "podroll": namespace_fields.clean_podroll,
    "update_frequency": namespace_fields.clean_update_frequency,
    "block": namespace_fields.clean_block,
}
# Fields whose null means something (the default again, no value): sent as null, they are stored as None.
NULLABLE = frozenset(
    name for name in EDITABLE if name.startswith(("target_lufs_", "bitrate_", "low_data_"))
) | set(NAMESPACE_CLEANERS)
# The fields that hold a web address (http or https): the support link, the show in the big directories.
LINK_FIELDS = ("funding_url", "apple_podcasts_url", "spotify_url")
# Loudness targets a producer may choose instead of -16 / -19 LUFS; EBU R128 broadcast is -23.
LUFS_RANGE = (-30.0, -10.0)
# The constant bitrates an MPEG-1/2 layer III encoder can write at 44.1 kHz (and 32k for 22.05 kHz mono).
MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
# The low-data Opus file's bitrates a show may choose (kbit/s): from 16, where speech is still wideband, to
# 64, the mono MP3's own rate, past which the file would save no data (docs/api.md, "Podcasting 2.0 values").
OPUS_BITRATES = (16, 24, 32, 40, 48, 64)
# Names in the tz database that name no newsroom's clock: "localtime" is the server's own zone.
NOT_A_PLACE = frozenset({"localtime", "Factory"})


def find_show(session: Session, slug: str) -> Show:
    show = session.scalar(select(Show).where(Show.slug == slug))
    if show is None:
        raise NotFound(refusal("There is no show %(slug)r.", slug=slug))
    return show


def find_show_or_alias(session: Session, slug: str) -> tuple[Show, bool]:
    """The show by its slug or an old one; the flag says whether it was an old slug."""
    show = session.scalar(select(Show).where(Show.slug == slug))
    if show is not None:
        return show, False
    alias = session.get(ShowAlias, slug)
    if alias is None:
        raise NotFound(refusal("There is no show %(slug)r.", slug=slug))
    return alias.show, True


def list_shows(session: Session) -> list[Show]:
    return list(session.scalars(select(Show).order_by(Show.title)))


def visible_shows(session: Session, user: User) -> list[Show]:
    """The shows a producer works on: all of them for an admin, else those they have a role on."""
    query = select(Show).order_by(Show.slug)
    if not user.is_admin:
        query = query.join(Membership).where(Membership.user_id == user.id)
    return list(session.scalars(query))


def delete_show(services: Services, session: Session, show: Show) -> None:
    """Delete the rows; the media go once that is committed, best-effort: a leftover object harms no one."""
    # Replaced MP3s still in their grace period too: nothing purges them once the row is gone.
    keys = [show.image_key, *(key for episode in show.episodes for key in episode.media_keys())]
    session.delete(show)
    session.flush()
    delete_after_commit(services.store, session, keys)


def create_show(
    session: Session,
    public_url: str,
    fields: Mapping[str, object],
    owner: User | None = None,
    guid: str | None = None,
) -> Show:
    """Validate and add a show; its creator becomes its owner. `guid` keeps the podcast:guid the show had
    elsewhere (an import, an exported folder); a new show's is derived from its feed's address."""
    slug = check_slug(str(fields.get("slug") or ""))
    ensure_slug_free(session, slug)
    values = clean_show_fields(fields, require_title=True)
    kept = check_podcast_guid(guid) if guid is not None else None
    show = Show(slug=slug, podcast_guid=kept or podcast_guid(feed_url(public_url, slug)), **values)
    show.description_html = render_notes_html(values.get("description", ""))
    session.add(show)
    session.flush()
    if owner is not None:
        accounts.grant(session, show, owner, "owner")
    return show


def update_show(
    services: Services, session: Session, show: Show, fields: Mapping[str, object], *, may_move: bool
) -> Show:
    """Apply the fields sent; without `may_move` (an editor), changing an owner-only field is Forbidden,
    refused before anything else is checked or changed. The same value sent back is no change.

    The feed is announced (`feed_changed`) once the change is committed."""
    unknown = set(fields) - set(EDITABLE) - {"slug", "moved_to_url"}
    if unknown:
        name = sorted(unknown)[0]
        raise Invalid(refusal("Unknown show field %(name)r.", name=name), field=name)
    if not may_move:
        _refuse_owner_only_changes(show, fields)
    values = clean_show_fields(fields, require_title=False)
    for name, value in values.items():
        setattr(show, name, value)
    if "description" in values:
        show.description_html = render_notes_html(values["description"])
    if "moved_to_url" in fields:
        show.moved_to_url = _check_url(fields["moved_to_url"], "moved_to_url") or None
    announce_feed_change(services.queue, session, show.id)
    new_slug = fields.get("slug")
    if new_slug and new_slug != show.slug:
        rename_show(session, show, str(new_slug))
    session.flush()
    return show


def _refuse_owner_only_changes(show: Show, fields: Mapping[str, object]) -> None:
    sent = {name: fields[name] for name in accounts.OWNER_ONLY_SHOW_FIELDS if name in fields}
    try:
        wanted = {**sent, **clean_show_fields(sent, require_title=False)}  # e-mail and flag as stored
    except Invalid:
        wanted = sent  # a value that cannot even be stored is a change
    changed = [name for name, value in wanted.items() if (value or None) != (getattr(show, name) or None)]
    if changed:
        raise Forbidden(f"Only an owner of the show may change {' or '.join(changed)}.")


def rename_show(session: Session, show: Show, new_slug: str) -> None:
    """Change the slug; the old one becomes an alias answering 301. The podcast:guid stays."""
    check_slug(new_slug)
    alias = session.get(ShowAlias, new_slug)
    if alias is not None and alias.show_id == show.id:
        session.delete(alias)
        session.flush()
    else:
        ensure_slug_free(session, new_slug, show)
    session.add(ShowAlias(slug=show.slug, show=show))
    show.slug = new_slug


# First path segments the app itself answers; a show there would be unreachable.
RESERVED_SLUGS = frozenset({"static", "media", "api", "admin", "login", "logout", "healthz", "favicon.ico"})


def check_podcast_guid(value: str) -> str:
    """A podcast:guid is a UUID (the namespace asks for a version 5 one; others are kept as they are), written
    in lower case as the namespace does."""
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise Invalid(f"The podcast guid {value[:60]!r} is not a UUID.", field="podcast_guid") from None


def ensure_slug_free(session: Session, slug: str, renamed: Show | None = None) -> None:
    """Refuse (Conflict) a reserved slug, a show's slug or old slug, or one that looks like any of them
    (slugs.skeleton); a show being `renamed` may take back a look-alike of its own old slugs."""
    refuse_look_alike(slug, RESERVED_SLUGS, "reserved by the app")
    # Every show's slugs, read at each new one: a few thousand short strings on the largest host.
    own = renamed.id if renamed is not None else 0
    slugs = session.scalars(select(Show.slug)).all()
    aliases = session.scalars(select(ShowAlias.slug).where(ShowAlias.show_id != own)).all()
    refuse_look_alike(slug, [*slugs, *aliases], "already taken")


def clean_show_fields(fields: Mapping[str, object], require_title: bool) -> dict[str, Any]:
    """Check and normalize the editable fields present in `fields`."""
    out: dict[str, Any] = {}
    for name in EDITABLE:
        if name not in fields or (fields[name] is None and name not in NULLABLE):
            continue
        out[name] = _clean_field(name, fields[name])
    if require_title and not out.get("title"):
        raise Invalid(refusal("A show needs a title."), field="title")
    return out


def _clean_field(name: str, value: object) -> object:
    if name in ("explicit", "locked"):
        return parse_bool(value, name)
    if name.startswith(("target_lufs_", "bitrate_", "low_data_")):
        return _audio_setting(name, value)
    if name in NAMESPACE_CLEANERS:
        return clean_namespace_value(NAMESPACE_CLEANERS[name], value, name)
    text = clean_text(str(value)).strip()
    if name in TEXT_LIMITS and len(text) > TEXT_LIMITS[name]:
        raise Invalid(too_long(name, TEXT_LIMITS[name]), field=name)
    if name == "title" and not text:
        raise Invalid(refusal("A show needs a title."), field="title")
    if name == "language":
        if not LANGUAGE_RE.match(text):
            raise Invalid(
                refusal("The language must be an ISO 639 code like 'en' or 'ar', not %(value)r.", value=text),
                name,
            )
        return text.lower() if "-" not in text else text.split("-")[0].lower() + "-" + text.split("-")[1]
    if name == "category" and text:
        try:
            main, sub = validate_category(text)
        except ValueError as exc:
            raise Invalid(str(exc), field="category") from None
        return f"{main}/{sub}" if sub else main
    if name == "email" and text:
        return accounts.normalize_email(text)
    if name == "access" and text not in ACCESS_LEVELS:
        raise Invalid(refusal("The access must be public or private, not %(value)r.", value=text), field=name)
    if name == "show_type" and text not in SHOW_TYPES:
        raise Invalid(
            refusal("The show type must be episodic or serial, not %(value)r.", value=text), field=name
        )
    if name in LINK_FIELDS:
        return _check_url(text, name)
    if name == "time_zone" and text not in time_zones():
        raise Invalid(
            refusal("The time zone must be an IANA name like 'Africa/Cairo', not %(value)r.", value=text),
            field=name,
        )
    return text


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA zones a show may schedule in: the tz database the server has, and UTC even without one."""
    return frozenset(zoneinfo.available_timezones() - NOT_A_PLACE | {"UTC"})


def show_zone(show: Show) -> tzinfo:
    """The zone the show's newsroom reads its clock in (times are stored in UTC)."""
    return UTC if show.time_zone == "UTC" else zoneinfo.ZoneInfo(show.time_zone)


def clean_namespace_value(clean: Callable[[object], object], value: object, name: str) -> object:
    """A Podcasting 2.0 value checked by its `clean` function of namespace_fields.py, its text first stripped
    of what XML cannot carry (docs/feeds.md, "Producer text"); an empty one ([] or a cleared table) is None,
    as the columns keep "not set"."""
    cleaned = clean(_without_control_characters(value))
    return cleaned if cleaned not in ([], {}) else None


def _without_control_characters(value: object, depth: int = 0) -> object:
    """The value with notes.clean_text applied to its texts, down to the deepest level a Podcasting 2.0
    value has (a block's platforms); anything deeper is left for the check to refuse."""
    if isinstance(value, str):
        return clean_text(value)
    if depth >= 2:
        return value
    if isinstance(value, list):
        return [_without_control_characters(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        return {key: _without_control_characters(item, depth + 1) for key, item in value.items()}
    return value


def _audio_setting(name: str, value: object) -> float | int | None:
    """A per-show loudness target, MP3 or low-data bitrate; empty means the pipeline's default again."""
    if value is None or str(value).strip() == "":
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        raise Invalid(not_a_number(name, value), field=name) from None
    if name.startswith("target_lufs_"):
        if not LUFS_RANGE[0] <= number <= LUFS_RANGE[1]:
            raise Invalid(loudness_out_of_range(name, *LUFS_RANGE), field=name)
        return number
    allowed = OPUS_BITRATES if name.startswith("low_data_") else MP3_BITRATES
    if number not in allowed:
        raise Invalid(not_a_bitrate(name, allowed), field=name)
    return int(number)


def _check_url(value: object, name: str) -> str:
    text = str(value or "").strip()
    if len(text) > TEXT_LIMITS[name]:
        raise Invalid(too_long(name, TEXT_LIMITS[name]), field=name)
    if text and not re.match(r"^https?://[^\s/]+", text):
        raise Invalid(not_a_link(name), field=name)
    return text


def parse_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise Invalid(not_a_flag(name, value), field=name)


def set_cover(services: Services, session: Session, show: Show, data: bytes) -> str | None:
    """Check the cover art, store it under a new name (apps cache by URL) and point the show at it.

    Returns the key of the cover it replaces (None when unchanged), which is deleted once the change is
    committed: a rollback keeps it, as the show still names it, and deletes the new one. The feed is
    announced then too.
    """
    try:
        art = check_cover(data)
    except ArtworkError as exc:
        raise Invalid(exc.args[0], field="image") from None  # the refusal itself, to be shown translated
    name = f"cover-{hashlib.sha256(art.data).hexdigest()[:12]}.{art.extension}"
    key = media_key(show.id, "image", name)
    if key != show.image_key:
        # Not when the show names that very image already: a rollback would delete its cover.
        store_bytes(services.store, session, key, art.data, art.mime_type)
    old_key, show.image_key = show.image_key, key
    session.flush()
    replaced = old_key if old_key != key else None
    delete_after_commit(services.store, session, [replaced])
    announce_feed_change(services.queue, session, show.id)
    return replaced


def announce_feed_change(queue: JobQueue, session: Session, show_id: int) -> None:
    """Tell whoever follows the show's feed (WebSub hubs) once the change is committed, once a commit."""
    enqueue_after_commit(session, queue, "feed_changed", show_id)


def delete_after_commit(store: MediaStore, session: Session, keys: Iterable[str | None]) -> None:
    """Delete stored objects no row names any more once that is committed; a rollback keeps them."""
    named = [key for key in keys if key]
    if named:
        after_commit(session, functools.partial(delete_objects, store, named))
