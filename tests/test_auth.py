"""Dashboard sign-in (SPEC §5, §6): login and logout, CSRF on every form, failed logins throttled."""

from __future__ import annotations

import pytest
from browser import PASSWORD, add_user, csrf_from, dashboard_app, sign_in

from podcast_host.services import Services
from podcast_host.web.auth import MAX_FAILURES, LoginThrottle


@pytest.fixture
def app(services: Services):  # type: ignore[no-untyped-def]
    return dashboard_app(services)


@pytest.fixture
def producer(services: Services) -> str:
    add_user(services, "producer@example.com")
    return "producer@example.com"


def _login_token(client) -> str:  # type: ignore[no-untyped-def]
    return csrf_from(client.get("/login").get_data(as_text=True))


def test_the_dashboard_sends_visitors_to_the_login_page(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/admin/shows/daily/settings")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/shows/daily/settings"


def test_a_producer_signs_in_and_lands_on_the_page_asked_for(client, producer: str) -> None:  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/login?next=/admin/").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"email": "Producer@Example.com ", "password": PASSWORD, "csrf_token": token, "next": "/admin/"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert "producer@example.com" in client.get("/admin/").get_data(as_text=True)


def test_the_session_cookie_is_http_only_and_same_site(client, producer: str) -> None:  # type: ignore[no-untyped-def]
    token = _login_token(client)
    response = client.post("/login", data={"email": producer, "password": PASSWORD, "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_wrong_password_is_refused_with_the_form_again(client, producer: str) -> None:  # type: ignore[no-untyped-def]
    token = _login_token(client)
    response = client.post("/login", data={"email": producer, "password": "wrong", "csrf_token": token})
    assert response.status_code == 401
    assert "The email or the password is wrong." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_after_login_only_local_addresses_are_followed(client, producer: str) -> None:  # type: ignore[no-untyped-def]
    hostile = ("https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/evil")
    for target in hostile:
        token = _login_token(client)
        response = client.post(
            "/login", data={"email": producer, "password": PASSWORD, "csrf_token": token, "next": target}
        )
        assert response.headers["Location"] == "/admin/"
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/admin/").get_data(as_text=True))})


def test_a_login_form_without_its_token_is_refused(client, producer: str) -> None:  # type: ignore[no-untyped-def]
    client.get("/login")
    response = client.post(
        "/login", data={"email": producer, "password": PASSWORD}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_a_token_from_another_session_is_refused(app, producer: str) -> None:  # type: ignore[no-untyped-def]
    theirs = _login_token(app.test_client())
    mine = app.test_client()
    _login_token(mine)
    response = mine.post("/login", data={"email": producer, "password": PASSWORD, "csrf_token": theirs})
    assert response.status_code == 400


def test_repeated_failures_are_throttled_per_email_and_address(client, producer: str) -> None:  # type: ignore[no-untyped-def]
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


def test_a_successful_login_clears_the_failures(client, producer: str) -> None:  # type: ignore[no-untyped-def]
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
    assert key not in throttle._failures  # expired keys are dropped, so memory stays bounded


def test_logout_clears_the_session(client, producer: str) -> None:  # type: ignore[no-untyped-def]
    token = sign_in(client, producer)
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "You are signed out." in client.get("/login").get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_logout_is_post_only_and_needs_the_token(client, producer: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, producer)
    assert client.get("/logout").status_code != 200  # a link or an image cannot sign anyone out
    assert client.post("/logout").status_code == 400
    assert client.get("/admin/").status_code == 200


def test_a_new_password_ends_older_sessions(client, services: Services, producer: str) -> None:  # type: ignore[no-untyped-def]
    from werkzeug.security import generate_password_hash

    from podcast_host import accounts

    sign_in(client, producer)
    with services.db.session() as session:
        accounts.get_user(session, producer).password_hash = generate_password_hash("another long password")
        session.commit()
    assert client.get("/admin/").status_code == 302


def test_a_signed_in_visit_to_the_login_page_goes_to_the_dashboard(client, producer: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, producer)
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
