"""Stored objects under /media/<key>: served with HEAD and byte ranges, or redirected to the object store."""

from __future__ import annotations

import mimetypes

from flask import Blueprint, Response, redirect, request, send_file

from podcast_host.errors import NotFound
from podcast_host.web.context import services

bp = Blueprint("media", __name__)

mimetypes.add_type("text/vtt", ".vtt")
mimetypes.add_type("application/x-subrip", ".srt")


@bp.route("/media/<path:key>", methods=["GET", "HEAD"])
def media(key: str) -> Response:
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


def _mime(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"
