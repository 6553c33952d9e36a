"""The dashboard's forms: posted fields as the domain takes them, the values a form shows (again, after a
refusal), the refusal next to the field it names, and the notes preview a form starts with."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict

from podcast_host import episodes, shows
from podcast_host.errors import Invalid, PodcastHostError
from podcast_host.models import Episode, Show
from podcast_host.notes import MAX_NOTES_CHARS, render_notes_html, stored_notes_html
from podcast_host.web.context import spooled_upload

SHOW_FLAGS = ("explicit", "locked")
SHOW_TEXT_FIELDS = tuple(name for name in shows.EDITABLE if name not in SHOW_FLAGS)
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
        return {"language": "en", "show_type": "episodic"}
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
    publish_at = episode.publish_at.isoformat() if episode.publish_at else None
    return {**values, "type": episode.episode_type, "publish_at": publish_at}


def new_episode_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    """The upload form's fields as `episodes.create_episode` takes them; `when` picks the publication."""
    fields: dict[str, object] = {
        name: form[name] for name in EPISODE_TEXT_FIELDS if form.get(name, "").strip()
    }
    fields["explicit"] = "explicit" in form
    when = form.get("when", "ready")
    if when == "draft":
        fields["draft"] = True
    elif when == "schedule":
        fields["publish_at"] = publish_time(form)
    return fields


def publish_time(form: MultiDict[str, str]) -> str:
    """The script fills `publish_at` with the browser's offset; without it the local field is taken as UTC."""
    exact = form.get("publish_at", "").strip()
    if exact:
        return exact
    local = form.get("publish_at_local", "").strip()
    if not local:
        raise Invalid("Choose the date and time of publication.", field="publish_at")
    return f"{local}+00:00"


def required_upload(name: str) -> episodes.Upload:
    upload = optional_upload(name)
    if upload is None:
        raise Invalid("Choose the episode's audio file.", field=name)
    return upload


def optional_upload(name: str) -> episodes.Upload | None:
    storage = request.files.get(name)
    if storage is None or not storage.filename:
        return None
    return spooled_upload(storage)


def form_errors(exc: PodcastHostError, default_field: str) -> dict[str, str]:
    """Domain refusal -> {form field: message}, shown next to the field it names."""
    return {getattr(exc, "field", None) or default_field: str(exc)}


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
