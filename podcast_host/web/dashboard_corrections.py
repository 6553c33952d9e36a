"""The dashboard's corrections: an episode's audio, cover, chapters and transcript replaced or removed after
the upload, the episode processed again; a show renamed or deleted (docs/dashboard.md, "Corrections").

Its routes live on the dashboard's blueprint, which signs the visitor in and checks every form's CSRF token.
A refusal shows the episode's (or show's) page again with the reason next to the field, and changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response as BaseResponse

from podcast_host import episodes, shows
from podcast_host.chapters import parse_chapters
from podcast_host.errors import Conflict, Invalid, PodcastHostError, UnsupportedMedia
from podcast_host.feeds.links import Links
from podcast_host.models import Episode, Show
from podcast_host.recovery import RETIRED_AUDIO_GRACE
from podcast_host.transcripts import parse_transcript
from podcast_host.web.context import db, services
from podcast_host.web.dashboard import _changed, _episode_page, bp
from podcast_host.web.dashboard_access import can, episode_for, show_for
from podcast_host.web.dashboard_forms import episode_values, form_errors, optional_upload
from podcast_host.web.errors import status_of

# An episode's files besides its audio, by their form field; the routes take only these names.
SIDE_FILES = "any(image, chapters, transcript)"


@bp.context_processor
def _template_helpers() -> dict[str, object]:
    # Pages offer only what the user may do: renaming and deleting a show are an owner's.
    return {"may": can, "retired_audio_days": _retired_audio_days()}


# --- an episode's files ---------------------------------------------------------------------------------


@bp.post("/episodes/<int:episode_id>/audio")
def replace_audio(episode_id: int) -> BaseResponse | tuple[str, int]:
    episode = episode_for(episode_id, "edit_episodes")
    try:
        episodes.replace_original(services(), db(), episode, _chosen("audio"))
        episodes.request_reprocess(services(), db(), episode)
        db().commit()
    except (Invalid, UnsupportedMedia, Conflict) as exc:
        return _refused(episode, exc, "audio")
    days = _retired_audio_days()
    return _changed(
        episode,
        ngettext(
            "The new audio is being processed; the episode keeps its place in feeds. The previous MP3 "
            "stays downloadable for %(num)d day.",
            "The new audio is being processed; the episode keeps its place in feeds. The previous MP3 "
            "stays downloadable for %(num)d days.",
            days,
        ),
    )


@bp.post(f"/episodes/<int:episode_id>/files/<{SIDE_FILES}:kind>")
def replace_side_file(episode_id: int, kind: str) -> BaseResponse | tuple[str, int]:
    episode = episode_for(episode_id, "edit_episodes")
    try:
        upload = _chosen(kind)
        if kind == "image":
            episodes.replace_image(services(), db(), episode, upload)
        elif kind == "chapters":
            episodes.replace_chapters(services(), db(), episode, parse_chapters(upload.read(kind)))
        else:
            transcript = parse_transcript(upload.read(kind), upload.filename)
            episodes.replace_transcript(services(), db(), episode, transcript)
        db().commit()
    except (Invalid, Conflict) as exc:
        return _refused(episode, exc, kind)
    return _changed(episode, _REPLACED[kind]())


@bp.post(f"/episodes/<int:episode_id>/files/<{SIDE_FILES}:kind>/remove")
def remove_side_file(episode_id: int, kind: str) -> BaseResponse | tuple[str, int]:
    episode = episode_for(episode_id, "edit_episodes")
    try:
        if kind == "chapters":
            episodes.replace_chapters(services(), db(), episode, None)
        else:
            episodes.remove_side_file(services(), db(), episode, kind)
        db().commit()
    except Conflict as exc:
        return _refused(episode, exc, kind)
    return _changed(episode, _REMOVED[kind]())


@bp.post("/episodes/<int:episode_id>/reprocess")
def reprocess(episode_id: int) -> BaseResponse | tuple[str, int]:
    episode = episode_for(episode_id, "edit_episodes")
    try:
        episodes.request_reprocess(services(), db(), episode)
        db().commit()
    except Conflict as exc:
        return _refused(episode, exc, "reprocess")
    return _changed(episode, _("The episode is being processed again from its original audio."))


# Flash messages, translated when shown (the language is the request's).
_REPLACED = {
    "image": lambda: _("The new episode cover is saved."),
    "chapters": lambda: _("The new chapters are saved; the audio is processed again to carry them."),
    "transcript": lambda: _("The new transcript is saved."),
}
_REMOVED = {
    "image": lambda: _("The episode cover is removed; the show's cover stands in for it."),
    "chapters": lambda: _("The chapters are removed; the audio is processed again without them."),
    "transcript": lambda: _("The transcript is removed."),
}


def _retired_audio_days() -> int:
    """How long a replaced MP3 stays downloadable, in whole days, as the pages say it."""
    return max(RETIRED_AUDIO_GRACE.days, 1)


def _chosen(field: str) -> episodes.Upload:
    upload = optional_upload(field)
    if upload is None:
        raise Invalid(_("Choose a file to upload."), field=field)
    return upload


def _refused(episode: Episode, exc: PodcastHostError, field: str) -> tuple[str, int]:
    db().rollback()
    return _episode_page(episode, episode_values(episode), form_errors(exc, field), status_of(exc))


# --- a show's address and the show itself ---------------------------------------------------------------


@bp.get("/shows/<slug>/rename")
def rename_page(slug: str) -> str:
    show = show_for(slug, "move_show")
    return render_template("admin/rename_show.html", show=show, values={"slug": show.slug}, errors={})


@bp.post("/shows/<slug>/rename")
def rename_show(slug: str) -> BaseResponse | tuple[str, int]:
    show = show_for(slug, "move_show")
    new_slug = request.form.get("slug", "").strip()
    try:
        if new_slug == show.slug:
            raise Invalid(_("This is already the show's address; type the new one."), field="slug")
        shows.rename_show(db(), show, new_slug)
        # Every link in the feed changes with the address.
        shows.announce_feed_change(services().queue, db(), show.id)
        db().commit()
    except (Invalid, Conflict) as exc:
        db().rollback()
        page = render_template(
            "admin/rename_show.html", show=show, values={"slug": new_slug}, errors=form_errors(exc, "slug")
        )
        return page, status_of(exc)
    url = Links(services().settings).show_page(show)
    flash(_("The show's address is now %(url)s; the old one redirects there.", url=url))
    return redirect(url_for(".settings", slug=show.slug), code=303)


@bp.get("/shows/<slug>/delete")
def confirm_show_delete(slug: str) -> str:
    return _delete_page(show_for(slug, "delete_show"), {}, {})[0]


@bp.post("/shows/<slug>/delete")
def delete_show(slug: str) -> BaseResponse | tuple[str, int]:
    show = show_for(slug, "delete_show")
    typed = request.form.get("confirm_slug", "").strip()
    if typed != show.slug:
        refusal = _("Type the show's address, %(slug)s, exactly as shown to delete the show.", slug=show.slug)
        return _delete_page(show, {"confirm_slug": typed}, {"confirm_slug": refusal}, 422)
    title = show.title
    shows.delete_show(services(), db(), show)
    db().commit()
    flash(_("The show “%(title)s” is deleted, with its episodes.", title=title))
    return redirect(url_for(".index"), code=303)


def _delete_page(
    show: Show, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> tuple[str, int]:
    page = render_template(
        "admin/delete_show.html",
        show=show,
        values=values,
        errors=errors,
        episode_count=len(show.episodes),
        public_count=episodes.count_public_episodes(db(), show),
    )
    return page, status
