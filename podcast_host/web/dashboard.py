"""The producers' dashboard under /admin: shows, settings, uploads with progress, publication, reports.

Its forms are read, and filled again after a refusal, by web/dashboard_forms.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from podcast_host import accounts, episodes, shows
from podcast_host.errors import Conflict, Invalid, NotAuthenticated, UnsupportedMedia
from podcast_host.feeds.categories import CATEGORY_CHOICES
from podcast_host.feeds.links import Links
from podcast_host.models import Episode, Show, utcnow
from podcast_host.notes import MAX_NOTES_CHARS, render_notes_html
from podcast_host.web import auth, dashboard_namespace
from podcast_host.web.context import db, services, spooled_upload
from podcast_host.web.dashboard_access import (
    can,
    episode_for,
    role_on,
    show_for,
    visible_shows,
    wants_json,
)
from podcast_host.web.dashboard_forms import (
    PODCASTING_EPISODE_FIELDS,
    PODCASTING_SHOW_FIELDS,
    episode_fields,
    episode_values,
    form_errors,
    new_episode_fields,
    notes_preview,
    optional_upload,
    publish_time,
    required_upload,
    show_fields,
    show_values,
)
from podcast_host.web.errors import error_response, message_of, status_of
from podcast_host.web.i18n import in_show_zone

bp = Blueprint("dashboard", __name__, url_prefix="/admin")

# Statuses after which an episode's status no longer changes by itself (the upload page stops polling).
FINAL_STATUSES = ("published", "draft", "scheduled", "failed")
REPORT_ROWS = (
    ("input_lufs", _l("Input integrated loudness"), "LUFS"),
    ("input_lra", _l("Input loudness range"), "LU"),
    ("input_true_peak_dbtp", _l("Input true peak"), "dBTP"),
    ("output_lufs", _l("Published integrated loudness"), "LUFS"),
    ("output_true_peak_dbtp", _l("Published true peak"), "dBTP"),
    ("target_lufs", _l("Target"), "LUFS"),
)
# The routes that take files, with what each needs on its show or episode. The user must have it before
# anything reads the body, the CSRF check included: it spools the files to disk (web/__init__.py).
UPLOAD_PERMISSIONS = {
    "dashboard.create_episode": "edit_episodes",
    "dashboard.upload_cover": "edit_show",
    "dashboard.replace_audio": "edit_episodes",
    "dashboard.replace_side_file": "edit_episodes",
}
STATUS_NAMES = {
    "processing": _l("processing"),
    "published": _l("published"),
    "draft": _l("draft"),
    "scheduled": _l("scheduled"),
    "failed": _l("failed"),
}


def init_app(app: Flask) -> None:
    # These add their routes to bp; imported here, as they import this module.
    from podcast_host.web import (  # noqa: F401
        dashboard_analytics,
        dashboard_corrections,
        dashboard_imports,
        dashboard_subscribers,
        dashboard_team,
    )

    app.register_blueprint(bp)
    # A global, not a context processor: the status badge is an imported macro's, which sees no context.
    app.add_template_global(status_name)


def status_name(status: str) -> str:
    """An episode's status in the interface's language; pages keep the value itself in a class or data."""
    return str(STATUS_NAMES.get(status, status))


@bp.before_request
def _signed_in_with_token() -> BaseResponse | None:
    """Every dashboard request needs a signed-in user; every form and script post its CSRF token. An upload
    is refused to a user who may not make it before its files are read (the token may be among them)."""
    if auth.session_user() is None:
        if wants_json():
            raise NotAuthenticated(_("Sign in to use the dashboard."))
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target))
    permission = UPLOAD_PERMISSIONS.get(request.endpoint or "")
    if permission is not None:
        _may_upload(permission)
    auth.check_csrf()
    return None


def _may_upload(permission: str) -> None:
    """Refuse (403/404) an upload to a user without `permission`, from the show or episode its address names;
    the view checks again with what it loads."""
    arguments = request.view_args or {}
    if "episode_id" in arguments:
        episode_for(arguments["episode_id"], permission)
    else:
        show_for(arguments["slug"], permission)


@bp.after_request
def _private(response: BaseResponse) -> BaseResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def _template_helpers() -> dict[str, object]:
    return {
        "links": Links(services().settings),
        "categories": CATEGORY_CHOICES,
        "report_rows": REPORT_ROWS,
        "waveform_path": waveform_path,
        "notes_preview": notes_preview,
    }


# --- shows ----------------------------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    return render_template(
        "admin/index.html", shows=visible_shows(), values=show_values(None, None), errors={}
    )


@bp.post("/shows")
def create_show() -> BaseResponse | tuple[str, int]:
    fields = {**show_fields(request.form), "slug": request.form.get("slug", "").strip()}
    try:
        show = shows.create_show(db(), services().settings.public_url, fields, owner=auth.session_user())
        db().commit()
    except (Invalid, Conflict) as exc:
        db().rollback()
        values, errors = show_values(None, request.form), form_errors(exc, "slug")
        page = render_template("admin/index.html", shows=visible_shows(), values=values, errors=errors)
        return page, status_of(exc)
    flash(_("The show “%(title)s” is ready. Upload its first episode.", title=show.title))
    return redirect(url_for(".show", slug=show.slug), code=303)


@bp.get("/shows/<slug>/")
def show(slug: str) -> str:
    show = show_for(slug, "read")
    return render_template(
        "admin/show.html",
        show=show,
        episodes=episodes.list_episodes(db(), show),
        role=role_on(show),
        can_edit=can(show, "edit_episodes"),
    )


@bp.get("/shows/<slug>/settings")
def settings(slug: str) -> str:
    show = show_for(slug, "read")
    return _settings_page(show, show_values(show, None), {})[0]


@bp.post("/shows/<slug>/settings")
def save_settings(slug: str) -> BaseResponse | tuple[str, int]:
    show = show_for(slug, "edit_show")
    fields = {**show_fields(request.form), **dashboard_namespace.show_fields(request.form, show)}
    may_move = can(show, "move_show")
    if not may_move:
        # An editor's form has neither field: an absent `locked` box must not read as "unchecked".
        for name in accounts.OWNER_ONLY_SHOW_FIELDS:
            fields.pop(name, None)
    try:
        shows.update_show(services(), db(), show, fields, may_move=may_move)
        db().commit()
    except Invalid as exc:
        db().rollback()
        values = {**show_values(show, request.form), **dashboard_namespace.show_values(show, request.form)}
        return _settings_page(show, values, form_errors(exc, "title"), status_of(exc))
    flash(_("The show's settings are saved."))
    return redirect(url_for(".settings", slug=show.slug), code=303)


@bp.post("/shows/<slug>/cover")
def upload_cover(slug: str) -> BaseResponse | tuple[str, int]:
    show = show_for(slug, "edit_show")
    image = request.files.get("image")
    try:
        if image is None or not image.filename:
            raise Invalid(_("Choose an image file for the cover."), field="image")
        shows.set_cover(services(), db(), show, spooled_upload(image).read("image"))
        db().commit()
    except Invalid as exc:
        db().rollback()
        return _settings_page(show, show_values(show, None), form_errors(exc, "image"), status_of(exc))
    flash(_("The new cover is saved."))
    return redirect(url_for(".settings", slug=show.slug), code=303)


def _settings_page(
    show: Show, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> tuple[str, int]:
    page = render_template(
        "admin/settings.html",
        show=show,
        # The show's Podcasting 2.0 values, unless the values are a refused form's (they have their own).
        values={**dashboard_namespace.show_values(show), **values},
        errors=errors,
        can_edit=can(show, "edit_show"),
        # The owner e-mail and `locked` are an owner's: platforms check them when the feed moves hosts.
        owner_fields=can(show, "move_show"),
        members=show.members,
        podcasting=dashboard_namespace.choices(),
        podcasting_fields=list(PODCASTING_SHOW_FIELDS),
    )
    return page, status


# --- episodes -------------------------------------------------------------------------------------------


@bp.get("/shows/<slug>/episodes/new")
def new_episode(slug: str) -> str:
    show = show_for(slug, "edit_episodes")
    values = {"type": "full", "when": "draft"}
    return render_template("admin/upload.html", show=show, values=values, errors={})


@bp.post("/shows/<slug>/episodes")
def create_episode(slug: str) -> BaseResponse | tuple[BaseResponse | str, int]:
    show = show_for(slug, "edit_episodes")
    try:
        episode = episodes.create_episode(
            services(),
            db(),
            show,
            required_upload("audio"),
            new_episode_fields(request.form, show),
            image=optional_upload("image"),
            chapters=optional_upload("chapters"),
            transcript=optional_upload("transcript"),
        )
    except (Invalid, UnsupportedMedia) as exc:
        db().rollback()
        if wants_json():
            field = getattr(exc, "field", None) or "audio"
            return error_response(status_of(exc), exc.code, message_of(exc), field)
        page = render_template(
            "admin/upload.html", show=show, values=request.form.to_dict(), errors=form_errors(exc, "audio")
        )
        return page, status_of(exc)
    db().refresh(episode)
    if wants_json():
        return jsonify(_status_json(episode)), 202
    return redirect(url_for(".episode", episode_id=episode.id), code=303)


@bp.get("/episodes/<int:episode_id>/status")
def episode_status(episode_id: int) -> BaseResponse:
    return jsonify(_status_json(episode_for(episode_id, "read")))


@bp.get("/episodes/<int:episode_id>/")
def episode(episode_id: int) -> str:
    episode = episode_for(episode_id, "read")
    return _episode_page(episode, episode_values(episode), {})[0]


@bp.post("/episodes/<int:episode_id>/")
def save_episode(episode_id: int) -> BaseResponse | tuple[str, int]:
    episode = episode_for(episode_id, "edit_episodes")
    try:
        fields = {**episode_fields(request.form), **dashboard_namespace.episode_fields(request.form)}
        episodes.update_episode(services(), db(), episode, fields)
        db().commit()
    except (Invalid, Conflict) as exc:
        db().rollback()
        values = {**request.form.to_dict(), **dashboard_namespace.episode_values(episode, request.form)}
        return _episode_page(episode, values, form_errors(exc, "title"), status_of(exc))
    return _changed(episode, _("The episode is saved."))


@bp.post("/episodes/<int:episode_id>/publish")
def publish(episode_id: int) -> BaseResponse | tuple[str, int]:
    episode = episode_for(episode_id, "edit_episodes")
    try:
        episodes.publish_episode(services(), db(), episode)
        db().commit()
    except Conflict as exc:
        db().rollback()
        return _episode_page(episode, episode_values(episode), {"publish": message_of(exc)}, status_of(exc))
    return _changed(
        episode,
        _("The episode is published.")
        if episode.publish_at
        else _("The episode will be published as soon as its audio is ready."),
    )


@bp.post("/episodes/<int:episode_id>/schedule")
def schedule(episode_id: int) -> BaseResponse | tuple[str, int]:
    episode = episode_for(episode_id, "edit_episodes")
    try:
        at = episodes.parse_datetime(publish_time(request.form, episode.show))
        episodes.publish_episode(services(), db(), episode, at)
        db().commit()
    except (Invalid, Conflict) as exc:
        db().rollback()
        return _episode_page(episode, episode_values(episode), form_errors(exc, "publish_at"), status_of(exc))
    when = in_show_zone(at, episode.show)
    return _changed(episode, _("The episode is scheduled for %(time)s.", time=when))


@bp.post("/episodes/<int:episode_id>/unpublish")
def unpublish(episode_id: int) -> BaseResponse:
    episode = episode_for(episode_id, "edit_episodes")
    episodes.update_episode(services(), db(), episode, {"draft": True})
    db().commit()
    return _changed(episode, _("The episode is a draft again: listeners and the feed no longer see it."))


@bp.get("/episodes/<int:episode_id>/delete")
def confirm_delete(episode_id: int) -> str:
    episode = episode_for(episode_id, "edit_episodes")
    return render_template("admin/delete.html", show=episode.show, episode=episode)


@bp.post("/episodes/<int:episode_id>/delete")
def delete(episode_id: int) -> BaseResponse:
    episode = episode_for(episode_id, "edit_episodes")
    show, title = episode.show, episode.title
    episodes.delete_episode(services(), db(), episode)
    db().commit()
    flash(_("The episode “%(title)s” is deleted.", title=title))
    return redirect(url_for(".show", slug=show.slug), code=303)


@bp.post("/preview")
def preview() -> BaseResponse:
    """Markdown notes as listeners will see them, for the editor's live preview."""
    markdown_text = request.form.get("markdown", "")
    if len(markdown_text) > MAX_NOTES_CHARS:
        message = _("The description is longer than %(limit)s characters.", limit=MAX_NOTES_CHARS)
        raise Invalid(message, field="description")
    return jsonify({"html": render_notes_html(markdown_text)})


def _episode_page(
    episode: Episode, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> tuple[str, int]:
    page = render_template(
        "admin/episode.html",
        show=episode.show,
        episode=episode,
        # The episode's Podcasting 2.0 rows, unless the values are a refused form's (they have their own).
        values={**dashboard_namespace.episode_values(episode), **values},
        errors=errors,
        can_edit=can(episode.show, "edit_episodes"),
        final=episode.status in FINAL_STATUSES,
        now=utcnow(),
        podcasting=dashboard_namespace.choices(),
        podcasting_fields=list(PODCASTING_EPISODE_FIELDS),
        clock=dashboard_namespace.clock,
    )
    return page, status


def _changed(episode: Episode, message: str) -> BaseResponse:
    flash(message)
    return redirect(url_for(".episode", episode_id=episode.id), code=303)


def _status_json(episode: Episode) -> dict[str, Any]:
    status = episode.status
    return {
        "id": episode.id,
        "title": episode.title,
        "status": status,
        "final": status in FINAL_STATUSES,
        "progress": round(episode.progress or 0.0, 3),
        "error": episode.error,
        "edit_url": url_for(".episode", episode_id=episode.id),
        "status_url": url_for(".episode_status", episode_id=episode.id),
        "page_url": Links(services().settings).episode_page(episode) if status == "published" else None,
    }


# --- pictures -------------------------------------------------------------------------------------------


def waveform_path(peaks: list[float] | None) -> str:
    """One closed SVG path around the peaks: x one unit per peak, y 0..100 mirrored around 50."""
    if not peaks:
        return ""
    heights = [max(min(float(p), 1.0), 0.0) * 49 + 0.5 for p in peaks]
    top = " ".join(f"{i + 0.5:g},{50 - h:.1f}" for i, h in enumerate(heights))
    bottom = " ".join(f"{i + 0.5:g},{50 + h:.1f}" for i, h in reversed(list(enumerate(heights))))
    return f"M{top} L{bottom} Z"
