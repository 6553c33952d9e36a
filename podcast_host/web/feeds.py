"""GET /<show>/feed.xml: cached bytes with strong ETag, Last-Modified, 304, gzip and moves (301)."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request

from podcast_host.links import Links
from podcast_host.models import utcnow
from podcast_host.shows import find_show_or_alias
from podcast_host.syndication import RenderedFeed, cached_feed, feed_state
from podcast_host.web.context import db, services

bp = Blueprint("feeds", __name__)

FEED_TYPE = "application/rss+xml; charset=utf-8"


@bp.route("/<show_slug>/feed.xml", methods=["GET", "HEAD"])
def feed(show_slug: str) -> Response:
    now = utcnow()
    # One query answers the common case: a current slug whose feed is in the cache.
    state = feed_state(db(), show_slug, now)
    if state is None:
        return moved_feed(show_slug)
    if state.moved_to_url:
        # A move to another host is for good: apps that follow it update their subscription.
        return redirect(state.moved_to_url, code=301)
    rendered = cached_feed(services(), db(), state, now)
    return feed_response(rendered, gzip_ok=request.accept_encodings["gzip"] > 0)


def moved_feed(old_slug: str) -> Response:
    """301 from an old slug to the show's feed (or straight to its new host); 404 when no show had it."""
    show, _ = find_show_or_alias(db(), old_slug)
    return redirect(show.moved_to_url or Links(services().settings).feed(show), code=301)


def feed_response(rendered: RenderedFeed, gzip_ok: bool) -> Response:
    """The feed with its validators; 304 when the request's If-None-Match or If-Modified-Since still holds."""
    response = Response(rendered.gzipped if gzip_ok else rendered.body, content_type=FEED_TYPE)
    if gzip_ok:
        response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    # The gzip body is another representation, so it gets its own strong validator (RFC 9110 §8.8.3.3).
    response.set_etag(rendered.etag + ("-gz" if gzip_ok else ""))
    response.last_modified = rendered.last_modified
    response.cache_control.public = True
    response.cache_control.max_age = services().settings.feed_max_age_s
    return response.make_conditional(request)
