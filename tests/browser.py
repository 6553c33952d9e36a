"""Helpers for the dashboard and browser tests: an app with the dashboard, signed-in clients, a live
server (waitress in a thread, worker threads for the jobs) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import share_compiled_templates
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from podcast_host import accounts, create_app
from podcast_host.services import Services
from podcast_host.web import auth, dashboard

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery"


def dashboard_app(services: Services) -> Flask:
    """The app with the login and dashboard blueprints, whether or not web/__init__.py registers them yet."""
    app = create_app(services=services)
    if "auth" not in app.blueprints:
        auth.init_app(app)
    if "dashboard" not in app.blueprints:
        dashboard.init_app(app)
    return share_compiled_templates(app)


# PASSWORD hashed with the app's method (scrypt) at a low cost. The app reads method and cost from the stored
# hash, so signing in with it runs the same code as with a hash the app made, in about a millisecond: a
# check at the app's own cost takes a tenth of a second or more by design (docs/dashboard.md, "Accounts and
# sessions"), and the tests sign in hundreds of times.
QUICK_PASSWORD_HASH = generate_password_hash(PASSWORD, method="scrypt:256:8:1")

# The hash of PASSWORD that the app made for the first user of this process who needed one at its own cost,
# given to the next ones.
_real_password_hash: list[str] = []


def add_user(services: Services, email: str, admin: bool = False, real_hash: bool = False) -> int:
    """A user whose password is PASSWORD; their id. The stored hash is QUICK_PASSWORD_HASH, or with
    `real_hash` one the app made at its own cost: for the tests about checking passwords (wrong ones
    refused, the throttle, the time a refusal takes)."""
    with services.db.session() as session:
        if real_hash and not _real_password_hash:
            user = accounts.create_user(session, email, PASSWORD, admin=admin)
            _real_password_hash.append(user.password_hash or "")
        else:
            user = accounts.create_user(session, email, None, admin=admin)
            user.password_hash = _real_password_hash[0] if real_hash else QUICK_PASSWORD_HASH
        session.commit()
        return user.id


def user_with_token(services: Services, email: str, admin: bool = False) -> str:
    """A user who can sign in (add_user) and an API token for them."""
    add_user(services, email, admin=admin)
    with services.db.session() as session:
        _, secret = accounts.create_token(session, accounts.get_user(session, email), "tests")
        session.commit()
    return secret


def grant(services: Services, show_slug: str, email: str, role: str) -> None:
    from podcast_host import shows

    with services.db.session() as session:
        accounts.grant(session, shows.find_show(session, show_slug), accounts.get_user(session, email), role)
        session.commit()


def csrf_from(html: str) -> str:
    """The CSRF token a dashboard page carries in its meta tag."""
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_from(client.get("/admin/").get_data(as_text=True))


def signed_in(app: Flask, email: str, password: str = PASSWORD) -> FlaskClient:
    """A test client of `app` signed in through the login form; its CSRF token kept as `client.csrf`."""
    client = app.test_client()
    client.csrf = sign_in(client, email, password)
    return client


def post_form(client: FlaskClient, path: str, **data: str) -> TestResponse:
    """POST a dashboard form with the client's CSRF token (the login page's when it has none)."""
    token = getattr(client, "csrf", None) or csrf_from(client.get("/login").get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


# --- a live server --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(services: Services, port: int) -> Iterator[str]:
    """Serve the app with waitress on 127.0.0.1:port and run jobs in worker threads, as `serve` does."""
    import waitress.server

    app = dashboard_app(services)
    limit = services.settings.max_upload_bytes
    server = waitress.server.create_server(
        app, host="127.0.0.1", port=port, threads=4, ident="podcast-host", max_request_body_size=limit
    )
    thread = threading.Thread(target=server.run, name="waitress-test", daemon=True)
    services.queue.start()
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        thread.join(timeout=10)
        services.queue.stop()


# --- Chromium -------------------------------------------------------------------------------------------


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium (apt package `chromium`, installed by `make test`), headless, through Playwright."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium (`make test-deps` "
            "installs it with apt-get)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# The viewports the pages are looked at in: a laptop's window and a phone held upright.
DESKTOP = {"width": 1100, "height": 800}
PHONE = {"width": 390, "height": 844}


@contextmanager
def listener_page(browser: Any, site: str, clipboard: bool = False) -> Iterator[Any]:
    """A listener's desktop page on `site` (a fresh browser context), closed on the way out."""
    context = browser.new_context(viewport=DESKTOP, base_url=site)
    if clipboard:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


def wait_for_metadata(page: Any) -> None:
    """Wait until the page's player (#player) knows its audio's duration; fails on a media error."""
    state = page.evaluate("""() => new Promise((resolve) => {
        const audio = document.getElementById('player');
        if (audio.readyState >= 1) return resolve({readyState: audio.readyState});
        audio.addEventListener('loadedmetadata', () => resolve({readyState: audio.readyState}), {once: true});
        audio.addEventListener('error', () => resolve({error: audio.error.code}), {once: true});
        audio.load();
    })""")
    assert state.get("readyState", 0) >= 1, state


@dataclass
class Screenshots:
    """Keeps full-page screenshots in test-artifacts/screenshots/ and lists them at the end of the run."""

    taken: list[Path]

    def take(self, page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path

    def report(self, config: pytest.Config) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")
        if reporter is None or capture is None or not self.taken:
            return
        # Output capturing is on during fixture teardown; the list should reach the terminal all the same.
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_sep("-", "screenshots kept")
            for path in self.taken:
                reporter.write_line(str(path))
