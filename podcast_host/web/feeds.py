"""GET /<show>/feed.xml: cached bytes with strong ETag, Last-Modified, 304, gzip and moves (301)."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request

from podcast_host.links import Links
from podcast_host.shows import find_show_or_alias
from podcast_host.syndication import render_feed
from podcast_host.web.context import db, services

bp = Blueprint("feeds", __name__)

FEED_TYPE = "application/rss+xml; charset=utf-8"


@bp.route("/<show_slug>/feed.xml", methods=["GET", "HEAD"])
def feed(show_slug: str) -> Response:
    session = db()
    show, is_alias = find_show_or_alias(session, show_slug)
    if show.moved_to_url:
        return redirect(show.moved_to_url, code=301)
    if is_alias:
        return redirect(Links(services().settings).feed(show), code=301)
    rendered = render_feed(services(), session, show)
    gzip_ok = "gzip" in request.headers.get("Accept-Encoding", "")
    response = Response(rendered.gzipped if gzip_ok else rendered.body, mimetype=None,
                        content_type=FEED_TYPE)
    if gzip_ok:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    # The gzip body is a different representation: it gets its own strong validator.
    response.set_etag(rendered.etag + ("-gz" if gzip_ok else ""))
    response.last_modified = rendered.last_modified
    response.cache_control.public = True
    response.cache_control.max_age = services().settings.feed_max_age_s
    return response.make_conditional(request)
