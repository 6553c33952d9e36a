"""The producers' JSON API under /api/v1 (docs/api.md): parse the request, call the domain, answer JSON.

Every view declares its contract with `@documented`; GET /api/v1/openapi.json is built from those.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from marshmallow import Schema
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import TooManyRequests

from podcast_host import accounts, episodes, shows
from podcast_host.errors import Forbidden, NotAuthenticated, NotFound, UnsupportedMedia
from podcast_host.feeds.links import Links
from podcast_host.models import ApiToken, Episode, Membership, Show, User
from podcast_host.storage import delete_objects
from podcast_host.web import auth
from podcast_host.web.context import db, services, spooled_upload
from podcast_host.web.openapi import (
    MAX_ID,
    CoverUploadSchema,
    EpisodeListSchema,
    EpisodePatchSchema,
    EpisodeSchema,
    EpisodeUploadSchema,
    InvitationSchema,
    MemberGrantSchema,
    MemberListSchema,
    NewTokenSchema,
    PasswordChangeSchema,
    PublishSchema,
    ShowCreateSchema,
    ShowListSchema,
    ShowPatchSchema,
    ShowSchema,
    TokenCreateSchema,
    TokenListSchema,
    build_document,
    documented,
    load,
)

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")
EPISODE_FILES = ("image", "chapters", "transcript")
# What a read-only token may send.
READ_METHODS = frozenset({"GET", "HEAD"})


@bp.after_request
def _bearer_challenge(response: Response) -> Response:
    # RFC 6750 §3: a 401 names the scheme the client should use.
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="podcast-host"')
    return response


@bp.get("/openapi.json")
@documented("meta", public=True)
def openapi_document() -> Response:
    """This document: OpenAPI 3, generated from the routes."""
    extensions = current_app.extensions
    if "podcast_host.openapi" not in extensions:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        extensions["podcast_host.openapi"] = build_document(app, services().settings.public_url)
    return jsonify(extensions["podcast_host.openapi"])


# --- shows ----------------------------------------------------------------------------------------------


@bp.post("/shows")
@documented("shows", status=201, body=ShowCreateSchema, response=ShowSchema, errors=(409,))
def create_show() -> tuple[Response, int, dict[str, str]]:
    """Create a show; its creator becomes its owner."""
    user = current_user()
    show = shows.create_show(db(), services().settings.public_url, _json(ShowCreateSchema), owner=user)
    db().commit()
    return jsonify(show_json(show)), 201, {"Location": url_for(".get_show", slug=show.slug)}


@bp.get("/shows")
@documented("shows", response=ShowListSchema)
def list_shows() -> Response:
    """The shows you have a role on (every show for an admin)."""
    return jsonify({"shows": [show_json(s) for s in shows.visible_shows(db(), current_user())]})


@bp.get("/shows/<slug>")
@documented("shows", response=ShowSchema, errors=(403, 404))
def get_show(slug: str) -> Response:
    """One show."""
    return jsonify(show_json(_show_for(slug, "read")))


@bp.patch("/shows/<slug>")
@documented("shows", body=ShowPatchSchema, response=ShowSchema, errors=(403, 404, 409))
def patch_show(slug: str) -> Response:
    """Change show fields; changing the slug, moved_to_url, email or locked needs an owner.

    Owner-only fields sent with the values they already have (a GET's answer sent back) are no change.
    """
    show = _show_for(slug, "edit_show")
    fields = _json(ShowPatchSchema)
    shows.update_show(db(), show, fields, may_move=accounts.allows(db(), current_user(), show, "move_show"))
    db().commit()
    services().queue.enqueue("feed_changed", show.id)
    return jsonify(show_json(show))


@bp.delete("/shows/<slug>")
@documented("shows", status=204, errors=(403, 404))
def delete_show(slug: str) -> tuple[str, int]:
    """Delete a show with its episodes and media (owners only)."""
    shows.delete_show(services(), db(), _show_for(slug, "delete_show"))
    return "", 204


@bp.put("/shows/<slug>/image")
@documented("shows", form=CoverUploadSchema, response=ShowSchema, errors=(403, 404, 503))
def put_show_image(slug: str) -> Response:
    """Upload the show's cover art (multipart field `image`)."""
    show = _show_for(slug, "edit_show")
    image: FileStorage = _form(CoverUploadSchema)["image"]
    replaced = shows.set_cover(services(), db(), show, spooled_upload(image).read("image"))
    db().commit()
    delete_objects(services().store, [replaced])
    services().queue.enqueue("feed_changed", show.id)
    return jsonify(show_json(show))


# --- episodes -------------------------------------------------------------------------------------------


@bp.get("/shows/<slug>/episodes")
@documented("episodes", response=EpisodeListSchema, errors=(403, 404))
def list_episodes(slug: str) -> Response:
    """The show's episodes in every status, newest first."""
    show = _show_for(slug, "read")
    return jsonify({"episodes": [episode_json(e) for e in episodes.list_episodes(db(), show)]})


@bp.post("/shows/<slug>/episodes")
@documented("episodes", status=202, form=EpisodeUploadSchema, response=EpisodeSchema, errors=(403, 404, 503))
def create_episode(slug: str) -> tuple[Response, int, dict[str, str]]:
    """Upload an episode; its audio is processed in the background."""
    show = _show_for(slug, "edit_episodes")
    fields = _form(EpisodeUploadSchema)
    audio = spooled_upload(fields.pop("audio"))
    files = {name: spooled_upload(fields.pop(name)) for name in EPISODE_FILES if name in fields}
    episode = episodes.create_episode(services(), db(), show, audio, fields, **files)
    return jsonify(episode_json(episode)), 202, {"Location": url_for(".get_episode", episode_id=episode.id)}


@bp.get("/episodes/<int:episode_id>")
@documented("episodes", response=EpisodeSchema, errors=(403, 404))
def get_episode(episode_id: int) -> Response:
    """One episode: status, error, enclosure and loudness report."""
    return jsonify(episode_json(_episode_for(episode_id, "read")))


@bp.patch("/episodes/<int:episode_id>")
@documented("episodes", body=EpisodePatchSchema, response=EpisodeSchema, errors=(403, 404, 409))
def patch_episode(episode_id: int) -> Response:
    """Change episode fields; a new slug keeps the old URL answering 301."""
    episode = _episode_for(episode_id, "edit_episodes")
    episodes.update_episode(db(), episode, _json(EpisodePatchSchema))
    db().commit()
    services().queue.enqueue("feed_changed", episode.show_id)
    return jsonify(episode_json(episode))


@bp.delete("/episodes/<int:episode_id>")
@documented("episodes", status=204, errors=(403, 404))
def delete_episode(episode_id: int) -> tuple[str, int]:
    """Delete an episode and its media."""
    episode = _episode_for(episode_id, "edit_episodes")
    show_id = episode.show_id
    episodes.delete_episode(services(), db(), episode)
    services().queue.enqueue("feed_changed", show_id)
    return "", 204


@bp.post("/episodes/<int:episode_id>/publish")
@documented(
    "episodes", body=PublishSchema, optional_body=True, response=EpisodeSchema, errors=(403, 404, 409)
)
def publish_episode(episode_id: int) -> Response:
    """Publish now, at `publish_at`, or as soon as processing ends; the body is optional."""
    episode = _episode_for(episode_id, "edit_episodes")
    body = _json(PublishSchema, optional=True)
    at = episodes.parse_datetime(body["publish_at"]) if body.get("publish_at") else None
    episodes.publish_episode(db(), episode, at)
    db().commit()
    services().queue.enqueue("feed_changed", episode.show_id)
    return jsonify(episode_json(episode))


@bp.post("/episodes/<int:episode_id>/reprocess")
@documented("episodes", status=202, response=EpisodeSchema, errors=(403, 404, 409))
def reprocess_episode(episode_id: int) -> tuple[Response, int]:
    """Run the audio pipeline again on the kept original."""
    episode = _episode_for(episode_id, "edit_episodes")
    episodes.request_reprocess(services(), db(), episode)
    db().refresh(episode)
    return jsonify(episode_json(episode)), 202


# --- tokens ---------------------------------------------------------------------------------------------


@bp.get("/tokens")
@documented("tokens", response=TokenListSchema)
def list_tokens() -> Response:
    """Your API tokens (never their secrets)."""
    tokens = sorted(current_user().tokens, key=lambda t: t.id)
    return jsonify({"tokens": [token_json(t) for t in tokens]})


@bp.post("/tokens")
@documented(
    "tokens", status=201, body=TokenCreateSchema, optional_body=True, response=NewTokenSchema, errors=(409,)
)
def create_token() -> tuple[Response, int]:
    """A new API token for yourself; its secret is in this answer only. The body is optional.

    The new token expires no later than the token that asks for it; 409 past the most tokens one user holds.
    """
    user = current_user()
    body = _json(TokenCreateSchema, optional=True)
    token, secret = accounts.create_token(
        db(),
        user,
        body.get("name", ""),
        body.get("expires_in_days"),
        body.get("read_only", False),
        made_with=g.api_token,
    )
    db().commit()
    return jsonify({**token_json(token), "token": secret}), 201


@bp.delete("/tokens/<int:token_id>")
@documented("tokens", status=204, errors=(404,))
def delete_token(token_id: int) -> tuple[str, int]:
    """Revoke one of your tokens."""
    accounts.revoke_token(db(), current_user(), token_id)
    db().commit()
    return "", 204


# --- your account ---------------------------------------------------------------------------------------


@bp.post("/me/password")
@documented("account", status=204, body=PasswordChangeSchema, errors=(403, 429))
def change_password() -> tuple[str, int]:
    """Change your password; every dashboard session of yours ends (API tokens keep working).

    Wrong current passwords count with failed sign-ins from the same address: after five in 15 minutes
    the answer is 429 with Retry-After.
    """
    user = current_user()
    body = _json(PasswordChangeSchema)
    throttle, key = auth.login_throttle(), auth.throttle_key(user.email)
    wait = throttle.retry_after(key)
    if wait:
        raise TooManyRequests(
            "Too many wrong passwords for this account from your address; try again later.",
            retry_after=math.ceil(wait),
        )
    try:
        accounts.change_password(db(), user, body["current_password"], body["new_password"])
    except Forbidden:
        if user.password_hash:  # a wrong guess; having no password yet is none
            throttle.fail(key)
        raise
    throttle.clear(key)
    db().commit()
    return "", 204


# --- members --------------------------------------------------------------------------------------------


@bp.get("/shows/<slug>/members")
@documented("members", response=MemberListSchema, errors=(403, 404))
def list_members(slug: str) -> Response:
    """Who has which role on the show."""
    show = _show_for(slug, "read")
    members = sorted(show.members, key=lambda m: m.user.email)
    return jsonify({"members": [member_json(m) for m in members]})


@bp.post("/shows/<slug>/members")
@documented("members", status=202, body=MemberGrantSchema, response=InvitationSchema, errors=(403, 404, 409))
def add_member(slug: str) -> tuple[Response, int]:
    """Invite an address to a role on the show, or change a member's role (owners only).

    The answer is the same whether or not the address has an account. Today an account gets the role at
    once and an address without one gets nothing: create the account first (`podcast-host user add`).
    """
    show = _show_for(slug, "manage_members")
    body = _json(MemberGrantSchema)
    email = accounts.invite(db(), show, body["email"], body["role"])
    db().commit()
    return jsonify({"email": email, "role": body["role"], "status": "invited"}), 202


@bp.delete("/shows/<slug>/members/<email>")
@documented("members", status=204, errors=(403, 404, 409))
def remove_member(slug: str, email: str) -> tuple[str, int]:
    """Take a user's role on the show away (owners only); the last owner stays."""
    accounts.remove_member(db(), _show_for(slug, "manage_members"), email)
    db().commit()
    return "", 204


# --- who is asking --------------------------------------------------------------------------------------


def current_user() -> User:
    """The user behind the Bearer token: 401 without a live one, 403 when a read-only token would write."""
    if "api_user" in g:
        return g.api_user
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated("Send an API token as 'Authorization: Bearer <token>'.")
    token = accounts.token_for_secret(db(), secret)
    db().commit()
    if token.read_only and request.method not in READ_METHODS:
        raise Forbidden("This token is read-only: it may only read (GET and HEAD requests).")
    g.api_token = token
    g.api_user = token.user
    return g.api_user


def _show_for(slug: str, permission: str) -> Show:
    user = current_user()
    show = shows.find_show(db(), slug)
    accounts.require(db(), user, show, permission)
    return show


def _episode_for(episode_id: int, permission: str) -> Episode:
    user = current_user()
    if episode_id > MAX_ID:  # no such row, and the database would refuse the number
        raise NotFound(f"There is no episode {episode_id}.")
    episode = episodes.get_episode(db(), episode_id)
    accounts.require_episode(db(), user, episode, permission)
    return episode


# --- bodies ---------------------------------------------------------------------------------------------


def _json(schema: type[Schema], optional: bool = False) -> dict[str, Any]:
    """The JSON body checked against its schema: 415 when not JSON, 400 when malformed, 422 when invalid."""
    if optional and not request.get_data(cache=True):
        return {}
    try:
        payload = request.get_json()
    except RecursionError as exc:
        # Deep nesting ("[[[[…") ends json's parser with RecursionError, not the ValueError Flask answers 400.
        payload = request.on_json_loading_failed(exc)
    return load(schema, payload)


def _form(schema: type[Schema]) -> dict[str, Any]:
    """The multipart body checked against its schema; empty fields and empty file parts count as absent."""
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise UnsupportedMedia("Send this as multipart/form-data, the files as file parts.")
    data: dict[str, Any] = {k: v for k, v in request.form.items() if v.strip() or k == "description"}
    data.update({k: f for k, f in request.files.items() if f.filename or _stream_size(f)})
    return load(schema, data)


def _stream_size(storage: FileStorage) -> int:
    stream = storage.stream
    position = stream.tell()
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(position)
    return size


# --- JSON shapes (documented in web/openapi.py) ---------------------------------------------------------


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
        "show_type": show.show_type,
        "locked": show.locked,
        "funding_url": show.funding_url,
        "funding_text": show.funding_text,
        "image": links.image(show.image_key),
        "feed_url": links.feed(show),
        "page_url": links.show_page(show),
        "podcast_guid": show.podcast_guid,
        "moved_to_url": show.moved_to_url,
        "target_lufs_stereo": show.target_lufs_stereo,
        "target_lufs_mono": show.target_lufs_mono,
        "bitrate_stereo_kbps": show.bitrate_stereo_kbps,
        "bitrate_mono_kbps": show.bitrate_mono_kbps,
        "created_at": show.created_at.isoformat(),
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
        "loudness": {name: report.get(name) for name in LOUDNESS_FIGURES},
        "page_url": links.episode_page(episode),
        "chapters": bool(episode.chapters),
        "transcript": links.transcript(episode) if episode.transcript_key else None,
        "image": links.image(episode.image_key),
        "created_at": episode.created_at.isoformat(),
    }


LOUDNESS_FIGURES = ("input_lufs", "input_lra", "input_true_peak_dbtp", "output_lufs", "output_true_peak_dbtp")


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "read_only": token.read_only,
    }


def member_json(membership: Membership) -> dict[str, Any]:
    return {"email": membership.user.email, "role": membership.role}
