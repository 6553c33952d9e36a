"""Sign-in, sessions, tokens and roles against someone who tries: what they must not learn, keep or do."""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser import PASSWORD, add_user, csrf_from, dashboard_app, sign_in
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from helpers import accept_invitation, auth, create_show, user_token
from sqlalchemy import event, select

from podcast_host import accounts, episodes, shows
from podcast_host.cli import main
from podcast_host.errors import Conflict
from podcast_host.models import ApiToken, Membership, Show
from podcast_host.services import Services
from podcast_host.web.auth import LoginThrottle

# Sessions ended, tokens' expiry and limits, roles changed at once: on PostgreSQL too.

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def app(services: Services) -> Flask:
    return dashboard_app(services)


@pytest.fixture
def producer(services: Services) -> str:
    """A producer whose password the app hashed at its own cost: for the tests that check passwords."""
    add_user(services, "producer@example.com", real_hash=True)
    return "producer@example.com"


@pytest.fixture
def quick_producer(services: Services) -> str:
    """A producer whose password hash is quick to check, for the tests about what follows signing in."""
    add_user(services, "producer@example.com")
    return "producer@example.com"


def token_for(services: Services, email: str, **options: Any) -> str:
    with services.db.session() as session:
        _, secret = accounts.create_token(session, accounts.get_user(session, email), "tests", **options)
        session.commit()
    return secret


def login(client: FlaskClient, email: str, password: str) -> Any:
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def signed_in(client: FlaskClient) -> bool:
    return client.get("/admin/").status_code == 200


# --- the sign-in form -----------------------------------------------------------------------------------


def test_an_overlong_email_or_password_is_refused_and_nothing_is_kept(
    app: Flask, client: FlaskClient, quick_producer: str
) -> None:
    throttle: LoginThrottle = app.extensions["login_throttle"]
    for email, password in (("a" * 10_000 + "@example.com", "guess"), (quick_producer, "p" * 5_000)):
        response = login(client, email, password)
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert "at most 320 characters" in page and "a" * 400 not in page
    assert len(throttle._failures) == 0
    assert login(client, quick_producer, PASSWORD).status_code == 302


def test_the_throttle_keeps_a_bounded_number_of_fixed_size_keys() -> None:
    throttle = LoginThrottle(limit=1, max_keys=100)
    keys = [("x" * 1_000 + f"{n}@example.com", "203.0.113.9") for n in range(1_000)]
    for key in keys:
        throttle.fail(key)
    assert len(throttle._failures) == 100
    assert all(isinstance(stored, bytes) and len(stored) == 32 for stored in throttle._failures)
    # The newest keys stay throttled; the oldest were let go to make room.
    assert throttle.retry_after(keys[-1]) > 0
    assert throttle.retry_after(keys[0]) == 0


def test_an_unknown_email_takes_as_long_to_refuse_as_a_wrong_password(
    client: FlaskClient, services: Services, producer: str
) -> None:
    with services.db.session() as session:
        accounts.create_user(session, "token-only@example.com", None)
        session.commit()

    def seconds(email: str) -> float:
        start = time.perf_counter()
        assert login(client, email, "wrong guess").status_code == 401
        return time.perf_counter() - start

    # Three tries each stay under the throttle's five per email and address; taken in turns, so that a busy
    # machine (the other test worker) slows every email alike.
    emails = (producer, "nobody@example.com", "token-only@example.com")
    times: dict[str, list[float]] = {email: [] for email in emails}
    for _ in range(3):
        for email in emails:
            times[email].append(seconds(email))
    known = statistics.median(times[producer])
    for email in emails[1:]:
        assert statistics.median(times[email]) >= 0.5 * known, email


# --- sessions -------------------------------------------------------------------------------------------


def test_a_copied_session_cookie_is_refused_after_logout(app: Flask, quick_producer: str) -> None:
    browser = app.test_client()
    csrf = sign_in(browser, quick_producer)
    copied = browser.get_cookie("session")
    assert copied is not None
    thief = app.test_client()
    thief.set_cookie("session", copied.value)
    assert signed_in(thief)

    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert not signed_in(thief)
    assert not signed_in(browser)
    assert login(browser, quick_producer, PASSWORD).status_code == 302  # signing in again works
    assert signed_in(browser)


def test_logout_ends_every_session_of_the_user(app: Flask, quick_producer: str) -> None:
    laptop, phone = app.test_client(), app.test_client()
    csrf = sign_in(laptop, quick_producer)
    sign_in(phone, quick_producer)
    laptop.post("/logout", data={"csrf_token": csrf})
    assert not signed_in(phone)


def test_a_password_change_ends_every_session(app: Flask, services: Services, quick_producer: str) -> None:
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, quick_producer)
    sign_in(phone, quick_producer)
    token = token_for(services, quick_producer)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    changed = app.test_client().post("/api/v1/me/password", headers=auth(token), json=body)
    assert changed.status_code == 204, changed.get_json()
    assert not signed_in(laptop) and not signed_in(phone)
    assert login(laptop, quick_producer, PASSWORD).status_code == 401
    assert login(laptop, quick_producer, NEW_PASSWORD).status_code == 302
    # The API token keeps working: it is revoked on its own (DELETE /api/v1/tokens/<id>).
    assert app.test_client().get("/api/v1/tokens", headers=auth(token)).status_code == 200


def test_a_password_change_needs_the_current_password(app: Flask, services: Services, producer: str) -> None:
    client = app.test_client()
    headers = auth(token_for(services, producer))
    url = "/api/v1/me/password"
    wrong = client.post(url, headers=headers, json={"current_password": "nope", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 403 and wrong.get_json()["error"]["code"] == "forbidden"
    short = client.post(url, headers=headers, json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and short.get_json()["error"]["field"] == "new_password"
    long = {"current_password": PASSWORD, "new_password": "p" * 1_025}
    assert client.post(url, headers=headers, json=long).status_code == 422
    # Guessing the current password through the API is throttled like the sign-in form.
    for _ in range(4):
        client.post(url, headers=headers, json={"current_password": "nope", "new_password": NEW_PASSWORD})
    throttled = client.post(
        url, headers=headers, json={"current_password": PASSWORD, "new_password": "x" * 9}
    )
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    with services.db.session() as session:
        assert accounts.authenticate(session, producer, PASSWORD)  # the password is unchanged


def test_a_user_without_a_password_cannot_set_one_with_a_token(app: Flask, services: Services) -> None:
    token = user_token(services, "token-only@example.com")
    body = {"current_password": "", "new_password": NEW_PASSWORD}
    response = app.test_client().post("/api/v1/me/password", headers=auth(token), json=body)
    assert response.status_code == 403
    assert "podcast-host user password" in response.get_json()["error"]["message"]


@pytest.fixture
def runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, services: Services
) -> CliRunner:
    """The command line on the same database as `services`."""
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("PODCAST_HOST_DATABASE_URL", database_url)
    return CliRunner()


def test_the_operator_sets_a_password_and_every_session_ends(
    app: Flask, runner: CliRunner, quick_producer: str
) -> None:
    browser = app.test_client()
    sign_in(browser, quick_producer)
    result = runner.invoke(
        main, ["user", "password", quick_producer, "--password-stdin"], input=NEW_PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert not signed_in(browser)
    assert login(browser, quick_producer, NEW_PASSWORD).status_code == 302
    short = runner.invoke(main, ["user", "password", quick_producer, "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 8 characters" in short.stderr
    unknown = runner.invoke(
        main, ["user", "password", "nobody@example.com", "--password-stdin"], input="x" * 9
    )
    assert unknown.exit_code != 0 and "no user" in unknown.stderr


# --- members --------------------------------------------------------------------------------------------


def test_adding_a_member_answers_alike_whether_or_not_the_email_has_an_account(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    create_show(client, admin_token)
    user_token(services, "bob@example.com")
    user_token(services, "carol@example.com")
    members = "/api/v1/shows/daily/members"
    known = client.post(
        members, headers=auth(admin_token), json={"email": "Bob@example.com", "role": "editor"}
    )
    unknown = client.post(
        members, headers=auth(admin_token), json={"email": "Nobody@example.com", "role": "editor"}
    )
    assert known.status_code == unknown.status_code == 202
    known_body, unknown_body = known.get_json(), unknown.get_json()
    for body in (known_body, unknown_body):
        assert body.pop("accept_url").startswith(f"{services.settings.public_url}/admin/invitations/")
    assert known_body == {"email": "bob@example.com", "role": "editor", "status": "invited"}
    assert unknown_body == {"email": "nobody@example.com", "role": "editor", "status": "invited"}
    # Nor does the list of members tell: neither address has a role until it accepts.
    listing = client.get(members, headers=auth(admin_token)).get_json()["members"]
    assert [m["email"] for m in listing] == ["admin@example.com"]
    # Taking a role away from an address without an account or without a role reads the same too.
    for email in ("nobody@example.com", "carol@example.com"):
        removed = client.delete(f"{members}/{email}", headers=auth(admin_token))
        assert removed.status_code == 404
        assert removed.get_json()["error"]["message"] == f"{email} has no role on 'daily'."


@pytest.mark.postgres
@pytest.mark.parametrize("change", ["remove", "demote"])
def test_two_owners_taking_each_others_role_at_once_leave_one_owner(services: Services, change: str) -> None:
    """Each of two owners takes the other's ownership away at the same moment: one of them is refused."""
    for email in ("alice@example.com", "bob@example.com"):
        add_user(services, email)
    for round_number in range(3):
        slug = f"duo-{round_number}"
        with services.db.session() as session:
            alice, bob = (accounts.get_user(session, f"{who}@example.com") for who in ("alice", "bob"))
            show = shows.create_show(
                session, services.settings.public_url, {"slug": slug, "title": "Duo"}, alice
            )
            accounts.grant(session, show, bob, "owner")
            session.commit()
        outcomes = _take_ownership_away_at_once(services, slug, change)
        with services.db.session() as session:
            owners = session.scalars(
                select(Membership).join(Show).where(Show.slug == slug, Membership.role == "owner")
            ).all()
        assert sorted(outcomes) == ["done", "refused"], (round_number, outcomes)
        assert len(owners) == 1, round_number


def _take_ownership_away_at_once(services: Services, slug: str, change: str) -> list[str]:
    """Alice and Bob, each in a thread and a session of their own, take away the other's ownership."""
    # Without a lock both check "another owner remains" before either writes: they meet here, at the
    # write. With the lock the second waits for the first to commit and never gets here in time.
    at_the_write = threading.Barrier(2, timeout=0.5)
    outcomes: list[str] = []

    def meet(*_: Any) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            at_the_write.wait()

    def take_away(email: str) -> None:
        with services.db.session() as session:
            event.listen(session, "before_flush", meet)
            show = shows.find_show(session, slug)
            try:
                if change == "remove":
                    accounts.remove_member(session, show, email)
                else:
                    accounts.grant(session, show, accounts.get_user(session, email), "viewer")
                session.commit()
                outcomes.append("done")
            except Conflict:
                session.rollback()
                outcomes.append("refused")

    threads = [
        threading.Thread(target=take_away, args=(e,)) for e in ("bob@example.com", "alice@example.com")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


# --- episodes of other shows ----------------------------------------------------------------------------


def test_an_episode_of_a_show_you_cannot_see_is_as_missing_as_one_that_never_was(
    client: FlaskClient, services: Services, sample_mp3: Path
) -> None:
    alice, bob = user_token(services, "alice@example.com"), user_token(services, "bob@example.com")
    create_show(client, alice, "secret-plans")
    with services.db.session() as session:
        upload = episodes.Upload(path=sample_mp3, filename=sample_mp3.name)
        show = shows.find_show(session, "secret-plans")
        episode_id = episodes.create_episode(
            services, session, show, upload, {"title": "Draft", "draft": "true"}, enqueue=False
        ).id
    missing = client.get(f"/api/v1/episodes/{episode_id + 1000}", headers=auth(bob)).get_json()
    for method in ("GET", "PATCH", "DELETE"):
        response = client.open(f"/api/v1/episodes/{episode_id}", method=method, headers=auth(bob), json={})
        assert response.status_code == 404, method
        assert "secret-plans" not in response.get_data(as_text=True)
        assert response.get_json()["error"]["message"] == f"There is no episode {episode_id}."
    assert missing["error"]["message"] == f"There is no episode {episode_id + 1000}."
    publish = client.post(f"/api/v1/episodes/{episode_id}/publish", headers=auth(bob))
    assert publish.status_code == 404
    # Someone who may see the show but not change it still hears why: 403.
    grant = {"email": "bob@example.com", "role": "viewer"}
    invited = client.post("/api/v1/shows/secret-plans/members", headers=auth(alice), json=grant)
    accept_invitation(services, invited.get_json()["accept_url"], "bob@example.com")
    assert client.get(f"/api/v1/episodes/{episode_id}", headers=auth(bob)).status_code == 200
    assert client.delete(f"/api/v1/episodes/{episode_id}", headers=auth(bob)).status_code == 403


# --- API tokens -----------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_token_may_expire(client: FlaskClient, services: Services, admin_token: str) -> None:
    created = client.post(
        "/api/v1/tokens", headers=auth(admin_token), json={"name": "ci", "expires_in_days": 7}
    )
    assert created.status_code == 201
    token = created.get_json()
    expires_at = datetime.fromisoformat(token["expires_at"])
    assert timedelta(days=6, hours=23) < expires_at - datetime.now(UTC) <= timedelta(days=7)
    assert token["read_only"] is False and token["last_used_at"] is None
    assert client.get("/api/v1/shows", headers=auth(token["token"])).status_code == 200

    with services.db.session() as session:
        session.get(ApiToken, token["id"]).expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    expired = client.get("/api/v1/shows", headers=auth(token["token"]))
    assert expired.status_code == 401 and "expired" in expired.get_json()["error"]["message"]
    assert expired.headers["WWW-Authenticate"].startswith("Bearer")
    listing = client.get("/api/v1/tokens", headers=auth(admin_token)).get_json()["tokens"]
    assert [t["expires_at"] is not None for t in listing] == [False, True]


def test_a_read_only_token_only_reads(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    created = client.post("/api/v1/tokens", headers=auth(admin_token), json={"read_only": True})
    assert created.status_code == 201 and created.get_json()["read_only"] is True
    reader = auth(created.get_json()["token"])
    assert client.get("/api/v1/shows/daily", headers=reader).status_code == 200
    assert client.head("/api/v1/shows/daily", headers=reader).status_code == 200
    writes = [
        ("PATCH", "/api/v1/shows/daily", {"title": "Changed"}),
        ("POST", "/api/v1/shows", {"slug": "other", "title": "Other"}),
        ("POST", "/api/v1/tokens", {"name": "wider"}),
        ("DELETE", f"/api/v1/tokens/{created.get_json()['id']}", None),
        ("POST", "/api/v1/shows/daily/members", {"email": "x@example.com", "role": "owner"}),
        ("POST", "/api/v1/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ("DELETE", "/api/v1/shows/daily", None),
    ]
    for method, path, body in writes:
        response = client.open(path, method=method, headers=reader, json=body)
        assert response.status_code == 403, (method, path)
        assert "read-only" in response.get_json()["error"]["message"]
    assert client.get("/api/v1/shows/daily", headers=auth(admin_token)).get_json()["title"] != "Changed"


def test_token_options_are_checked(client: FlaskClient, admin_token: str) -> None:
    for body in (
        {"expires_in_days": 0},
        {"expires_in_days": 100_000},
        {"expires_in_days": True},
        {"read_only": 1},
    ):
        response = client.post("/api/v1/tokens", headers=auth(admin_token), json=body)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["field"] == next(iter(body))


def test_the_cli_makes_expiring_and_read_only_tokens(client: FlaskClient, runner: CliRunner) -> None:
    assert runner.invoke(main, ["user", "add", "cli@example.com"]).exit_code == 0
    result = runner.invoke(
        main, ["token", "add", "cli@example.com", "--expires-in-days", "30", "--read-only"]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert "expires" in result.stderr and "read-only" in result.stderr
    (token,) = client.get("/api/v1/tokens", headers=auth(secret)).get_json()["tokens"]
    assert token["read_only"] is True
    assert datetime.fromisoformat(token["expires_at"]) - datetime.now(UTC) > timedelta(days=29)
    assert (
        client.post("/api/v1/shows", headers=auth(secret), json={"slug": "a", "title": "A"}).status_code
        == 403
    )
    refused = runner.invoke(main, ["token", "add", "cli@example.com", "--expires-in-days", "0"])
    assert refused.exit_code != 0


@pytest.mark.postgres
def test_a_token_made_with_an_expiring_token_expires_no_later(client: FlaskClient, admin_token: str) -> None:
    weekly = client.post("/api/v1/tokens", headers=auth(admin_token), json={"expires_in_days": 7})
    parent = weekly.get_json()
    parent_expiry = datetime.fromisoformat(parent["expires_at"])
    for body in ({}, {"name": "forever"}, {"expires_in_days": 3650}):
        child = client.post("/api/v1/tokens", headers=auth(parent["token"]), json=body)
        assert child.status_code == 201, body
        expires_at = child.get_json()["expires_at"]
        assert expires_at is not None and datetime.fromisoformat(expires_at) <= parent_expiry, body
    # A shorter life than the calling token's is kept as asked.
    shorter = client.post("/api/v1/tokens", headers=auth(parent["token"]), json={"expires_in_days": 1})
    assert datetime.fromisoformat(shorter.get_json()["expires_at"]) < parent_expiry - timedelta(days=5)
    # A token that never expires may still make one that never expires.
    lasting = client.post("/api/v1/tokens", headers=auth(admin_token), json={})
    assert lasting.get_json()["expires_at"] is None


def test_a_token_made_with_a_read_only_token_is_read_only(services: Services) -> None:
    with services.db.session() as session:
        user = accounts.create_user(session, "reader@example.com", None)
        reader, _ = accounts.create_token(session, user, "reader", read_only=True)
        child, _ = accounts.create_token(session, user, "child", made_with=reader)
        assert child.read_only is True


def test_a_user_has_a_bounded_number_of_tokens(
    client: FlaskClient, services: Services, admin_token: str
) -> None:
    with services.db.session() as session:
        admin = accounts.get_user(session, "admin@example.com")
        for n in range(accounts.MAX_TOKENS_PER_USER - 1):  # the fixture's token is the first
            accounts.create_token(session, admin, f"t{n}")
        session.commit()
    refused = client.post("/api/v1/tokens", headers=auth(admin_token), json={"name": "one more"})
    assert refused.status_code == 409
    message = refused.get_json()["error"]["message"]
    assert str(accounts.MAX_TOKENS_PER_USER) in message and "revoke" in message
    listing = client.get("/api/v1/tokens", headers=auth(admin_token)).get_json()["tokens"]
    assert len(listing) == accounts.MAX_TOKENS_PER_USER
    # Revoking one makes room again.
    assert client.delete(f"/api/v1/tokens/{listing[-1]['id']}", headers=auth(admin_token)).status_code == 204
    assert client.post("/api/v1/tokens", headers=auth(admin_token), json={}).status_code == 201
