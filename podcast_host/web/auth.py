"""Dashboard sign-in: login and logout, the session's user, CSRF tokens and the failed-login throttle."""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as browser_session
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import BadRequest

from podcast_host import accounts
from podcast_host.errors import NotAuthenticated
from podcast_host.models import User
from podcast_host.web.context import db

bp = Blueprint("auth", __name__)

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A signed-in session ends after this long even if its cookie is kept (the cookie itself lives until the
# browser closes); the password fingerprint below ends it at once when the password changes.
SESSION_MAX_AGE_S = 14 * 24 * 3600
# Failed sign-ins allowed per (email, client address) in a sliding window, counted in this process's memory.
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60


class LoginThrottle:
    """Counts failed sign-ins per key in a sliding window; thread-safe, in memory, per process."""

    def __init__(
        self,
        limit: int = MAX_FAILURES,
        window_s: float = FAILURE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._swept_at = clock()

    def retry_after(self, key: tuple[str, str]) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        with self._lock:
            times = self._recent(key)
            if len(times) < self.limit:
                return 0.0
            return max(times[0] + self.window_s - self.clock(), 0.0)

    def fail(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._forget_expired()
            self._failures.setdefault(key, deque()).append(self.clock())

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= self.clock() - self.window_s:
            times.popleft()
        return times

    def _forget_expired(self) -> None:
        """Drop keys whose failures are all older than the window (at most once a minute), so memory stays
        bounded by recent traffic."""
        if self.clock() - self._swept_at < 60:
            return
        self._swept_at = self.clock()
        for key in [k for k in self._failures if not self._recent(k)]:
            del self._failures[key]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    state.app.extensions.setdefault("login_throttle", LoginThrottle())


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "session_user": session_user}


# --- the session's user ---------------------------------------------------------------------------------


def session_user() -> User | None:
    """The user signed in in this browser session, or None (also when the session is too old)."""
    if "session_user" not in g:
        g.session_user = _user_from_session()
    return g.session_user


def _user_from_session() -> User | None:
    user_id, since = browser_session.get("user_id"), browser_session.get("since")
    if not isinstance(user_id, int) or not isinstance(since, int | float):
        return None
    if time.time() - since > SESSION_MAX_AGE_S:
        return None
    user = db().get(User, user_id)
    if user is None or browser_session.get("password") != _password_fingerprint(user):
        return None
    return user


def _password_fingerprint(user: User) -> str:
    """Changes with the password, so a new password signs out every other browser."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def _start_session(user: User) -> None:
    browser_session.clear()
    browser_session["user_id"] = user.id
    browser_session["since"] = int(time.time())
    browser_session["password"] = _password_fingerprint(user)
    g.session_user = user


# --- CSRF -----------------------------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's CSRF token, made on first use; every form and script request sends it back."""
    token = browser_session.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        token = browser_session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse (400) a state-changing request whose token is missing or differs from the session's."""
    if request.method in SAFE_METHODS:
        return
    expected = browser_session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    if not isinstance(expected, str) or not secrets.compare_digest(expected.encode(), sent.encode()):
        raise BadRequest("The form's security token is missing or out of date. Reload the page, try again.")


bp.before_request(check_csrf)


# --- views ----------------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    if request.method == "GET":
        if session_user() is not None:
            return redirect(_next_url())
        return render_template("login.html", next=_next_url(), email="")
    email = request.form.get("email", "").strip().lower()
    key = (email, request.remote_addr or "")
    throttle: LoginThrottle = current_app.extensions["login_throttle"]
    wait = throttle.retry_after(key)
    if wait:
        return _refused(email, wait)
    try:
        user = accounts.authenticate(db(), email, request.form.get("password", ""))
    except NotAuthenticated as exc:
        throttle.fail(key)
        return render_template("login.html", next=_next_url(), email=email, error=str(exc)), 401
    throttle.clear(key)
    _start_session(user)
    return redirect(_next_url())


@bp.post("/logout")
def logout() -> Response:
    browser_session.clear()
    g.pop("session_user", None)
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


def _refused(email: str, wait_s: float) -> tuple[str, int, dict[str, str]]:
    minutes = max(math.ceil(wait_s / 60), 1)
    message = (
        f"Too many failed sign-ins for this email from your address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )
    page = render_template("login.html", next=_next_url(), email=email, error=message)
    return page, 429, {"Retry-After": str(math.ceil(wait_s))}


def _next_url() -> str:
    """Where to go after signing in: a path on this site only, never another host."""
    target = request.values.get("next", "")
    # Browsers drop tabs and newlines and read "\\" as "/", so "/\t/evil.example" would leave the site.
    if any(ord(ch) <= 0x20 or ch == "\\" for ch in target):
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.scheme and not parts.netloc:
        return target
    return url_for("dashboard.index")
