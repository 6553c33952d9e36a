"""Two answers given before Flask runs, when this process's memory already proves them right (docs/feeds.md,
"The fast path"): the feed of a public show whose cached bytes are current, and the redirect of a media file
found public less than a minute ago. They are the hot paths of a podcast host: apps poll feeds, and every
download starts at /media.

Each answers with the status, headers and body its Flask route gives (tests/test_hot_paths.py compares the
two), and counts a download as the media route does. Anything else, and anything unusual about one of these
requests (a body, If-Match, the dashboard's session cookie on a media request, a slug that is not a public
show's current one, a database error), goes to Flask, which answers as it always did.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.datastructures import Headers
from werkzeug.http import HTTP_STATUS_CODES, http_date, is_resource_modified, parse_accept_header
from werkzeug.http import remove_entity_headers as _remove_entity_headers
from werkzeug.routing import Map
from werkzeug.urls import iri_to_uri
from werkzeug.utils import redirect

from podcast_host.feeds.state import feed_state_reader
from podcast_host.feeds.syndication import MAX_CACHED_FEEDS, RenderedFeed, fresh_feed
from podcast_host.models import PRIVATE, utcnow
from podcast_host.services import Services
from podcast_host.storage import MediaKey, StorageError, parse_media_key
from podcast_host.web import feeds, media

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Header = tuple[str, str]

# What every answer of the app carries (docs/architecture.md, "Framing"); web/__init__.py's hook adds them
# to Flask's answers, these lists to the fast path's. Only the embed player leaves out FRAMING.
FRAMING: tuple[Header, ...] = (
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
)
ALWAYS: tuple[Header, ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
)
# Accept-Encoding values remembered with whether they take gzip: apps send a handful of them.
ENCODINGS_KEPT = 64
# Prepared feeds kept (two per show at most), beyond which they are all made again.
PREPARED_KEPT = 2 * MAX_CACHED_FEEDS
# Media redirects and keys kept, beyond which they are all made again.
REDIRECTS_KEPT = 4096
# werkzeug's status lines, capitals included ("304 NOT MODIFIED").
OK, NOT_MODIFIED, FOUND = (f"{code} {HTTP_STATUS_CODES[code].upper()}" for code in (200, 304, 302))


@dataclass(frozen=True)
class Answer:
    status: str
    headers: list[Header]
    body: bytes


@dataclass(frozen=True)
class PreparedFeed:
    """The headers of one representation of a rendered feed (plain or gzip), made once: those of the 200 and
    of the 304 that go before the Date werkzeug adds; the security headers follow the Date in both. The
    body stays the rendered feed's: kept here, it would outlive the feed cache's caps."""

    etag: str
    last_modified: str
    ok_headers: list[Header]
    not_modified_headers: list[Header]

    def answer(self, not_modified: bool, date: str, body: bytes) -> Answer:
        if not_modified:
            return Answer(NOT_MODIFIED, [*self.not_modified_headers, ("Date", date), *FRAMING, *ALWAYS], b"")
        return Answer(OK, [*self.ok_headers, ("Date", date), *FRAMING, *ALWAYS], body)


class FastPaths:
    """WSGI middleware in front of the Flask app: the fast answers, or the app."""

    def __init__(self, app: WsgiApp, flask_app: Flask, services: Services) -> None:
        self.app = app
        self.flask_app = flask_app
        self.services = services
        self.session_cookie: str = flask_app.config["SESSION_COOKIE_NAME"]
        self._taken_segments: frozenset[str] | None = None
        self._gzip_for: dict[str, bool] = {}
        # Per show, the feed it last prepared, held weakly: the feed cache alone decides what stays.
        self._prepared: dict[tuple[int, bool], tuple[weakref.ref[RenderedFeed], PreparedFeed]] = {}
        self._date: tuple[int, str] = (0, "")
        # Redirects by target: MEDIA_URL's are the same for every download of a file (presigned ones are not),
        # and what a key says (its show, episode and kind, its served headers), by key.
        self._redirects: dict[str, Answer] = {}
        self._files: dict[str, tuple[MediaKey, dict[str, str]]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        answer = self.answer(environ)
        if answer is None:
            return self.app(environ, start_response)
        start_response(answer.status, list(answer.headers))
        return [answer.body] if answer.body and environ["REQUEST_METHOD"] == "GET" else []

    def answer(self, environ: dict[str, Any]) -> Answer | None:
        """The fast answer to this request, or None when Flask must answer it."""
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD") or _has_body(environ):
            return None
        path: str = environ.get("PATH_INFO", "")
        if path.startswith("/media/"):
            return self._media(environ, path[len("/media/") :])
        if path.endswith("/feed.xml"):
            return self._feed(environ, path[1 : -len("/feed.xml")])
        return None

    # --- the feed ---------------------------------------------------------------------------------------

    def _feed(self, environ: dict[str, Any], segment: str) -> Answer | None:
        slug = _path_text(segment)
        if (
            not feeds.could_be_slug(slug)
            or "/" in slug
            or slug in self._taken()
            or "HTTP_IF_MATCH" in environ
        ):
            # If-Match can turn a 304 into a 412: werkzeug's rules, left to Flask.
            return None
        reader = feed_state_reader(self.services)
        try:
            state = reader.read(slug)
        except reader.errors:
            return None  # Flask answers as it would (503 while the database is away)
        if state is None or state.access == PRIVATE or state.moved_to_url:
            return None
        rendered = fresh_feed(self.services, state, utcnow())
        if rendered is None or rendered.token_placeholder is not None:
            return None
        gzip_ok = self._accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        prepared = self._prepared_feed(state.show_id, rendered, gzip_ok)
        return prepared.answer(_not_modified(environ, prepared), self._http_date(), _body(rendered, gzip_ok))

    def _prepared_feed(self, show_id: int, rendered: RenderedFeed, gzip_ok: bool) -> PreparedFeed:
        kept = self._prepared.get((show_id, gzip_ok))
        if kept is not None and kept[0]() is rendered:
            return kept[1]
        prepared = prepare_feed(rendered, gzip_ok, feeds.public_feed_caching(self.services.settings))
        if len(self._prepared) >= PREPARED_KEPT:
            self._prepared.clear()
        self._prepared[(show_id, gzip_ok)] = (weakref.ref(rendered), prepared)
        return prepared

    def _accepts_gzip(self, accept_encoding: str | None) -> bool:
        if accept_encoding is None:
            return False
        known = self._gzip_for.get(accept_encoding)
        if known is None:
            # The rule of the Flask route: request.accept_encodings["gzip"] > 0.
            known = parse_accept_header(accept_encoding)["gzip"] > 0
            if len(self._gzip_for) < ENCODINGS_KEPT:
                self._gzip_for[accept_encoding] = known
        return known

    def _taken(self) -> frozenset[str]:
        """First path segments that other routes own (/api, /media, /static, …): /api/feed.xml is not a feed.
        Read from the app's routes at the first request, once every blueprint is registered."""
        if self._taken_segments is None:
            self._taken_segments = taken_segments(self.flask_app.url_map)
        return self._taken_segments

    def _http_date(self) -> str:
        """The Date werkzeug gives a conditional answer, made once a second."""
        second = int(time.time())
        if self._date[0] != second:
            self._date = (second, http_date(second))
        return self._date[1]

    # --- media ------------------------------------------------------------------------------------------

    def _media(self, environ: dict[str, Any], segment: str) -> Answer | None:
        key = _path_text(segment)
        cookies = environ.get("HTTP_COOKIE")
        if not key or "//" in key or (cookies and self.session_cookie in cookies):
            # A doubled slash names no key; with a session cookie Flask adds Vary: Cookie (web/media.py).
            return None
        if not media.found_public_lately(self.services, key):
            return None
        known = self._files.get(key)
        if known is None:
            try:
                where = parse_media_key(key)
            except ValueError:
                return None
            known = (where, media.served_headers(key, where, private=False))
            if len(self._files) >= REDIRECTS_KEPT:
                self._files.clear()
            self._files[key] = known
        where, headers = known
        method = environ["REQUEST_METHOD"]
        try:
            target = self.services.store.public_url(key, method=method, headers=headers)
        except StorageError:
            return None
        if target is None or _names_request_host(target, environ):
            # A file the app sends itself, or a redirect web/__init__.py rewrites: Flask's.
            return None
        made = self._redirects.get(target)
        if made is None:
            made = _redirect(target, headers)
            if len(self._redirects) >= REDIRECTS_KEPT:
                self._redirects.clear()
            self._redirects[target] = made
        media.count_download(self.services, environ, key, where, 302)
        return made


def prepare_feed(rendered: RenderedFeed, gzip_ok: bool, caching: str) -> PreparedFeed:
    """A feed's answers as the Flask route makes them: its headers, werkzeug's length, the security headers;
    the 304 without the headers werkzeug takes out of one."""
    headers = feeds.feed_headers(rendered, gzip_ok, caching)
    not_modified = Headers(headers)
    _remove_entity_headers(not_modified)
    named = dict(headers)
    return PreparedFeed(
        etag=named["ETag"],
        last_modified=named["Last-Modified"],
        ok_headers=[*headers, ("Content-Length", str(len(_body(rendered, gzip_ok))))],
        not_modified_headers=not_modified.to_wsgi_list(),
    )


def _body(rendered: RenderedFeed, gzip_ok: bool) -> bytes:
    return rendered.gzipped if gzip_ok else rendered.body


def taken_segments(url_map: Map) -> frozenset[str]:
    """The literal first segments of the app's routes."""
    taken = set()
    for rule in url_map.iter_rules():
        first = rule.rule.lstrip("/").split("/", 1)[0]
        if first and "<" not in first:
            taken.add(first)
    return frozenset(taken)


def _not_modified(environ: dict[str, Any], prepared: PreparedFeed) -> bool:
    """werkzeug's make_conditional, with the two requests apps send most decided without parsing."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if if_none_match is None and if_modified_since is None:
        return False
    if if_none_match == prepared.etag:
        return True
    if if_none_match is None and if_modified_since == prepared.last_modified:
        return True
    return not is_resource_modified(environ, prepared.etag, last_modified=prepared.last_modified)


def _redirect(target: str, served: dict[str, str]) -> Answer:
    """The media route's 302 to the store or MEDIA_URL, header for header."""
    made = redirect(target, code=302)
    body = made.get_data()
    headers: list[Header] = [
        ("Content-Type", made.headers["Content-Type"]),
        ("Content-Length", str(len(body))),
        ("Location", iri_to_uri(target)),
    ]
    # A public redirect may be stored but not reused unchecked (web/media.py).
    headers += [(k, v) for k, v in {**served, "Cache-Control": "no-cache"}.items() if k != "Content-Type"]
    headers += [
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", media.SANDBOX),
        ("Access-Control-Allow-Origin", "*"),
        FRAMING[0],
        ALWAYS[1],
    ]
    return Answer(FOUND, headers, body)


def _names_request_host(target: str, environ: dict[str, Any]) -> bool:
    """Whether the target may start with the request's host URL, which web/__init__.py rewrites to
    PUBLIC_URL. Port and case aside, so that it errs towards Flask."""
    host = environ.get("HTTP_HOST")
    if not host:
        return True
    name = host.rsplit(":", 1)[0] if host.rfind(":") > host.rfind("]") else host
    lowered = target.lower()
    return lowered.startswith((f"http://{name.lower()}", f"https://{name.lower()}"))


def _path_text(segment: str) -> str:
    """A WSGI path (bytes as Latin-1) as the text Flask routes on; "" for bytes that are not UTF-8, which
    Flask would read with replacement characters."""
    try:
        return segment.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return ""


def _has_body(environ: dict[str, Any]) -> bool:
    length = environ.get("CONTENT_LENGTH")
    return bool(length and length != "0") or "HTTP_TRANSFER_ENCODING" in environ
