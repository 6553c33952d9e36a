"""Dashboard sign-in: login and logout, CSRF on every form, failed logins throttled.

See docs/dashboard.md, "Accounts and sessions", "CSRF" and "Failed sign-ins".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from browser import PASSWORD, add_user, csrf_from, dashboard_app, sign_in
from conftest import make_services, prepare_database
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from podcast_host.services import Services
from podcast_host.web.auth import MAX_FAILURES, LoginThrottle


@pytest.fixture
def app(services: Services) -> Flask:
    return dashboard_app(services)


@pytest.fixture
def producer(services: Services) -> str:
    """A producer whose password the app hashed at its own cost: these tests check passwords."""
    add_user(services, "producer@example.com", real_hash=True)
    return "producer@example.com"


@pytest.fixture
def quick_producer(services: Services) -> str:
    """A producer whose password hash is quick to check, for the tests about what follows signing in."""
    add_user(services, "producer@example.com")
    return "producer@example.com"


def _login_token(client: FlaskClient) -> str:
    return csrf_from(client.get("/login").get_data(as_text=True))


def test_the_dashboard_sends_visitors_to_the_login_page(client: FlaskClient) -> None:
    response = client.get("/admin/shows/daily/settings")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/shows/daily/settings"


@pytest.mark.postgres
def test_a_producer_signs_in_and_lands_on_the_page_asked_for(client: FlaskClient, producer: str) -> None:
    token = csrf_from(client.get("/login?next=/admin/").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"email": "Producer@Example.com ", "password": PASSWORD, "csrf_token": token, "next": "/admin/"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert "producer@example.com" in client.get("/admin/").get_data(as_text=True)


def test_the_session_cookie_is_http_only_and_same_site(client: FlaskClient, quick_producer: str) -> None:
    token = _login_token(client)
    response = client.post(
        "/login", data={"email": quick_producer, "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_wrong_password_is_refused_with_the_form_again(client: FlaskClient, producer: str) -> None:
    token = _login_token(client)
    response = client.post("/login", data={"email": producer, "password": "wrong", "csrf_token": token})
    assert response.status_code == 401
    assert "The email or the password is wrong." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_after_login_only_local_addresses_are_followed(client: FlaskClient, quick_producer: str) -> None:
    hostile = ("https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/evil")
    for target in hostile:
        token = _login_token(client)
        response = client.post(
            "/login",
            data={"email": quick_producer, "password": PASSWORD, "csrf_token": token, "next": target},
        )
        assert response.headers["Location"] == "/admin/"
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/admin/").get_data(as_text=True))})


def test_a_login_form_without_its_token_is_refused(client: FlaskClient, quick_producer: str) -> None:
    client.get("/login")
    response = client.post(
        "/login", data={"email": quick_producer, "password": PASSWORD}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_a_token_from_another_session_is_refused(app: Flask, quick_producer: str) -> None:
    theirs = _login_token(app.test_client())
    mine = app.test_client()
    _login_token(mine)
    response = mine.post("/login", data={"email": quick_producer, "password": PASSWORD, "csrf_token": theirs})
    assert response.status_code == 400


def test_repeated_failures_are_throttled_per_email_and_address(client: FlaskClient, producer: str) -> None:
    token = _login_token(client)
    for _ in range(MAX_FAILURES):
        response = client.post("/login", data={"email": producer, "password": "guess", "csrf_token": token})
        assert response.status_code == 401
    # Now even the right password waits: the throttle answers before the password is checked.
    response = client.post("/login", data={"email": producer, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    # Another email from the same address is not affected.
    response = client.post("/login", data={"email": "o@example.com", "password": "x", "csrf_token": token})
    assert response.status_code == 401


def test_a_successful_login_clears_the_failures(client: FlaskClient, producer: str) -> None:
    token = _login_token(client)
    for _ in range(MAX_FAILURES - 1):
        client.post("/login", data={"email": producer, "password": "guess", "csrf_token": token})
    response = client.post("/login", data={"email": producer, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_the_throttle_forgets_failures_after_its_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(limit=2, window_s=60, clock=lambda: now[0])
    key = ("a@example.com", "127.0.0.1")
    throttle.fail(key)
    throttle.fail(key)
    assert throttle.retry_after(key) == pytest.approx(60)
    now[0] += 30
    assert throttle.retry_after(key) == pytest.approx(30)
    now[0] += 31
    assert throttle.retry_after(key) == 0
    throttle.fail(("b@example.com", "127.0.0.1"))
    assert len(throttle._failures) == 1  # expired keys are dropped, so memory stays bounded


@pytest.mark.postgres
def test_logout_clears_the_session(client: FlaskClient, quick_producer: str) -> None:
    token = sign_in(client, quick_producer)
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "You are signed out." in client.get("/login").get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_logout_is_post_only_and_needs_the_token(client: FlaskClient, quick_producer: str) -> None:
    sign_in(client, quick_producer)
    assert client.get("/logout").status_code != 200  # a link or an image cannot sign anyone out
    assert client.post("/logout").status_code == 400
    assert client.get("/admin/").status_code == 200


@pytest.mark.postgres
def test_a_new_password_ends_older_sessions(
    client: FlaskClient, services: Services, quick_producer: str
) -> None:
    from podcast_host import accounts

    sign_in(client, quick_producer)
    with services.db.session() as session:
        accounts.set_password(session, accounts.get_user(session, quick_producer), "another long password")
        session.commit()
    assert client.get("/admin/").status_code == 302


def test_a_signed_in_visit_to_the_login_page_goes_to_the_dashboard(
    client: FlaskClient, quick_producer: str
) -> None:
    sign_in(client, quick_producer)
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


# --- where a failure comes from -------------------------------------------------------------------------


def _try(
    client: FlaskClient, email: str, password: str, address: str = "127.0.0.1", **headers: str
) -> TestResponse:
    """One sign-in from `address` (the socket's peer as the server sees it)."""
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": _login_token(client)},
        headers=headers,
        environ_base={"REMOTE_ADDR": address},
    )


@pytest.fixture
def behind_one_proxy(tmp_path: Path, database_url: str, services: Services) -> Iterator[Flask]:
    """The app as deployed behind one reverse proxy, on the same database as `services`."""
    built = make_services(tmp_path / "proxied", database_url=database_url, trusted_proxies=1)
    yield dashboard_app(built)
    built.close()


def test_a_forged_forwarded_for_is_ignored_without_trusted_proxies(
    client: FlaskClient, producer: str
) -> None:
    for n in range(MAX_FAILURES):
        response = _try(client, producer, "guess", **{"X-Forwarded-For": f"198.51.100.{n}"})
        assert response.status_code == 401
    response = _try(client, producer, PASSWORD, **{"X-Forwarded-For": "198.51.100.99"})
    assert response.status_code == 429


def test_behind_a_trusted_proxy_each_client_has_its_own_count(behind_one_proxy: Flask, producer: str) -> None:
    client = behind_one_proxy.test_client()
    proxy = "10.0.0.2"
    for _ in range(MAX_FAILURES):
        response = _try(client, producer, "guess", proxy, **{"X-Forwarded-For": "198.51.100.1"})
        assert response.status_code == 401
    assert _try(client, producer, PASSWORD, proxy, **{"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    # What the client itself put in the header comes first; the proxy's entry, last, is the one trusted.
    forged = {"X-Forwarded-For": "203.0.113.50, 198.51.100.1"}
    assert _try(client, producer, PASSWORD, proxy, **forged).status_code == 429
    # Another client behind the same proxy is not locked out by the first one's guesses.
    assert _try(client, producer, PASSWORD, proxy, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 302


def test_an_ipv6_client_is_counted_by_its_64_block(client: FlaskClient, producer: str) -> None:
    for n in range(MAX_FAILURES):
        assert _try(client, producer, "guess", f"2001:db8:1:2::{n + 1}").status_code == 401
    # Rotating through the addresses of one /64 (one subscriber line) buys no more guesses.
    assert _try(client, producer, PASSWORD, "2001:db8:1:2:ffff:ffff:ffff:fffe").status_code == 429
    assert _try(client, producer, PASSWORD, "2001:db8:1:3::1").status_code == 302


def test_an_account_guessed_at_from_many_addresses_holds_those_addresses(
    app: Flask, client: FlaskClient, producer: str
) -> None:
    # The same rule with a lower account limit than the default's MAX_ACCOUNT_FAILURES, to stay quick.
    app.extensions["login_throttle"] = LoginThrottle(account_limit=4)
    for n in range(4):
        assert _try(client, producer, "guess", f"203.0.113.{n}").status_code == 401
    # Each address failed once only, far below its own limit, but together they reached the account's.
    assert _try(client, producer, PASSWORD, "203.0.113.0").status_code == 429
    # A new address still has its try, so guesses from elsewhere do not lock the producer out...
    assert _try(client, producer, "guess", "198.51.100.7").status_code == 401
    # ...and one try only while the account is under attack.
    assert _try(client, producer, PASSWORD, "198.51.100.7").status_code == 429
    # Other accounts are not affected.
    assert _try(client, "other@example.com", "guess", "203.0.113.0").status_code == 401
    assert _try(client, producer, PASSWORD, "192.0.2.1").status_code == 302


def test_the_account_limit_forgets_after_its_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(limit=5, account_limit=3, window_s=60, clock=lambda: now[0])
    for n in range(3):
        throttle.fail(("a@example.com", f"192.0.2.{n}"))
        now[0] += 10
    assert throttle.retry_after(("a@example.com", "192.0.2.9")) == 0  # never failed: may try
    # Free again when the first failure leaves the window (the account is below its limit then).
    assert throttle.retry_after(("a@example.com", "192.0.2.2")) == pytest.approx(30)
    now[0] += 31
    assert throttle.retry_after(("a@example.com", "192.0.2.2")) == 0


@pytest.mark.slow
@pytest.mark.parametrize("trusted_proxies", [0, 1])
def test_serve_believes_forwarded_for_only_from_trusted_proxies(tmp_path: Path, trusted_proxies: int) -> None:
    """Through the real server: a client that names itself in X-Forwarded-For escapes its count only when
    the operator said a proxy writes that header."""
    from test_serve import Server

    database_url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    prepare_database(database_url)
    server = Server(tmp_path / "instance", database_url, PODCAST_HOST_TRUSTED_PROXIES=str(trusted_proxies))
    server.cli("user", "add", "producer@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    server.start()
    try:
        _, headers, page = server.request("GET", "/login")
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        form = {"email": "producer@example.com", "csrf_token": csrf_from(page.decode())}

        def sign_in_as(client: str, password: str) -> int:
            body = urlencode({**form, "password": password})
            sent = {
                "Cookie": cookie,
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Forwarded-For": client,
            }
            return server.request("POST", "/login", body, sent)[0]

        for _ in range(MAX_FAILURES):
            assert sign_in_as("198.51.100.1", "guess") == 401
        assert sign_in_as("198.51.100.1", PASSWORD) == 429
        expected = 302 if trusted_proxies else 429
        assert sign_in_as("198.51.100.2", PASSWORD) == expected
    finally:
        server.stop()
