"""The dashboard's forms: posted fields as the domain takes them, the values a form shows (again, after a
refusal), the refusal next to the field it names, and the notes preview a form starts with. Times are typed
and shown on the show's clock (its `time_zone`) and kept in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from podcast_host import episodes, shows
from podcast_host.errors import Invalid, PodcastHostError, refusal
from podcast_host.models import Episode, Show
from podcast_host.notes import MAX_NOTES_CHARS, render_notes_html, stored_notes_html
from podcast_host.web.context import spooled_upload
from podcast_host.web.errors import message_of

SHOW_FLAGS = ("explicit", "locked")
# The Podcasting 2.0 fields come as rows, checkboxes and selects: web/dashboard_namespace.py reads them.
PODCASTING_SHOW_FIELDS = (
    "persons",
    "locations",
    "license",
    "txt",
    "podroll",
    "update_frequency",
    "block",
    "low_data_stereo_kbps",
    "low_data_mono_kbps",
)
PODCASTING_EPISODE_FIELDS = ("persons", "locations", "soundbites", "license")
SHOW_TEXT_FIELDS = tuple(
    name for name in shows.EDITABLE if name not in SHOW_FLAGS and name not in PODCASTING_SHOW_FIELDS
)
EPISODE_TEXT_FIELDS = ("title", "description", "season", "number", "type", "slug")


def show_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {name: form[name] for name in SHOW_TEXT_FIELDS if name in form}
    fields.update({flag: flag in form for flag in SHOW_FLAGS})
    return fields


def show_values(show: Show | None, form: MultiDict[str, str] | None) -> dict[str, Any]:
    """What a show form displays: the posted values after a refusal, else the show's, else defaults."""
    if form is not None:
        return {**form.to_dict(), **{flag: flag in form for flag in SHOW_FLAGS}}
    if show is None:
        return {"language": "en", "show_type": "episodic", "time_zone": "UTC"}
    return {name: getattr(show, name) for name in (*SHOW_TEXT_FIELDS, *SHOW_FLAGS, "slug")}


def episode_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {name: form[name] for name in EPISODE_TEXT_FIELDS if name in form}
    fields["explicit"] = "explicit" in form
    return fields


def episode_values(episode: Episode) -> dict[str, Any]:
    values = {
        name: getattr(episode, name)
        for name in ("title", "description", "season", "number", "slug", "explicit")
    }
    return {**values, "type": episode.episode_type, "publish_at_local": show_clock(episode)}


def show_clock(episode: Episode) -> str:
    """The episode's publication time as the show's clock reads it, as a datetime-local field takes it."""
    if episode.publish_at is None:
        return ""
    local = episode.publish_at.astimezone(shows.show_zone(episode.show))
    return local.replace(tzinfo=None).isoformat(timespec="minutes")


def new_episode_fields(form: MultiDict[str, str], show: Show) -> dict[str, Any]:
    """The upload form's fields as `episodes.create_episode` takes them; `when` picks the publication."""
    fields: dict[str, object] = {
        name: form[name] for name in EPISODE_TEXT_FIELDS if form.get(name, "").strip()
    }
    fields["explicit"] = "explicit" in form
    when = form.get("when", "ready")
    if when == "draft":
        fields["draft"] = True
    elif when == "schedule":
        fields["publish_at"] = publish_time(form, show)
    return fields


def publish_time(form: MultiDict[str, str], show: Show) -> str:
    """ISO 8601 with an offset: an exact `publish_at` when a script sends one, else the date and time typed
    in `publish_at_local` on the show's clock; what cannot be read is left for the domain to name."""
    exact = form.get("publish_at", "").strip()
    if exact:
        return exact
    local = form.get("publish_at_local", "").strip()
    if not local:
        raise Invalid(_("Choose the date and time of publication."), field="publish_at")
    try:
        typed = datetime.fromisoformat(local)
    except ValueError:
        return local
    try:
        return newsroom_instant(typed, show).isoformat()
    except OverflowError:  # beyond year 1..9999 once in UTC; the domain refuses it as out of range
        return typed.replace(tzinfo=UTC).isoformat()


def newsroom_instant(local: datetime, show: Show) -> datetime:
    """The UTC instant of a time on the show's clock (a time with its own offset keeps it).

    Around a change of the clocks `fold=0` decides, as a wall clock would be read before the change: a time
    that happens twice (clocks set back) is the first of the two, and a time the clocks skip (set forward) is
    read with the offset before the change, so 02:30 in a skipped hour from 02:00 to 03:00 is 03:30.
    """
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    return local.replace(tzinfo=shows.show_zone(show), fold=0).astimezone(UTC)


def required_upload(name: str) -> episodes.Upload:
    upload = optional_upload(name)
    if upload is None:
        raise Invalid(refusal("Choose the episode's audio file."), field=name)
    return upload


def optional_upload(name: str) -> episodes.Upload | None:
    storage = request.files.get(name)
    if storage is None or not storage.filename:
        return None
    return spooled_upload(storage)


def form_errors(exc: PodcastHostError, default_field: str) -> dict[str, str]:
    """Domain refusal -> {form field: message}, shown next to the field it names."""
    return {getattr(exc, "field", None) or default_field: message_of(exc)}


def notes_preview(markdown_text: str, episode: Episode | None = None) -> str:
    """The preview a form starts with: the episode's stored HTML when the text is its notes, else rendered
    here; none for text over the limit (the form refuses it anyway)."""
    if episode is not None and markdown_text == episode.description:
        return stored_notes_html(episode)
    if len(markdown_text) > MAX_NOTES_CHARS:
        return ""
    try:
        return render_notes_html(markdown_text)
    except Invalid:  # renders to more HTML than notes may: the form says so next to the field
        return ""
