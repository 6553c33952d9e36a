"""The producers' JSON API under /api/v1 (docs/api.md): parse the request, call the domain, answer JSON.

Every view declares its contract with `@documented`; GET /api/v1/openapi.json is built from those.
Bodies are read and written by web/api_bodies.py.
"""

from __future__ import annotations

import logging
import math

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import TooManyRequests

from podcast_host import accounts, episodes, invitations, shows
from podcast_host.analytics import report
from podcast_host.errors import Forbidden, NotAuthenticated
from podcast_host.models import Episode, Show, User, utcnow
from podcast_host.web import auth, team_links
from podcast_host.web.analytics_schemas import AnalyticsQuerySchema, AnalyticsSchema
from podcast_host.web.api_bodies import (
    csv_download,
    episode_json,
    form_body,
    json_body,
    member_json,
    show_json,
    token_json,
)
from podcast_host.web.context import db, services, spooled_upload
from podcast_host.web.openapi import build_document, documented
from podcast_host.web.schemas import (
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
        # The proxy's own method: mypy sees current_app as the Flask app it stands for.
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        extensions["podcast_host.openapi"] = build_document(app, services().settings.public_url)
    return jsonify(extensions["podcast_host.openapi"])


# --- shows ----------------------------------------------------------------------------------------------


@bp.post("/shows")
@documented("shows", status=201, body=ShowCreateSchema, response=ShowSchema, errors=(409,))
def create_show() -> tuple[Response, int, dict[str, str]]:
    """Create a show; its creator becomes its owner."""
    user = current_user()
    show = shows.create_show(db(), services().settings.public_url, json_body(ShowCreateSchema), owner=user)
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
    """Change show fields; changing the slug, moved_to_url, email, locked or access needs an owner.

    Owner-only fields sent with the values they already have (a GET's answer sent back) are no change.
    """
    show = _show_for(slug, "edit_show")
    fields = json_body(ShowPatchSchema)
    may_move = accounts.allows(db(), current_user(), show, "move_show")
    shows.update_show(services(), db(), show, fields, may_move=may_move)
    db().commit()
    return jsonify(show_json(show))


@bp.delete("/shows/<slug>")
@documented("shows", status=204, errors=(403, 404))
def delete_show(slug: str) -> tuple[str, int]:
    """Delete a show with its episodes and media (owners only)."""
    shows.delete_show(services(), db(), _show_for(slug, "delete_show"))
    db().commit()
    return "", 204


@bp.put("/shows/<slug>/image")
@documented("shows", form=CoverUploadSchema, response=ShowSchema, errors=(403, 404, 503))
def put_show_image(slug: str) -> Response:
    """Upload the show's cover art (multipart field `image`)."""
    show = _show_for(slug, "edit_show")
    image: FileStorage = form_body(CoverUploadSchema)["image"]
    shows.set_cover(services(), db(), show, spooled_upload(image).read("image"))
    db().commit()
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
    fields = form_body(EpisodeUploadSchema)
    audio = spooled_upload(fields.pop("audio"))
    image, chapters, transcript = (
        spooled_upload(fields.pop(name)) if name in fields else None for name in EPISODE_FILES
    )
    episode = episodes.create_episode(
        services(), db(), show, audio, fields, image=image, chapters=chapters, transcript=transcript
    )
    location = url_for(".get_episode", episode_id=episode.id)
    return jsonify(episode_json(episode)), 202, {"Location": location}


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
    episodes.update_episode(services(), db(), episode, json_body(EpisodePatchSchema))
    db().commit()
    return jsonify(episode_json(episode))


@bp.delete("/episodes/<int:episode_id>")
@documented("episodes", status=204, errors=(403, 404))
def delete_episode(episode_id: int) -> tuple[str, int]:
    """Delete an episode and its media."""
    episode = _episode_for(episode_id, "edit_episodes")
    episodes.delete_episode(services(), db(), episode)
    db().commit()
    return "", 204


@bp.post("/episodes/<int:episode_id>/publish")
@documented(
    "episodes", body=PublishSchema, optional_body=True, response=EpisodeSchema, errors=(403, 404, 409)
)
def publish_episode(episode_id: int) -> Response:
    """Publish now, at `publish_at`, or as soon as processing ends; the body is optional."""
    episode = _episode_for(episode_id, "edit_episodes")
    body = json_body(PublishSchema, optional=True)
    at = episodes.parse_datetime(body["publish_at"]) if body.get("publish_at") else None
    episodes.publish_episode(services(), db(), episode, at)
    db().commit()
    return jsonify(episode_json(episode))


@bp.post("/episodes/<int:episode_id>/reprocess")
@documented("episodes", status=202, response=EpisodeSchema, errors=(403, 404, 409))
def reprocess_episode(episode_id: int) -> tuple[Response, int]:
    """Run the audio pipeline again on the kept original."""
    episode = _episode_for(episode_id, "edit_episodes")
    episodes.request_reprocess(services(), db(), episode)
    db().commit()
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
    body = json_body(TokenCreateSchema, optional=True)
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
    body = json_body(PasswordChangeSchema)
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
    """Invite an address to a role on the show (owners only); the answer's `accept_url` is the one-time link
    to hand over, shown this once.

    Nobody gets a role before accepting through the link, signed in with that address or creating its
    account there; the answer is the same whether or not the address has an account. 409 when the address
    has a role on the show already, or past 100 pending invitations.
    """
    show = _show_for(slug, "manage_members")
    body = json_body(MemberGrantSchema)
    invitation, secret = invitations.invite(db(), current_user(), show, body["email"], body["role"])
    db().commit()
    answer = {"email": invitation.email, "role": invitation.role, "status": "invited"}
    return jsonify({**answer, "accept_url": team_links.link_address("team_links.invitation", secret)}), 202


@bp.delete("/shows/<slug>/members/<email>")
@documented("members", status=204, errors=(403, 404, 409))
def remove_member(slug: str, email: str) -> tuple[str, int]:
    """Take a user's role on the show away (owners only); the last owner stays."""
    accounts.remove_member(db(), _show_for(slug, "manage_members"), email)
    db().commit()
    return "", 204


# --- analytics ------------------------------------------------------------------------------------------


@bp.get("/shows/<slug>/analytics")
@documented("analytics", response=AnalyticsSchema, query=AnalyticsQuerySchema, errors=(403, 404))
def show_analytics(slug: str) -> Response:
    """IAB-style downloads of the show per episode, day, app and country (viewer role and above).

    Both days are inclusive, UTC; without them, the last 30 days. A download is counted within a minute
    (docs/analytics.md)."""
    return jsonify(report.api_report(_analytics(slug)))


@bp.get("/shows/<slug>/analytics.csv")
@documented("analytics", query=AnalyticsQuerySchema, media_type="text/csv", errors=(403, 404))
def show_analytics_csv(slug: str) -> Response:
    """The same figures as CSV: one row per figure (dimension, key, name, downloads)."""
    return csv_download(_analytics(slug))


def _analytics(slug: str) -> dict[str, object]:
    show = _show_for(slug, "read")
    within = report.period(request.args.get("since"), request.args.get("until"), utcnow().date())
    return report.show_report(db(), show, within)


# --- who is asking --------------------------------------------------------------------------------------


def current_user() -> User:
    """The user behind the Bearer token: 401 without a live one, 403 when a read-only token would write."""
    if "api_user" in g:
        known: User = g.api_user
        return known
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated("Send an API token as 'Authorization: Bearer <token>'.")
    token = accounts.token_for_secret(db(), secret)
    db().commit()
    if token.read_only and request.method not in READ_METHODS:
        raise Forbidden("This token is read-only: it may only read (GET and HEAD requests).")
    g.api_token = token
    g.api_user = token.user
    return token.user


def _show_for(slug: str, permission: str) -> Show:
    user = current_user()
    show = shows.find_show(db(), slug)
    accounts.require(db(), user, show, permission)
    return show


def _episode_for(episode_id: int, permission: str) -> Episode:
    user = current_user()
    episode = episodes.get_episode(db(), episode_id)
    accounts.require_episode(db(), user, episode, permission)
    return episode
