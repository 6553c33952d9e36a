"""Team and access against someone who tries (docs/dashboard.md, "Team and access"): an address taken before
its owner is invited, links that outlive their maker's rights, stale invitations, the last admins, odd input
and races on the link pages, and how many pending links one may pile up."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from browser import add_user, csrf_from, dashboard_app, grant
from browser import post_form as _post
from browser import signed_in as _signed_in
from flask import Flask
from flask.testing import FlaskClient
from helpers import auth, create_show, user_token
from sqlalchemy import event, inspect, select, text, update
from sqlalchemy.orm import Session, UOWTransaction
from team_helpers import invite, password_link, role_of
from werkzeug.test import TestResponse

from podcast_host import accounts, invitations, shows, user_admin
from podcast_host.db import Database, alembic_config
from podcast_host.errors import Conflict
from podcast_host.invitations import MAX_PENDING_INVITATIONS
from podcast_host.models import ApiToken, Invitation, Membership, PasswordReset, User, utcnow
from podcast_host.services import Services
from podcast_host.user_admin import MAX_PENDING_PASSWORD_LINKS

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def app(services: Services) -> Flask:
    return dashboard_app(services)


def _owner_of(app: Flask, services: Services, email: str, slug: str) -> FlaskClient:
    """A client signed in as `email`, who has just created the show `slug` in the dashboard."""
    add_user(services, email)
    client = _signed_in(app, email)
    show = {"slug": slug, "title": "A show", "language": "en", "email": "t@example.com"}
    assert _post(client, "/admin/shows", **show).status_code == 303
    return client


def _user_id(services: Services, email: str) -> int:
    with services.db.session() as session:
        return accounts.get_user(session, email).id


# --- an address taken through one's own invitation --------------------------------------------------------


def test_an_address_taken_through_ones_own_show_gets_no_role_from_a_real_owner_without_the_link(
    app: Flask, services: Services
) -> None:
    squatter = _owner_of(app, services, "m@example.com", "mine")
    secret = invite(squatter, "mine", "chief@example.org", "viewer")
    taker = app.test_client()
    link = f"/admin/invitations/{secret}"
    taker.csrf = csrf_from(taker.get(link).get_data(as_text=True))
    assert _post(taker, link, password=NEW_PASSWORD, password_again=NEW_PASSWORD).status_code == 303

    # The newsroom's real owner adds the address through the API: nobody gets a role from that alone.
    owner_token = user_token(services, "owner@example.com")
    api = app.test_client()
    create_show(api, owner_token, "daily")
    members = "/api/v1/shows/daily/members"
    added = api.post(members, headers=auth(owner_token), json={"email": "chief@example.org", "role": "owner"})
    assert added.status_code == 202
    accept_url = added.get_json()["accept_url"]
    assert accept_url.startswith(f"{services.settings.public_url}/admin/invitations/")
    assert role_of(services, "chief@example.org", "daily") is None
    listing = api.get(members, headers=auth(owner_token)).get_json()["members"]
    assert [m["email"] for m in listing] == ["owner@example.com"]
    # Whoever holds the account sees the show only through the link the owner hands to the real person.
    assert taker.get("/admin/shows/daily/").status_code == 403

    with services.db.session() as session:
        chief = accounts.get_user(session, "chief@example.org")
        first = session.scalar(
            select(Invitation).where(Invitation.token_hash == accounts.hash_secret(secret))
        )
        assert first is not None
        assert (chief.invited_through, chief.invited_by) == (first.id, _user_id(services, "m@example.com"))
    add_user(services, "root@example.com", admin=True)
    page = _signed_in(app, "root@example.com").get("/admin/users").get_data(as_text=True)
    assert "joined through an invitation from m@example.com" in page


def test_an_existing_account_accepts_the_apis_invitation_through_its_link(
    app: Flask, services: Services
) -> None:
    add_user(services, "ed@example.com")
    owner_token = user_token(services, "owner@example.com")
    api = app.test_client()
    create_show(api, owner_token, "daily")
    body = {"email": "Ed@Example.com", "role": "editor"}
    added = api.post("/api/v1/shows/daily/members", headers=auth(owner_token), json=body)
    path = "/admin/invitations/" + added.get_json()["accept_url"].rsplit("/", 1)[1]
    ed = _signed_in(app, "ed@example.com")
    ed.csrf = csrf_from(ed.get(path).get_data(as_text=True))
    assert role_of(services, "ed@example.com", "daily") is None
    assert _post(ed, path).status_code == 303
    assert role_of(services, "ed@example.com", "daily") == "editor"
    # A member is not invited again: 409, as in the dashboard.
    again = api.post("/api/v1/shows/daily/members", headers=auth(owner_token), json=body)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"


# --- password links and their maker --------------------------------------------------------------------


def _set_password_through(app: Flask, secret: str) -> TestResponse:
    holder = app.test_client()
    holder.csrf = csrf_from(holder.get("/login").get_data(as_text=True))
    return _post(holder, f"/admin/reset/{secret}", password=NEW_PASSWORD, password_again=NEW_PASSWORD)


def test_a_password_link_stops_working_when_its_maker_is_no_admin_any_more(
    app: Flask, services: Services
) -> None:
    for email in ("root@example.com", "deputy@example.com"):
        add_user(services, email, admin=True)
    producer = add_user(services, "producer@example.com")
    secret = password_link(_signed_in(app, "deputy@example.com"), producer)
    with services.db.session() as session:
        session.execute(update(User).where(User.email == "deputy@example.com").values(is_admin=False))
        session.commit()

    opened = app.test_client().get(f"/admin/reset/{secret}")
    assert opened.status_code == 403 and "no longer works" in opened.get_data(as_text=True)
    assert _set_password_through(app, secret).status_code == 403
    _signed_in(app, "producer@example.com")  # the old password still works


def test_disabling_a_user_deletes_the_links_made_by_them_and_for_them(app: Flask, services: Services) -> None:
    for email in ("root@example.com", "deputy@example.com"):
        add_user(services, email, admin=True)
    producer, editor = add_user(services, "producer@example.com"), add_user(services, "editor@example.com")
    root, deputy = _signed_in(app, "root@example.com"), _signed_in(app, "deputy@example.com")
    by_deputy = password_link(deputy, producer)
    for_deputy = password_link(root, _user_id(services, "deputy@example.com"))
    unrelated = password_link(root, editor)
    owner = _owner_of(app, services, "owner@example.com", "daily")
    sent_by_deputy = invite(deputy, "daily", "guest@example.com", "viewer")  # an admin may invite anywhere
    sent_by_owner = invite(owner, "daily", "other@example.com", "viewer")

    assert _post(root, f"/admin/users/{_user_id(services, 'deputy@example.com')}/disable").status_code == 303
    links = app.test_client()
    assert links.get(f"/admin/reset/{by_deputy}").status_code == 404
    assert links.get(f"/admin/reset/{for_deputy}").status_code == 404
    assert links.get(f"/admin/invitations/{sent_by_deputy}").status_code == 404
    assert links.get(f"/admin/reset/{unrelated}").status_code == 200
    assert links.get(f"/admin/invitations/{sent_by_owner}").status_code == 200


def test_admins_see_the_pending_password_links_and_revoke_them(app: Flask, services: Services) -> None:
    for email in ("root@example.com", "deputy@example.com"):
        add_user(services, email, admin=True)
    producer, editor = add_user(services, "producer@example.com"), add_user(services, "editor@example.com")
    root, deputy = _signed_in(app, "root@example.com"), _signed_in(app, "deputy@example.com")
    for_producer = password_link(root, producer)
    password_link(deputy, editor)
    with services.db.session() as session:
        expired = session.scalar(select(PasswordReset).where(PasswordReset.user_id == editor))
        assert expired is not None and expired.made_by == _user_id(services, "deputy@example.com")
        expired.expires_at = utcnow() - timedelta(hours=1)
        session.commit()

    page = root.get("/admin/users").get_data(as_text=True).split("Pending password links")[1]
    listed = page.split("New user")[0]
    assert "producer@example.com" in listed and "made by root@example.com" in listed
    assert "editor@example.com" in listed and "made by deputy@example.com" in listed
    assert "Valid until" in listed and "Expired on" in listed

    with services.db.session() as session:
        link_id = session.scalar(select(PasswordReset.id).where(PasswordReset.user_id == producer))
    refused = _post(_signed_in(app, "producer@example.com"), f"/admin/users/password-links/{link_id}/revoke")
    assert refused.status_code == 403
    assert _post(deputy, f"/admin/users/password-links/{link_id}/revoke").status_code == 303
    assert app.test_client().get(f"/admin/reset/{for_producer}").status_code == 404
    after = root.get("/admin/users").get_data(as_text=True).split("Pending password links")[1]
    assert "producer@example.com" not in after.split("New user")[0]
    assert _post(deputy, f"/admin/users/password-links/{link_id}/revoke").status_code == 404


# --- invitations and their sender ----------------------------------------------------------------------


@pytest.mark.parametrize("change", ["demote", "remove", "disable"])
def test_invitations_an_owner_sent_are_withdrawn_when_they_lose_the_role(
    app: Flask, services: Services, change: str
) -> None:
    owner = _owner_of(app, services, "owner@example.com", "daily")
    add_user(services, "co@example.com")
    grant(services, "daily", "co@example.com", "owner")
    sent_by_co = invite(_signed_in(app, "co@example.com"), "daily", "x@example.com", "editor")
    sent_by_owner = invite(owner, "daily", "y@example.com", "viewer")

    members = "/admin/shows/daily/members"
    if change == "demote":
        done = _post(owner, f"{members}/role", email="co@example.com", role="editor")
    elif change == "remove":
        done = _post(owner, f"{members}/remove", email="co@example.com")
    else:
        add_user(services, "root@example.com", admin=True)
        done = _post(
            _signed_in(app, "root@example.com"),
            f"/admin/users/{_user_id(services, 'co@example.com')}/disable",
        )
    assert done.status_code == 303
    assert app.test_client().get(f"/admin/invitations/{sent_by_co}").status_code == 404
    assert app.test_client().get(f"/admin/invitations/{sent_by_owner}").status_code == 200
    pending = owner.get(members).get_data(as_text=True).split("Pending invitations")[1]
    assert "y@example.com" in pending and "x@example.com" not in pending


@pytest.mark.parametrize("lost", ["owner demoted", "admin no more", "sender disabled"])
def test_an_invitation_whose_sender_may_no_longer_invite_is_refused(
    app: Flask, services: Services, lost: str
) -> None:
    """However the sender lost the right (here: changed in the database, as by an older version or by hand),
    the link checks it again when opened and when accepted."""
    _owner_of(app, services, "owner@example.com", "daily")
    sender = "root@example.com" if lost == "admin no more" else "co@example.com"
    add_user(services, sender, admin=lost == "admin no more")
    if lost != "admin no more":
        grant(services, "daily", sender, "owner")
    secret = invite(_signed_in(app, sender), "daily", "ed@example.com", "editor")
    add_user(services, "ed@example.com")
    ed = _signed_in(app, "ed@example.com")
    ed.csrf = csrf_from(ed.get(f"/admin/invitations/{secret}").get_data(as_text=True))
    with services.db.session() as session:
        sender_id = accounts.get_user(session, sender).id
        if lost == "owner demoted":
            session.execute(update(Membership).where(Membership.user_id == sender_id).values(role="editor"))
        elif lost == "admin no more":
            session.execute(update(User).where(User.id == sender_id).values(is_admin=False))
        else:
            session.execute(update(User).where(User.id == sender_id).values(disabled_at=utcnow()))
        session.commit()

    opened = ed.get(f"/admin/invitations/{secret}")
    assert opened.status_code == 403 and "no longer stands" in opened.get_data(as_text=True)
    assert _post(ed, f"/admin/invitations/{secret}").status_code == 403
    assert role_of(services, "ed@example.com", "daily") is None


# --- stale invitations ---------------------------------------------------------------------------------


def _old_invitation(services: Services, email: str, role: str, secret: str) -> None:
    """A pending invitation to `daily`, sent by its owner, as a database may hold it from before."""
    with services.db.session() as session:
        show = shows.find_show(session, "daily")
        session.add(
            Invitation(
                show=show,
                email=email,
                role=role,
                token_hash=accounts.hash_secret(secret),
                invited_by=accounts.get_user(session, "owner@example.com").id,
                expires_at=utcnow() + timedelta(days=7),
            )
        )
        session.commit()


def test_a_role_given_or_taken_meanwhile_withdraws_the_pending_invitation(
    app: Flask, services: Services
) -> None:
    owner = _owner_of(app, services, "owner@example.com", "daily")
    add_user(services, "ed@example.com")
    promotion = invite(owner, "daily", "ed@example.com", "owner")
    grant(services, "daily", "ed@example.com", "viewer")  # as `podcast-host show grant` does
    assert app.test_client().get(f"/admin/invitations/{promotion}").status_code == 404

    _old_invitation(services, "ed@example.com", "owner", "an-old-invitation-secret")
    assert _post(owner, "/admin/shows/daily/members/remove", email="ed@example.com").status_code == 303
    assert app.test_client().get("/admin/invitations/an-old-invitation-secret").status_code == 404
    assert role_of(services, "ed@example.com", "daily") is None


def test_accepting_over_a_role_one_has_is_refused_and_changes_nothing(app: Flask, services: Services) -> None:
    _owner_of(app, services, "owner@example.com", "daily")
    add_user(services, "ed@example.com")
    grant(services, "daily", "ed@example.com", "viewer")
    _old_invitation(services, "ed@example.com", "owner", "an-old-invitation-secret")
    ed = _signed_in(app, "ed@example.com")
    link = "/admin/invitations/an-old-invitation-secret"
    ed.csrf = csrf_from(ed.get(link).get_data(as_text=True))

    refused = _post(ed, link)
    assert refused.status_code == 409
    assert "You have a role on this show already" in refused.get_data(as_text=True)
    assert role_of(services, "ed@example.com", "daily") == "viewer"
    with services.db.session() as session:
        assert session.scalars(select(Invitation.accepted_at)).one() is None


# --- the last admins -----------------------------------------------------------------------------------


def test_the_last_enabled_admin_is_not_disabled(app: Flask, services: Services) -> None:
    root_id, deputy_id = (add_user(services, f"{who}@example.com", admin=True) for who in ("root", "deputy"))
    with services.db.session() as session:
        deputy = session.get(User, deputy_id)
        deputy.disabled_at = utcnow()  # disabled by root a moment ago, in another request
        session.commit()
        with pytest.raises(Conflict, match="last enabled administrator"):
            user_admin.disable_user(session, deputy, session.get(User, root_id))
        session.rollback()
        assert session.get(User, root_id).disabled_at is None
    # With another enabled admin left, an admin is disabled as any user is.
    assert _post(_signed_in(app, "root@example.com"), f"/admin/users/{deputy_id}/enable").status_code == 303
    assert _post(_signed_in(app, "deputy@example.com"), f"/admin/users/{root_id}/disable").status_code == 303


@pytest.mark.postgres
def test_two_admins_disabling_each_other_at_once_leave_one_enabled(services: Services) -> None:
    ids = [add_user(services, f"{who}@example.com", admin=True) for who in ("alice", "bob")]
    for round_number in range(3):
        with services.db.session() as session:
            session.execute(update(User).values(disabled_at=None))
            session.commit()
        outcomes = _disable_each_other_at_once(services, ids)
        with services.db.session() as session:
            enabled = session.scalars(select(User.id).where(User.disabled_at.is_(None))).all()
        assert sorted(outcomes) == ["done", "refused"], (round_number, outcomes)
        assert len(enabled) == 1, round_number


def _disable_each_other_at_once(services: Services, ids: list[int]) -> list[str]:
    """Each admin, in a thread and a session of their own, disables the other."""
    # Without the lock both find "another enabled admin remains" (themselves) and meet here, at the write.
    at_the_write = threading.Barrier(2, timeout=0.5)
    outcomes: list[str] = []

    def meet(*_: Any) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            at_the_write.wait()

    def disable(by_id: int, user_id: int) -> None:
        with services.db.session() as session:
            event.listen(session, "before_flush", meet)
            by, user = session.get(User, by_id), session.get(User, user_id)
            assert by is not None and user is not None
            try:
                user_admin.disable_user(session, by, user)
                session.commit()
                outcomes.append("done")
            except Conflict:
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=disable, args=pair) for pair in (ids, ids[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


# --- odd input and races on the forms ------------------------------------------------------------------


@pytest.mark.parametrize("days", ["²", "٣", "1e3", "-1", "12345"])
def test_token_days_other_than_ascii_digits_are_refused_next_to_the_field(
    app: Flask, services: Services, days: str
) -> None:
    add_user(services, "producer@example.com")
    producer = _signed_in(app, "producer@example.com")
    refused = _post(producer, "/admin/account/tokens", name="laptop", expires_in_days=days)
    assert refused.status_code == 422
    assert re.search(r'id="error-expires_in_days"\s*>Give the number of days', refused.get_data(as_text=True))
    with services.db.session() as session:
        assert session.scalars(select(ApiToken)).all() == []


@pytest.mark.postgres
def test_two_new_accounts_made_on_one_link_at_once_answer_409_and_log_no_secret(
    app: Flask, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything any logger writes is searched for the secret
    app.config["PROPAGATE_EXCEPTIONS"] = (
        False  # as in production: an error is logged, not raised to the client
    )
    owner = _owner_of(app, services, "owner@example.com", "daily")
    secret = invite(owner, "daily", "new@example.com", "editor")
    link = f"/admin/invitations/{secret}"
    newcomer = app.test_client()
    newcomer.csrf = csrf_from(newcomer.get(link).get_data(as_text=True))

    # The other request makes the account just after this one checked that the address has none.
    other_request: list[str] = []

    def make_it_first(session: Session, _context: UOWTransaction, _instances: object) -> None:
        if other_request or not any(isinstance(o, User) for o in session.new):
            return
        other_request.append("done")
        with services.db.session() as other:
            accounts.create_user(other, "new@example.com", None)
            other.commit()

    event.listen(services.db.sessions, "before_flush", make_it_first)
    try:
        raced = _post(newcomer, link, password=NEW_PASSWORD, password_again=NEW_PASSWORD)
    finally:
        event.remove(services.db.sessions, "before_flush", make_it_first)
    assert other_request == ["done"]
    assert raced.status_code == 409 and "has an account already" in raced.get_data(as_text=True)
    assert role_of(services, "new@example.com", "daily") is None
    assert secret not in caplog.text


@pytest.mark.parametrize("page", ["invitations", "reset"])
def test_an_unexpected_error_on_a_link_page_is_logged_without_the_link(
    app: Flask,
    services: Services,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    page: str,
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    add_user(services, "root@example.com", admin=True)
    producer = add_user(services, "producer@example.com")
    if page == "invitations":
        secret = invite(
            _owner_of(app, services, "owner@example.com", "daily"), "daily", "x@example.com", "viewer"
        )
        target = (invitations, "accept_with_new_account")
    else:
        secret = password_link(_signed_in(app, "root@example.com"), producer)
        target = (user_admin, "use_password_link")

    def fail(*_: Any) -> None:
        raise RuntimeError("the database went away in an unexpected way")

    monkeypatch.setattr(*target, fail)
    visitor = app.test_client()
    visitor.csrf = csrf_from(visitor.get(f"/admin/{page}/{secret}").get_data(as_text=True))
    failed = _post(visitor, f"/admin/{page}/{secret}", password=NEW_PASSWORD, password_again=NEW_PASSWORD)
    assert failed.status_code == 500
    assert secret not in failed.get_data(as_text=True)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == ["Exception on a one-time link page [POST]"]
    assert "the database went away" in caplog.text  # the traceback is kept
    assert secret not in caplog.text


# --- how many pending links one may pile up ------------------------------------------------------------


def test_a_show_holds_at_most_100_pending_invitations(app: Flask, services: Services) -> None:
    owner = _owner_of(app, services, "owner@example.com", "daily")
    with services.db.session() as session:
        show, by = shows.find_show(session, "daily"), accounts.get_user(session, "owner@example.com")
        for number in range(MAX_PENDING_INVITATIONS):
            invitations.invite(session, by, show, f"p{number}@example.com", "viewer")
        session.commit()

    refused = _post(owner, "/admin/shows/daily/members", email="one-more@example.com", role="viewer")
    assert refused.status_code == 409 and "revoke those no longer needed" in refused.get_data(as_text=True)
    token = user_token(services, "api@example.com")
    grant(services, "daily", "api@example.com", "owner")
    body = {"email": "one-more@example.com", "role": "viewer"}
    assert (
        app.test_client().post("/api/v1/shows/daily/members", headers=auth(token), json=body).status_code
        == 409
    )
    # A new link for an address already invited replaces its old one: no more rows.
    assert (
        _post(owner, "/admin/shows/daily/members", email="p0@example.com", role="editor").status_code == 200
    )
    with services.db.session() as session:
        assert session.scalar(select(Invitation.role).where(Invitation.email == "p0@example.com")) == "editor"
        oldest = session.scalar(select(Invitation.id).order_by(Invitation.id))
    assert _post(owner, f"/admin/shows/daily/invitations/{oldest}/revoke").status_code == 303
    assert (
        _post(owner, "/admin/shows/daily/members", email="one-more@example.com", role="viewer").status_code
        == 200
    )


def test_an_admin_holds_at_most_20_pending_password_links(app: Flask, services: Services) -> None:
    for email in ("root@example.com", "deputy@example.com"):
        add_user(services, email, admin=True)
    producer = add_user(services, "producer@example.com")
    with services.db.session() as session:
        root = accounts.get_user(session, "root@example.com")
        for number in range(MAX_PENDING_PASSWORD_LINKS):
            user_admin.create_account(session, root, f"u{number}@example.com")
        session.commit()
    root_client = _signed_in(app, "root@example.com")

    refused = _post(root_client, f"/admin/users/{producer}/password-link")
    assert refused.status_code == 409 and "revoke those no longer needed" in refused.get_data(as_text=True)
    assert _post(root_client, "/admin/users", email="late@example.com").status_code == 409
    with services.db.session() as session:
        assert session.scalar(select(User).where(User.email == "late@example.com")) is None
    # A new link for someone who has one replaces it; another admin has links of their own to make.
    assert (
        _post(root_client, f"/admin/users/{_user_id(services, 'u0@example.com')}/password-link").status_code
        == 200
    )
    password_link(_signed_in(app, "deputy@example.com"), producer)


# --- the migration -------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_migration_adds_the_columns_in_place_and_keeps_every_row(database_url: str) -> None:
    """Up and down again, with foreign keys on as the app has them: no table is copied, so no row that
    references a user is deleted on the way."""
    database = Database(database_url)
    try:
        _migrate(database, "0006")
        now = "2026-01-01 00:00:00"
        with database.engine.begin() as conn:
            for row in (
                "INSERT INTO users (id, email, is_admin, created_at, session_generation) "
                "VALUES (1, 'a@example.com', true, :now, 0)",
                "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, read_only) "
                "VALUES (1, 1, 't', 'h', :now, false)",
                "INSERT INTO shows (id, slug, title, description, language, author, email, category, "
                "explicit, copyright, show_type, medium, locked, funding_url, funding_text, podcast_guid, "
                "created_at, updated_at) VALUES (1, 's', 'S', '', 'en', '', '', '', false, '', 'episodic', "
                "'podcast', false, '', '', 'g', :now, :now)",
                "INSERT INTO memberships (id, show_id, user_id, role) VALUES (1, 1, 1, 'owner')",
                "INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at) "
                "VALUES (1, 1, 'r', :now, :now)",
            ):
                conn.execute(text(row), {"now": now})
        tables = ("users", "api_tokens", "memberships", "password_resets")

        def counts() -> dict[str, int]:
            with database.engine.connect() as conn:
                return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}

        _migrate(database, "head")
        assert counts() == dict.fromkeys(tables, 1)
        with database.engine.connect() as conn:
            assert {"invited_through", "invited_by"} <= {
                c["name"] for c in inspect(conn).get_columns("users")
            }
            made_by = conn.execute(text("SELECT made_by FROM password_resets")).scalar()
            assert made_by is None  # a link from before names no maker, and is refused
        _migrate(database, "0006", down=True)
        assert counts() == dict.fromkeys(tables, 1)
        with database.engine.connect() as conn:
            assert "invited_by" not in {c["name"] for c in inspect(conn).get_columns("users")}
        # 0006 down drops its columns in place too: the users' tokens and roles stay.
        _migrate(database, "0005", down=True)
        with database.engine.connect() as conn:
            for table in ("users", "api_tokens", "memberships"):
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 1, table
            assert "locale" not in {c["name"] for c in inspect(conn).get_columns("users")}
    finally:
        database.dispose()


def _migrate(database: Database, revision: str, down: bool = False) -> None:
    from alembic import command

    with database.engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)
