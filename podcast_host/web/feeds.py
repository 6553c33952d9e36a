"""GET /<show>/feed.xml: cached bytes with strong ETag, Last-Modified, 304, gzip and moves (301)."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request
from werkzeug.http import http_date, quote_etag
from werkzeug.wrappers import Response as BaseResponse

from podcast_host.feeds.links import Links
from podcast_host.feeds.syndication import RenderedFeed, cached_feed, current_feed_state, fresh_feed
from podcast_host.models import utcnow
from podcast_host.shows import find_show_or_alias
from podcast_host.web.context import db, services

bp = Blueprint("feeds", __name__)

FEED_TYPE = "application/rss+xml; charset=utf-8"


@bp.route("/<show_slug>/feed.xml", methods=["GET", "HEAD"])
def feed(show_slug: str) -> BaseResponse:
    # The common case, a current slug whose cached feed is still right, costs one indexed lookup.
    state = current_feed_state(services().db, show_slug)
    if state is None:
        return moved_feed(show_slug)
    if state.moved_to_url:
        # A move to another host is for good: apps that follow it update their subscription.
        return redirect(state.moved_to_url, code=301)
    now = utcnow()
    rendered = fresh_feed(services(), state, now) or cached_feed(services(), db(), state, now)
    return feed_response(rendered, gzip_ok=request.accept_encodings["gzip"] > 0)


def moved_feed(old_slug: str) -> BaseResponse:
    """301 from an old slug to the show's feed (or straight to its new host); 404 when no show had it."""
    show, _ = find_show_or_alias(db(), old_slug)
    return redirect(show.moved_to_url or Links(services().settings).feed(show), code=301)


def feed_response(rendered: RenderedFeed, gzip_ok: bool) -> BaseResponse:
    """The feed with its validators; 304 when the request's If-None-Match or If-Modified-Since still holds."""
    headers = {
        "Content-Type": FEED_TYPE,
        "Vary": "Accept-Encoding",
        # The gzip body is another representation, so it gets its own strong validator (RFC 9110 §8.8.3.3).
        "ETag": quote_etag(rendered.etag + ("-gz" if gzip_ok else "")),
        "Last-Modified": http_date(rendered.last_modified),
        "Cache-Control": f"public, max-age={services().settings.feed_max_age_s}",
    }
    if gzip_ok:
        headers["Content-Encoding"] = "gzip"
    response = Response(rendered.gzipped if gzip_ok else rendered.body, headers=headers)
    return response.make_conditional(request)
