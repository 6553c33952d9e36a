"""Dashboard sign-in: login and logout, the session's user, CSRF tokens and the failed-login throttle."""

from __future__ import annotations

import bisect
import hashlib
import math
import secrets
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
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
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response as BaseResponse

from podcast_host import accounts
from podcast_host.analytics.rules import address_group
from podcast_host.errors import NotAuthenticated
from podcast_host.models import User
from podcast_host.web.context import db
from podcast_host.web.errors import status_of

bp = Blueprint("auth", __name__)

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A signed-in session ends after this long even if its cookie is kept (the cookie itself lives until the
# browser closes); the user's session generation below ends it at once on logout or a new password.
SESSION_MAX_AGE_S = 14 * 24 * 3600
# Failed sign-ins allowed per (email, client address) in a sliding window, counted in this process's memory.
# An IPv6 client counts by its /64, the block one subscriber line usually gets whole.
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
# Failed sign-ins for one email from all addresses together in the window: beyond, an address that has
# already failed on that email waits too, while an address that has not may still try once. Guessing from
# many addresses then gets one try per address, and the producer is not locked out (docs/dashboard.md).
MAX_ACCOUNT_FAILURES = 50
# At most this many (email, address) pairs, and as many emails, are remembered (docs/dashboard.md gives
# the memory this holds); the keys whose last failure is the oldest are let go first.
MAX_THROTTLE_KEYS = 10_000


class FailureLog:
    """Times of recent failures per key, in a sliding window, for at most `max_keys` keys; not locked.

    Keys are kept as their SHA-256 digest, so what a client types never decides how much memory it holds,
    and the times as an array of floats (8 bytes each), at most `limit` per key.
    """

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float], max_keys: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        self.times: OrderedDict[bytes, array[float]] = OrderedDict()
        self._swept_at = clock()

    def recent(self, digest: bytes) -> array[float]:
        """The key's failures inside the window, oldest first."""
        times = self.times.get(digest)
        if times is None:
            return array("d")
        del times[: bisect.bisect_right(times, self.clock() - self.window_s)]
        return times

    def add(self, digest: bytes) -> None:
        self._forget_expired()
        times = self.times.get(digest)
        if times is None:
            while len(self.times) >= self.max_keys:
                self.times.popitem(last=False)
            times = self.times[digest] = array("d")
        self.times.move_to_end(digest)
        times.append(self.clock())
        del times[: -self.limit]

    def _forget_expired(self) -> None:
        """Drop keys whose failures are all older than the window (at most once a minute), so memory stays
        bounded by recent traffic."""
        if self.clock() - self._swept_at < 60:
            return
        self._swept_at = self.clock()
        for digest in [d for d in self.times if not self.recent(d)]:
            del self.times[digest]


class LoginThrottle:
    """Counts failed sign-ins per (email, address) and per email; thread-safe, in memory, per process."""

    def __init__(
        self,
        limit: int = MAX_FAILURES,
        window_s: float = FAILURE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_THROTTLE_KEYS,
        account_limit: int = MAX_ACCOUNT_FAILURES,
    ) -> None:
        self.limit = limit
        self.account_limit = account_limit
        self.window_s = window_s
        self.clock = clock
        self._pairs = FailureLog(limit, window_s, clock, max_keys)
        self._accounts = FailureLog(account_limit, window_s, clock, max_keys)
        self._lock = threading.Lock()

    @property
    def _failures(self) -> OrderedDict[bytes, array[float]]:
        """The (email, address) table, for tests that look at what is kept."""
        return self._pairs.times

    def retry_after(self, key: tuple[str, str]) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        with self._lock:
            now = self.clock()
            pair = self._pairs.recent(_digest(key))
            if not pair:
                return 0.0
            free_at = pair[0] + self.window_s if len(pair) >= self.limit else now
            account = self._accounts.recent(_account_digest(key))
            if len(account) >= self.account_limit:
                # Free when this address's failures are all old, or the account falls below its limit.
                free_at = max(free_at, min(pair[-1], account[0]) + self.window_s)
            return max(free_at - now, 0.0)

    def fail(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._pairs.add(_digest(key))
            self._accounts.add(_account_digest(key))

    def clear(self, key: tuple[str, str]) -> None:
        """Forget this address's failures after a success. The account's count stays: someone guessing
        from elsewhere is not stopped by the producer signing in."""
        with self._lock:
            self._pairs.times.pop(_digest(key), None)


def _digest(key: tuple[str, str]) -> bytes:
    email, address = key
    return hashlib.sha256(f"{email}\0{address}".encode("utf-8", "surrogatepass")).digest()


def _account_digest(key: tuple[str, str]) -> bytes:
    return hashlib.sha256(key[0].encode("utf-8", "surrogatepass")).digest()


@bp.after_request
def _private_sign_in(response: BaseResponse) -> BaseResponse:
    """The login page may carry a one-time link in its `next` (an invitation sent to someone signed out):
    it is kept by no cache and named in no Referer, as the link pages themselves are."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    state.app.extensions.setdefault("login_throttle", LoginThrottle())


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    return {"csrf_token": csrf_token, "session_user": session_user}


# --- the session's user ---------------------------------------------------------------------------------


def session_user() -> User | None:
    """The user signed in in this browser session, or None (also when the session is too old)."""
    if "session_user" not in g:
        g.session_user = _user_from_session()
    user: User | None = g.session_user
    return user


def _user_from_session() -> User | None:
    user_id, since = browser_session.get("user_id"), browser_session.get("since")
    generation = browser_session.get("generation")
    if not isinstance(user_id, int) or not isinstance(since, int | float) or not isinstance(generation, int):
        return None
    if time.time() - since > SESSION_MAX_AGE_S:
        return None
    user = db().get(User, user_id)
    # The cookie is only signed, never forgotten by the server: a copy stays valid until the user's
    # generation moves on, which logout and a new password do (accounts.end_sessions).
    if user is None or not user.password_hash or generation != user.session_generation:
        return None
    if user.disabled_at is not None:
        return None
    return user


def start_session(user: User) -> None:
    """Sign `user` in in this browser: a fresh session, with a new CSRF token."""
    browser_session.clear()
    browser_session["user_id"] = user.id
    browser_session["since"] = int(time.time())
    browser_session["generation"] = user.session_generation
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
        message = _("The form's security token is missing or out of date. Reload the page, try again.")
        raise BadRequest(message)


bp.before_request(check_csrf)


# --- views ----------------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int] | tuple[str, int, dict[str, str]] | str:
    if request.method == "GET":
        if session_user() is not None:
            return redirect(_next_url())
        return render_template("login.html", next=_next_url(), email="")
    email = request.form.get("email", "").strip().lower()
    password = request.form.get("password", "")
    if len(email) > accounts.MAX_EMAIL_LENGTH or len(password) > accounts.MAX_PASSWORD_LENGTH:
        # Refused before it is hashed, kept as a throttle key or echoed back into the form.
        message = _(
            "An email has at most %(email)s characters and a password at most %(password)s.",
            email=accounts.MAX_EMAIL_LENGTH,
            password=accounts.MAX_PASSWORD_LENGTH,
        )
        return render_template("login.html", next=_next_url(), email="", error=message), 422
    key = throttle_key(email)
    throttle = login_throttle()
    wait = throttle.retry_after(key)
    if wait:
        return _refused(email, wait)
    try:
        user = accounts.authenticate(db(), email, password)
    except NotAuthenticated as exc:
        throttle.fail(key)
        # The one refusal accounts.authenticate makes, said in the page's language.
        message = _("The email or the password is wrong.")
        return render_template("login.html", next=_next_url(), email=email, error=message), status_of(exc)
    throttle.clear(key)
    if user.disabled_at is not None:
        # Said only to whoever knows the password: a guesser learns nothing about the account.
        message = _("This account is disabled. An administrator of this site can enable it again.")
        return render_template("login.html", next=_next_url(), email=email, error=message), 403
    start_session(user)
    return redirect(_next_url())


def login_throttle() -> LoginThrottle:
    """This process's count of wrong passwords, shared by the sign-in form and the API's password change."""
    throttle: LoginThrottle = current_app.extensions["login_throttle"]
    return throttle


def throttle_key(email: str) -> tuple[str, str]:
    return (email.strip().lower(), address_group(request.remote_addr or ""))


@bp.post("/logout")
def logout() -> BaseResponse:
    user = session_user()
    if user is not None:
        # Ends this session and every copy of its cookie, and the user's other browsers too.
        accounts.end_sessions(db(), user)
        db().commit()
    browser_session.clear()
    g.pop("session_user", None)
    flash(_("You are signed out."))
    return redirect(url_for("auth.login"))


def _refused(email: str, wait_s: float) -> tuple[str, int, dict[str, str]]:
    minutes = max(math.ceil(wait_s / 60), 1)
    message = ngettext(
        "Too many failed sign-ins for this email from your address. Try again in %(num)s minute.",
        "Too many failed sign-ins for this email from your address. Try again in %(num)s minutes.",
        minutes,
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
