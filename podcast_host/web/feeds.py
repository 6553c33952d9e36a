"""GET /<show>/feed.xml: cached bytes with strong ETag, Last-Modified, 304, gzip and moves (301).

A private show's feed answers only with a subscriber's token (docs/private-feeds.md, "Delivery"): each request
checks it against the database, so a revoked subscriber gets 410 from the next request on, in every process.
"""

from __future__ import annotations

import gzip

from flask import Blueprint, Response, abort, redirect, request
from werkzeug.http import http_date, is_resource_modified, quote_etag
from werkzeug.wrappers import Response as BaseResponse

from podcast_host.config import Settings
from podcast_host.errors import NotFound, refusal
from podcast_host.feeds.links import Links
from podcast_host.feeds.state import FeedState, current_feed_state
from podcast_host.feeds.syndication import (
    GZIP_LEVEL,
    RenderedFeed,
    cached_feed,
    for_subscriber,
    fresh_feed,
    subscriber_etag,
)
from podcast_host.models import PRIVATE, utcnow
from podcast_host.shows import find_show_or_alias
from podcast_host.web.context import db, services
from podcast_host.web.media import token_holder

bp = Blueprint("feeds", __name__)

FEED_TYPE = "application/rss+xml; charset=utf-8"
# A subscriber's feed is theirs alone: no shared cache may keep it, and their app asks again every time.
PRIVATE_FEED_CACHING = "private, no-cache"


@bp.route("/<show_slug>/feed.xml", methods=["GET", "HEAD"])
def feed(show_slug: str) -> BaseResponse:
    if not could_be_slug(show_slug):
        raise NotFound(refusal("There is no show %(slug)r.", slug=show_slug))
    # The common case, a current slug whose cached feed is still right, costs one indexed lookup.
    state = current_feed_state(services().db, show_slug)
    if state is None:
        return moved_feed(show_slug)
    if state.access == PRIVATE:
        return subscriber_feed(state, show_slug)
    if state.moved_to_url:
        # A move to another host is for good: apps that follow it update their subscription.
        return redirect(state.moved_to_url, code=301)
    rendered = _rendered(state)
    if rendered.token_placeholder is not None:
        # The show was made private between the two reads: its feed is not for everyone any more.
        raise NotFound(refusal("There is no show %(slug)r.", slug=show_slug))
    return feed_response(rendered, gzip_ok=request.accept_encodings["gzip"] > 0)


def could_be_slug(text: str) -> bool:
    """Whether any show could have this slug (old or current). A NUL is text PostgreSQL refuses to compare,
    and no slug holds one: such a request is answered as for a slug nobody has, without the database."""
    return bool(text) and "\x00" not in text


def moved_feed(old_slug: str) -> BaseResponse:
    """301 from an old slug to the show's feed (or straight to its new host); 404 when no show had it."""
    show, _ = find_show_or_alias(db(), old_slug)
    if show.is_private:
        # Only a subscriber learns where a private show went, and keeps their token on the way.
        token = _subscriber_token(show.id, old_slug)
        return redirect(
            show.moved_to_url or Links(services().settings).subscriber_feed(show, token), code=301
        )
    return redirect(show.moved_to_url or Links(services().settings).feed(show), code=301)


def subscriber_feed(state: FeedState, slug: str) -> BaseResponse:
    """A private show's feed with the request's token in every URL; 404 without a token of this show's, 410
    for a revoked subscriber's."""
    token = _subscriber_token(state.show_id, slug)
    if state.moved_to_url:
        return redirect(state.moved_to_url, code=301)
    rendered = _rendered(state)
    if rendered.token_placeholder is None:
        # Made public between the two reads: the subscriber's app gets the feed everyone gets.
        return feed_response(rendered, gzip_ok=request.accept_encodings["gzip"] > 0)
    gzip_ok = request.accept_encodings["gzip"] > 0
    etag = subscriber_etag(rendered, token)
    # The subscriber's copy (and its gzip) is made only when the app's own copy is out of date.
    unchanged = not is_resource_modified(
        request.environ, etag=_representation_etag(etag, gzip_ok), last_modified=rendered.last_modified
    )
    body = b"" if unchanged else for_subscriber(rendered, token)
    return feed_response(
        RenderedFeed(body, b"", etag, rendered.last_modified), gzip_ok=gzip_ok, caching=PRIVATE_FEED_CACHING
    )


def _subscriber_token(show_id: int, asked_for: str) -> str:
    """The request's token when it is a current subscriber's of this show. A token of nobody here (none,
    made up, another show's) is told the show does not exist; a revoked subscriber's, that it is gone."""
    subscriber = token_holder(show_id)
    if subscriber is None:
        raise NotFound(refusal("There is no show %(slug)r.", slug=asked_for))
    if subscriber.revoked_at is not None:
        abort(410)
    return request.args.get("token", "")


def _rendered(state: FeedState) -> RenderedFeed:
    now = utcnow()
    return fresh_feed(services(), state, now) or cached_feed(services(), db(), state, now)


def _representation_etag(etag: str, gzip_ok: bool) -> str:
    # The gzip body is another representation, so it gets its own strong validator (RFC 9110 §8.8.3.3).
    return etag + ("-gz" if gzip_ok else "")


def feed_response(rendered: RenderedFeed, gzip_ok: bool, caching: str | None = None) -> BaseResponse:
    """The feed with its validators; 304 when the request's If-None-Match or If-Modified-Since still holds."""
    body = rendered.body
    if gzip_ok:
        body = rendered.gzipped or gzip.compress(rendered.body, compresslevel=GZIP_LEVEL, mtime=0)
    headers = feed_headers(rendered, gzip_ok, caching or public_feed_caching(services().settings))
    response = Response(body, headers=headers)
    return response.make_conditional(request)


def feed_headers(rendered: RenderedFeed, gzip_ok: bool, caching: str) -> list[tuple[str, str]]:
    """The headers of the feed's 200, before werkzeug adds its length and the date; the fast path before
    Flask (fast_paths.py) starts from the same list."""
    headers = [
        ("Content-Type", FEED_TYPE),
        ("Vary", "Accept-Encoding"),
        ("ETag", quote_etag(_representation_etag(rendered.etag, gzip_ok))),
        ("Last-Modified", http_date(rendered.last_modified)),
        ("Cache-Control", caching),
    ]
    if gzip_ok:
        headers.append(("Content-Encoding", "gzip"))
    return headers


def public_feed_caching(settings: Settings) -> str:
    return f"public, max-age={settings.feed_max_age_s}"
