"""The producers' JSON API under /api/v1 (SPEC §6): parse the request, call the domain, answer JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from podcast_host import accounts, episodes, shows
from podcast_host.errors import Invalid, NotAuthenticated, NotFound
from podcast_host.links import Links
from podcast_host.models import ApiToken, Episode, Membership, Show, User
from podcast_host.web.context import db, services

bp = Blueprint("api", __name__, url_prefix="/api/v1")


# --- who is asking --------------------------------------------------------------------------------------


def current_user() -> User:
    """The user behind the Bearer token; 401 without one."""
    if "api_user" in g:
        return g.api_user
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated("Send an API token as 'Authorization: Bearer <token>'.")
    g.api_user = accounts.user_for_token(db(), secret)
    db().commit()
    return g.api_user


def _show_for(slug: str, permission: str) -> Show:
    user = current_user()
    show = shows.find_show(db(), slug)
    accounts.require(db(), user, show, permission)
    return show


def _episode_for(episode_id: int, permission: str) -> Episode:
    user = current_user()
    episode = episodes.get_episode(db(), episode_id)
    accounts.require(db(), user, episode.show, permission)
    return episode


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    return body


# --- shows ----------------------------------------------------------------------------------------------


@bp.post("/shows")
def create_show() -> tuple[Response, int]:
    user = current_user()
    show = shows.create_show(db(), services().settings.public_url, _json_body(), owner=user)
    db().commit()
    return jsonify(show_json(show)), 201


@bp.get("/shows")
def list_shows() -> Response:
    user = current_user()
    query = select(Show).order_by(Show.slug)
    if not user.is_admin:
        query = query.join(Membership).where(Membership.user_id == user.id)
    return jsonify({"shows": [show_json(s) for s in db().scalars(query)]})


@bp.get("/shows/<slug>")
def get_show(slug: str) -> Response:
    return jsonify(show_json(_show_for(slug, "read")))


@bp.patch("/shows/<slug>")
def patch_show(slug: str) -> Response:
    show = _show_for(slug, "edit_show")
    body = _json_body()
    if "slug" in body or "moved_to_url" in body:
        accounts.require(db(), current_user(), show, "manage_members")
    shows.update_show(db(), show, body)
    db().commit()
    return jsonify(show_json(show))


@bp.put("/shows/<slug>/image")
def put_show_image(slug: str) -> Response:
    show = _show_for(slug, "edit_show")
    image = _file("image", required=True)
    assert image is not None
    shows.set_cover(services(), db(), show, image.stream.read())
    db().commit()
    return jsonify(show_json(show))


# --- episodes -------------------------------------------------------------------------------------------


@bp.get("/shows/<slug>/episodes")
def list_episodes(slug: str) -> Response:
    show = _show_for(slug, "read")
    return jsonify({"episodes": [episode_json(e) for e in episodes.list_episodes(db(), show)]})


@bp.post("/shows/<slug>/episodes")
def create_episode(slug: str) -> tuple[Response, int]:
    show = _show_for(slug, "edit_episodes")
    audio = _file("audio", required=True)
    assert audio is not None
    fields = {name: request.form[name] for name in episodes.EDITABLE if name in request.form}
    if "description" not in fields and "notes" in request.form:
        fields["description"] = request.form["notes"]
    episode = episodes.create_episode(
        services(), db(), show, _upload(audio), fields,
        image=_optional_upload("image"), chapters=_optional_upload("chapters"),
        transcript=_optional_upload("transcript"),
    )
    return jsonify(episode_json(episode)), 202


@bp.get("/episodes/<int:episode_id>")
def get_episode(episode_id: int) -> Response:
    return jsonify(episode_json(_episode_for(episode_id, "read")))


@bp.patch("/episodes/<int:episode_id>")
def patch_episode(episode_id: int) -> Response:
    episode = _episode_for(episode_id, "edit_episodes")
    episodes.update_episode(db(), episode, _json_body())
    db().commit()
    services().queue.enqueue("feed_changed", episode.show_id)
    return jsonify(episode_json(episode))


@bp.delete("/episodes/<int:episode_id>")
def delete_episode(episode_id: int) -> tuple[str, int]:
    episode = _episode_for(episode_id, "edit_episodes")
    show_id = episode.show_id
    episodes.delete_episode(services(), db(), episode)
    services().queue.enqueue("feed_changed", show_id)
    return "", 204


@bp.post("/episodes/<int:episode_id>/publish")
def publish_episode(episode_id: int) -> Response:
    episode = _episode_for(episode_id, "edit_episodes")
    body = request.get_json(silent=True) or {}
    at = episodes.parse_datetime(body["publish_at"]) if body.get("publish_at") else None
    episodes.publish_episode(db(), episode, at)
    db().commit()
    services().queue.enqueue("feed_changed", episode.show_id)
    return jsonify(episode_json(episode))


@bp.post("/episodes/<int:episode_id>/reprocess")
def reprocess_episode(episode_id: int) -> tuple[Response, int]:
    episode = _episode_for(episode_id, "edit_episodes")
    episodes.request_reprocess(services(), db(), episode)
    db().refresh(episode)
    return jsonify(episode_json(episode)), 202


# --- tokens and members ---------------------------------------------------------------------------------


@bp.get("/tokens")
def list_tokens() -> Response:
    user = current_user()
    return jsonify({"tokens": [token_json(t) for t in user.tokens]})


@bp.post("/tokens")
def create_token() -> tuple[Response, int]:
    user = current_user()
    body = request.get_json(silent=True) or {}
    token, secret = accounts.create_token(db(), user, str(body.get("name", "")))
    db().commit()
    return jsonify({**token_json(token), "token": secret}), 201


@bp.delete("/tokens/<int:token_id>")
def delete_token(token_id: int) -> tuple[str, int]:
    user = current_user()
    token = db().get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"You have no token {token_id}.")
    db().delete(token)
    db().commit()
    return "", 204


@bp.get("/shows/<slug>/members")
def list_members(slug: str) -> Response:
    show = _show_for(slug, "read")
    return jsonify({"members": [{"email": m.user.email, "role": m.role} for m in show.members]})


@bp.post("/shows/<slug>/members")
def add_member(slug: str) -> tuple[Response, int]:
    show = _show_for(slug, "manage_members")
    body = _json_body()
    user = accounts.get_user(db(), str(body.get("email", "")))
    membership = accounts.grant(db(), show, user, str(body.get("role", "")))
    db().commit()
    return jsonify({"email": user.email, "role": membership.role}), 201


@bp.delete("/shows/<slug>/members/<email>")
def remove_member(slug: str, email: str) -> tuple[str, int]:
    show = _show_for(slug, "manage_members")
    user = accounts.get_user(db(), email)
    membership = db().scalar(
        select(Membership).where(Membership.show_id == show.id, Membership.user_id == user.id)
    )
    if membership is None:
        raise NotFound(f"{email} has no role on {slug!r}.")
    db().delete(membership)
    db().commit()
    return "", 204


# --- files ----------------------------------------------------------------------------------------------


def _file(name: str, required: bool = False) -> FileStorage | None:
    storage = request.files.get(name)
    if storage is None or not storage.filename and not _stream_size(storage):
        if required:
            raise Invalid(f"Send the {name} file as the multipart field {name!r}.", field=name)
        return None
    return storage


def _stream_size(storage: FileStorage) -> int:
    stream = storage.stream
    position = stream.tell()
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(position)
    return size


def _upload(storage: FileStorage) -> episodes.Upload:
    """The multipart file already sits in a named temporary file (see StreamingRequest)."""
    storage.stream.flush()
    return episodes.Upload(path=Path(storage.stream.name), filename=storage.filename or "upload")


def _optional_upload(name: str) -> episodes.Upload | None:
    storage = _file(name)
    return _upload(storage) if storage else None


# --- JSON shapes ----------------------------------------------------------------------------------------


def show_json(show: Show) -> dict[str, Any]:
    links = Links(services().settings)
    return {
        "slug": show.slug,
        "title": show.title,
        "description": show.description,
        "language": show.language,
        "author": show.author,
        "email": show.email,
        "category": show.category,
        "explicit": show.explicit,
        "copyright": show.copyright,
        "image": links.image(show.image_key),
        "feed_url": links.feed(show),
        "page_url": links.show_page(show),
        "podcast_guid": show.podcast_guid,
        "moved_to_url": show.moved_to_url,
    }


def episode_json(episode: Episode) -> dict[str, Any]:
    links = Links(services().settings)
    report = episode.loudness_report or {}
    return {
        "id": episode.id,
        "show": episode.show.slug,
        "guid": episode.guid,
        "slug": episode.slug,
        "title": episode.title,
        "description": episode.description,
        "season": episode.season,
        "number": episode.number,
        "type": episode.episode_type,
        "explicit": episode.explicit,
        "status": episode.status,
        "error": episode.error,
        "progress": round(episode.progress or 0.0, 3),
        "draft": episode.draft,
        "publish_at": episode.publish_at.isoformat() if episode.publish_at else None,
        "duration_s": episode.duration_s,
        "enclosure": {
            "url": links.enclosure(episode) if episode.audio_key else None,
            "length": episode.enclosure_length,
            "type": episode.enclosure_type,
        },
        "loudness": {
            "input_lufs": report.get("input_lufs"),
            "input_lra": report.get("input_lra"),
            "input_true_peak_dbtp": report.get("input_true_peak_dbtp"),
            "output_lufs": report.get("output_lufs"),
            "output_true_peak_dbtp": report.get("output_true_peak_dbtp"),
        },
        "page_url": links.episode_page(episode),
        "chapters": bool(episode.chapters),
        "transcript": links.transcript(episode) if episode.transcript_key else None,
        "image": links.image(episode.image_key),
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }
