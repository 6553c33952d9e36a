"""Stored objects under /media/<key>: served with HEAD and byte ranges, or redirected to the object store.

Every answer carries the type we chose, `nosniff` and a sandboxing CSP, so no stored file ever runs as a
page of the app's origin; files only the show's team may fetch are never kept by shared caches
(docs/architecture.md, Media access). Requests for published audio are handed to the download counter
(docs/analytics.md), which never delays the answer.

A private show's files answer only to a current subscriber's token of that show or to a member of the show
(docs/private-feeds.md, "Delivery"); they are never sent to MEDIA_URL, and a presigned URL to them lasts a
minute at most.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from enum import Enum
from typing import Any

from flask import Blueprint, current_app, g, redirect, request, send_file
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from podcast_host import accounts, subscribers
from podcast_host.analytics.recorder import Heard
from podcast_host.analytics.rules import DELIVERED, MAX_RANGE_HEADER, MAX_USER_AGENT
from podcast_host.db import is_outage
from podcast_host.errors import Forbidden, NotFound
from podcast_host.models import Episode, Show, Subscriber, utcnow
from podcast_host.services import Services
from podcast_host.storage import MediaKey, original_download_name, parse_media_key, served_type
from podcast_host.web.auth import session_user
from podcast_host.web.context import db, services

bp = Blueprint("media", __name__)

PUBLIC_MAX_AGE_S = 86400
PRIVATE_CACHING = "private, no-store"
# Even a file that is a page in disguise runs in a unique origin without scripts, and nobody may frame it.
SANDBOX = "sandbox; frame-ancestors 'none'"
# A file found public is taken as public for this long without asking the database again (an episode taken
# down stops being served within a minute), and for up to STALE_S while the database does not answer.
PUBLIC_FOR_S = 60.0
STALE_S = 86400.0
PUBLIC_KEYS_KEPT = 20_000


class Access(Enum):
    """Who a file was served to, which decides its caching, CORS and whether it counts as a download."""

    PUBLIC = "public"  # anyone: shared caches and web players on other sites welcome
    LISTENERS = "listeners"  # a private show's subscriber (or team member): counted, kept by nobody else
    TEAM = "team"  # originals and unpublished files: the show's team only, never counted


class PublicKeys:
    """The media keys this process last found public, with when: a bounded, thread-safe LRU."""

    def __init__(self, limit: int = PUBLIC_KEYS_KEPT) -> None:
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def age(self, key: str) -> float | None:
        """Seconds since key was last found public, or None."""
        with self._lock:
            found = self._seen.get(key)
        return None if found is None else time.monotonic() - found

    def forget(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def remember(self, key: str) -> None:
        with self._lock:
            self._seen[key] = time.monotonic()
            self._seen.move_to_end(key)
            while len(self._seen) > self.limit:
                self._seen.popitem(last=False)


@bp.after_request
def vary_on_session_cookie(response: BaseResponse) -> BaseResponse:
    """Every answer to a request that carries the session cookie varies by it, whether or not the session was
    read: a private show's file and a file of no show then answer alike, to a stranger with a cookie too."""
    if current_app.config["SESSION_COOKIE_NAME"] in request.cookies:
        response.vary.add("Cookie")
    return response


@bp.route("/media/<path:key>", methods=["GET", "HEAD"])
def media(key: str) -> BaseResponse:
    try:
        where = parse_media_key(key)
    except ValueError:
        raise NotFound("There is no such media file.") from None
    access, stale, checked = _access(key, where)
    private = access is not Access.PUBLIC
    headers = served_headers(key, where, private)
    if stale:
        # Answered from memory while the database is away: no cache may keep it (the file may be gone since).
        headers["Cache-Control"] = "no-cache"
    app_services = services()
    store = app_services.store
    path = store.local_path(key)
    # A LocalStore behind MEDIA_URL: public files are fetched there, the others from the app.
    if path is not None and (private or store.public_url(key) is None):
        if not path.is_file():
            raise NotFound("There is no such media file.")
        _drop_ranges_served_whole()
        # send_file answers HEAD, Range (206 + Content-Range) and conditional requests itself.
        response: BaseResponse = send_file(
            path,
            mimetype=headers["Content-Type"],
            conditional=True,
            etag=True,
            max_age=None if private or stale else PUBLIC_MAX_AGE_S,
        )
    else:
        # A file found public less than PUBLIC_FOR_S ago existed then (only such a file is remembered): it is
        # not looked for again, which on S3 would be a request to the store for every download.
        from_memory = not checked and not stale
        if not from_memory and not store.exists(key):
            raise NotFound("There is no such media file.")
        # S3: a short-lived presigned URL, signed for this very method (a GET signature is refused for HEAD)
        # and for our headers; the object store answers HEAD and Range itself. A private file's headers say
        # so, and the store then signs for a minute and never hands out its MEDIA_URL.
        target = store.public_url(key, method=request.method, headers=headers)
        response = redirect(target or "", code=302)
        # A public redirect may be stored but not reused unchecked: its presigned target expires.
        headers = {**headers, "Cache-Control": PRIVATE_CACHING if private else "no-cache"}
        del headers["Content-Type"]
    if not private and checked:
        # Only after the database said so: an answer from memory never extends the memory, or polling a file
        # would keep it public for good after its show went private or its episode was taken down.
        _public_keys(app_services).remember(
            key
        )  # only a file that exists, so made-up names never fill the memory
    response.headers.update(headers)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = SANDBOX
    if not private:
        # Web players on other sites may fetch what every listener may fetch anyway.
        response.headers["Access-Control-Allow-Origin"] = "*"
    if access is not Access.TEAM:
        count_download(
            app_services, request.environ, key, where, response.status_code, g.get("subscriber_id")
        )
    return response


def count_download(
    app_services: Services,
    environ: dict[str, Any],
    key: str,
    where: MediaKey,
    status: int,
    subscriber_id: int | None = None,
) -> None:
    """Hand a listener's request for published audio to the counter; the WSGI environ is read as Flask's
    request reads it (fast_paths.py counts its redirects here too). Only what may count is buffered: a flood
    of HEAD or 304 requests must not push listeners out."""
    # Werkzeug reads the method in capitals whatever the client sent.
    method = environ["REQUEST_METHOD"].upper()
    if not (method == "GET" and status in DELIVERED and where.kind == "audio"):
        return
    if not app_services.settings.count_downloads:
        return
    recorder = app_services.recorder
    range_header = environ.get("HTTP_RANGE")
    recorder.note(
        Heard(
            time=recorder.clock(),
            address=environ.get("REMOTE_ADDR") or "",
            # Cut here already, so that a buffer held through an outage stays small.
            user_agent=environ.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT],
            method=method,
            key=key,
            status=status,
            range_header=None if range_header is None else range_header[: MAX_RANGE_HEADER + 1],
            subscriber_id=subscriber_id,
        )
    )


def _access(key: str, where: MediaKey) -> tuple[Access, bool, bool]:
    """(access, stale, checked): _check_access (checked), skipped for a file found public within the last
    minute, and answered from that memory (stale) while the database is out of reach: listeners keep their
    audio through an outage (docs/analytics.md). Any other database error, or a file not known public, gets
    no such help."""
    public_keys = _public_keys(services())
    age = public_keys.age(key)
    if age is not None and age < PUBLIC_FOR_S:
        return Access.PUBLIC, False, False
    try:
        access = _check_access(where)
    except (NotFound, Forbidden):
        public_keys.forget(key)
        raise
    except SQLAlchemyError as exc:
        db().rollback()
        if is_outage(exc) and age is not None and age < STALE_S:
            return Access.PUBLIC, True, False
        raise
    if access is not Access.PUBLIC:
        public_keys.forget(key)
    return access, False, True


def found_public_lately(app_services: Services, key: str) -> bool:
    """Whether key was found public (and its file there) less than PUBLIC_FOR_S ago: the media route then
    answers without asking the database or the store again, and so may the fast path before Flask."""
    age = _public_keys(app_services).age(key)
    return age is not None and age < PUBLIC_FOR_S


def _public_keys(app_services: Services) -> PublicKeys:
    found = app_services.caches.get("public_media")
    if isinstance(found, PublicKeys):
        return found
    # setdefault: two threads starting at once keep the same memory.
    kept = app_services.caches.setdefault("public_media", PublicKeys())
    return kept if isinstance(kept, PublicKeys) else PublicKeys()


def _check_access(where: MediaKey) -> Access:
    """Originals, and the files of episodes listeners cannot see yet, are for the show's team only; a private
    show's other files are for its subscribers and its team. Raises NotFound or Forbidden for anyone else."""
    show = db().get(Show, where.show_id)
    if show is None:
        # A deleted show's files are gone.
        raise NotFound("There is no such media file.")
    if where.episode_id is None:
        # Show files (covers) go wherever the show's feed goes.
        return check_listener(show)
    if where.kind != "original":
        episode = db().get(Episode, where.episode_id)
        if episode is not None and episode.show_id == where.show_id and episode.is_public_at(utcnow()):
            return check_listener(show)
    if not is_member(show):
        # A stranger learns nothing: no show named, the same answer as for a file that does not exist.
        raise NotFound("There is no such media file.")
    return Access.TEAM


def check_listener(show: Show) -> Access:
    """PUBLIC for a public show's listener. A private show's files are for the holder of a current token of
    this show (`?token=`, checked against the database on every request, so a revoked one stops at once)
    and for the show's team: 404 without a token or with one that is not this show's, as for a file that does
    not exist; 403 with a revoked token of this show."""
    if not show.is_private:
        return Access.PUBLIC
    subscriber = token_holder(show.id)
    if subscriber is not None and subscriber.revoked_at is None:
        # Counted per subscriber in the analytics.
        g.subscriber_id = subscriber.id
        return Access.LISTENERS
    if is_member(show):
        return Access.LISTENERS
    if subscriber is not None:
        # Only to whoever holds a revoked token of this show: any other token learns nothing (404).
        raise Forbidden("This link does not open this file any more.")
    raise NotFound("There is no such media file.")


def token_holder(show_id: int) -> Subscriber | None:
    """The subscriber of this show whose token the request carries (`?token=`), revoked or not, checked
    against the database; a current one's network is noted for shared addresses (sharing.py). Feeds, media
    and chapters each answer the others in their own way."""
    subscriber = subscribers.subscriber_for_token(db(), show_id, request.args.get("token", ""))
    if subscriber is not None and subscriber.revoked_at is None:
        services().sharing.note(db(), subscriber, request.remote_addr or "", utcnow())
    return subscriber


def is_member(show: Show) -> bool:
    """Whether the dashboard session's user has a role on the show. Without a session cookie the session is
    not read at all: reading it adds `Vary: Cookie` to the answer, which would tell a stranger's 404 from a
    private show apart from a 404 from no show (see vary_on_session_cookie)."""
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return False
    user = session_user()
    return user is not None and accounts.role_on(db(), user, show) is not None


def _drop_ranges_served_whole() -> None:
    """Answer 200 with the whole file, as an object store does, where a range would be refused or wrong.

    Several ranges in one request ("bytes=0-9,20-29") would need a multipart answer, which is not made here;
    and a weak If-Range validator never matches (RFC 9110, 13.1.5), so the whole file is sent.
    """
    environ = request.environ
    if "," in environ.get("HTTP_RANGE", "") or environ.get("HTTP_IF_RANGE", "").lstrip().startswith("W/"):
        environ.pop("HTTP_RANGE", None)
        environ.pop("HTTP_IF_RANGE", None)


def served_headers(key: str, where: MediaKey, private: bool) -> dict[str, str]:
    """Type, caching and disposition of one file: decided here, whatever the file's name or stored type."""
    headers = {
        "Content-Type": served_type(key),
        "Cache-Control": PRIVATE_CACHING if private else f"public, max-age={PUBLIC_MAX_AGE_S}",
    }
    if where.kind == "original":
        headers["Content-Disposition"] = f'attachment; filename="{original_download_name(key)}"'
    return headers
