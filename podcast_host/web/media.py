"""Stored objects under /media/<key>: served with HEAD and byte ranges, or redirected to the object store."""

from __future__ import annotations

import mimetypes

from flask import Blueprint, Response, redirect, request, send_file

from podcast_host import accounts
from podcast_host.errors import NotFound
from podcast_host.models import Episode, Show, utcnow
from podcast_host.storage import MediaKey, parse_media_key
from podcast_host.web.auth import session_user
from podcast_host.web.context import db, services

bp = Blueprint("media", __name__)

mimetypes.add_type("text/vtt", ".vtt")
mimetypes.add_type("application/x-subrip", ".srt")


@bp.route("/media/<path:key>", methods=["GET", "HEAD"])
def media(key: str) -> Response:
    try:
        where = parse_media_key(key)
    except ValueError:
        raise NotFound("There is no such media file.") from None
    _check_access(where)
    store = services().store
    path = store.local_path(key)
    if path is not None:
        if not path.is_file():
            raise NotFound("There is no such media file.")
        # send_file answers HEAD, Range (206 + Content-Range) and conditional requests itself.
        response = send_file(path, mimetype=_mime(key), conditional=True, etag=True, max_age=86400)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    if not store.exists(key):
        raise NotFound("There is no such media file.")
    # S3: a short-lived presigned URL, signed for this very method (a GET signature is refused for HEAD);
    # the object store answers HEAD and Range itself.
    return redirect(store.public_url(key, method=request.method) or "", code=302)


def _check_access(where: MediaKey) -> None:
    """Originals, and the files of episodes listeners cannot see yet, are for the show's team only."""
    if where.episode_id is None:
        return
    if where.kind != "original":
        episode = db().get(Episode, where.episode_id)
        if episode is not None and episode.show_id == where.show_id and episode.is_public_at(utcnow()):
            return
    show = db().get(Show, where.show_id)
    user = session_user()
    if show is None or user is None:
        raise NotFound("There is no such media file.")
    accounts.require(db(), user, show, "read")


def _mime(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"
