"""Team and access in the dashboard (docs/dashboard.md, "Team and access"): a show's members and invitations,
the instance's users for admins, each user's own account, and the one-time links."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from browser import PASSWORD, add_user, csrf_from, dashboard_app, grant
from browser import post_form as _post
from browser import signed_in as _signed_in
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from team_helpers import invite, link_secret, password_link, role_of

from podcast_host import accounts
from podcast_host.models import ApiToken, Invitation, Membership, PasswordReset, User, utcnow
from podcast_host.services import Services

NEW_PASSWORD = "a brand new passphrase"
MEMBERS = "/admin/shows/daily/members"


@pytest.fixture
def app(services: Services) -> Flask:
    return dashboard_app(services)


@pytest.fixture
def owner(app: Flask, services: Services) -> FlaskClient:
    """A client signed in as owner@example.com, who owns the show `daily`; its CSRF token is `client.csrf`."""
    add_user(services, "owner@example.com")
    client = _signed_in(app, "owner@example.com")
    show = {"slug": "daily", "title": "The Daily Test", "language": "en", "email": "t@example.com"}
    response = _post(client, "/admin/shows", **show)
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


@pytest.fixture
def admin(app: Flask, services: Services) -> FlaskClient:
    add_user(services, "root@example.com", admin=True)
    return _signed_in(app, "root@example.com")


def _status(client: FlaskClient, path: str, **data: str) -> int:
    return _post(client, path, **data).status_code


def _may_upload(client: FlaskClient) -> int:
    """The upload page of `daily` answers 200 to those who may add episodes, 403 to the others."""
    return client.get("/admin/shows/daily/episodes/new").status_code


# --- invitations ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "upload_status"), [("editor", 200), ("viewer", 403)])
def test_an_invited_user_signs_in_through_the_link_accepts_and_gets_the_role(
    app: Flask, services: Services, owner: FlaskClient, role: str, upload_status: int
) -> None:
    add_user(services, "ed@example.com")
    secret = invite(owner, "daily", "ed@example.com", role)
    with services.db.session() as session:
        stored = session.scalars(select(Invitation)).one()
        assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert (stored.email, stored.role, stored.accepted_at) == ("ed@example.com", role, None)
        assert timedelta(days=6, hours=23) < stored.expires_at - utcnow() <= timedelta(days=7)
    assert "ed@example.com" in owner.get(MEMBERS).get_data(as_text=True)
    assert role_of(services, "ed@example.com", "daily") is None

    ed = app.test_client()
    link = f"/admin/invitations/{secret}"
    sent = ed.get(link)
    assert sent.status_code == 302 and sent.headers["Location"] == f"/login?next={link}"
    login_token = csrf_from(ed.get(sent.headers["Location"]).get_data(as_text=True))
    signed_in = ed.post(
        "/login",
        data={"email": "ed@example.com", "password": PASSWORD, "csrf_token": login_token, "next": link},
    )
    assert signed_in.headers["Location"] == link
    page = ed.get(link)
    assert page.status_code == 200 and "Accept the invitation" in page.get_data(as_text=True)
    assert _may_upload(ed) == 403

    ed.csrf = csrf_from(page.get_data(as_text=True))
    accepted = _post(ed, link)
    assert accepted.status_code == 303 and accepted.headers["Location"] == "/admin/shows/daily/"
    assert role_of(services, "ed@example.com", "daily") == role
    assert _may_upload(ed) == upload_status
    assert "ed@example.com" not in owner.get(MEMBERS).get_data(as_text=True).split("Pending invitations")[1]


def test_a_new_address_creates_its_account_through_the_link(
    app: Flask, services: Services, owner: FlaskClient
) -> None:
    secret = invite(owner, "daily", "new@example.com", "viewer")
    newcomer = app.test_client()
    link = f"/admin/invitations/{secret}"
    page = newcomer.get(link)
    assert page.status_code == 200 and 'name="password_again"' in page.get_data(as_text=True)
    newcomer.csrf = csrf_from(page.get_data(as_text=True))

    differ = _post(newcomer, link, password=NEW_PASSWORD, password_again=NEW_PASSWORD + "!")
    too_short = _post(newcomer, link, password="short", password_again="short")
    assert (differ.status_code, too_short.status_code) == (422, 422)
    with services.db.session() as session:
        assert session.scalar(select(User).where(User.email == "new@example.com")) is None

    created = _post(newcomer, link, password=NEW_PASSWORD, password_again=NEW_PASSWORD)
    assert created.status_code == 303 and created.headers["Location"] == "/admin/shows/daily/"
    assert role_of(services, "new@example.com", "daily") == "viewer"
    assert newcomer.get("/admin/shows/daily/").status_code == 200  # signed in
    assert _may_upload(newcomer) == 403
    _signed_in(app, "new@example.com", NEW_PASSWORD)  # the password works on the sign-in form too


def test_used_expired_unknown_and_other_users_links_are_refused_and_change_nothing(
    app: Flask, services: Services, owner: FlaskClient
) -> None:
    for email in ("ed@example.com", "other@example.com"):
        add_user(services, email)
    ed, other = _signed_in(app, "ed@example.com"), _signed_in(app, "other@example.com")
    secret = invite(owner, "daily", "ed@example.com", "editor")
    link = f"/admin/invitations/{secret}"

    wrong = other.get(link)
    assert wrong.status_code == 403 and "other@example.com" in wrong.get_data(as_text=True)
    assert _status(other, link) == 403
    assert role_of(services, "other@example.com", "daily") is None

    assert ed.get("/admin/invitations/not-a-secret").status_code == 404
    with services.db.session() as session:
        session.scalars(select(Invitation)).one().expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    expired = ed.get(link)
    assert expired.status_code == 409 and "expired" in expired.get_data(as_text=True)
    assert _status(ed, link) == 409
    assert role_of(services, "ed@example.com", "daily") is None

    secret = invite(owner, "daily", "ed@example.com", "editor")
    link = f"/admin/invitations/{secret}"
    assert _status(ed, link) == 303
    used = _post(ed, link)
    assert used.status_code == 409 and "accepted already" in used.get_data(as_text=True)
    assert ed.get(link).status_code == 409


def test_an_owner_revokes_a_pending_invitation(app: Flask, owner: FlaskClient, services: Services) -> None:
    secret = invite(owner, "daily", "later@example.com", "editor")
    replaced = invite(owner, "daily", "gone@example.com", "viewer")
    newer = invite(owner, "daily", "gone@example.com", "editor")  # replaces the one before
    assert app.test_client().get(f"/admin/invitations/{replaced}").status_code == 404
    with services.db.session() as session:
        pending = {i.email: i.id for i in session.scalars(select(Invitation))}
    assert set(pending) == {"later@example.com", "gone@example.com"}

    revoked = _post(owner, f"/admin/shows/daily/invitations/{pending['gone@example.com']}/revoke")
    assert revoked.status_code == 303
    assert app.test_client().get(f"/admin/invitations/{newer}").status_code == 404
    assert app.test_client().get(f"/admin/invitations/{secret}").status_code == 200
    page = owner.get(MEMBERS).get_data(as_text=True)
    assert "later@example.com" in page and "gone@example.com" not in page
    # Another show's invitation is out of reach through this show's address.
    weekly = {"slug": "weekly", "title": "Weekly", "language": "en", "email": "t@example.com"}
    assert _status(owner, "/admin/shows", **weekly) == 303
    assert _status(owner, "/admin/shows/weekly/members", email="w@example.com", role="viewer") == 200
    with services.db.session() as session:
        weekly_invitation = session.scalar(select(Invitation.id).where(Invitation.email == "w@example.com"))
    assert _status(owner, f"/admin/shows/daily/invitations/{weekly_invitation}/revoke") == 404
    assert _status(owner, f"/admin/shows/weekly/invitations/{weekly_invitation}/revoke") == 303
    # A member is not invited again: their role is changed in the list.
    assert _status(owner, MEMBERS, email="owner@example.com", role="viewer") == 409


def test_owners_change_and_remove_roles_but_the_last_owner_stays(
    owner: FlaskClient, services: Services
) -> None:
    add_user(services, "ed@example.com")
    grant(services, "daily", "ed@example.com", "editor")
    page = owner.get(MEMBERS).get_data(as_text=True)
    assert "ed@example.com" in page and "owner@example.com" in page

    assert _status(owner, f"{MEMBERS}/role", email="ed@example.com", role="viewer") == 303
    assert role_of(services, "ed@example.com", "daily") == "viewer"
    refused = _post(owner, f"{MEMBERS}/role", email="owner@example.com", role="editor")
    assert refused.status_code == 409 and "needs an owner" in refused.get_data(as_text=True)
    assert _status(owner, f"{MEMBERS}/remove", email="owner@example.com") == 409
    assert role_of(services, "owner@example.com", "daily") == "owner"
    # A role for someone who has none goes through an invitation.
    add_user(services, "stranger@example.com")
    stranger = _post(owner, f"{MEMBERS}/role", email="stranger@example.com", role="owner")
    assert stranger.status_code == 404 and role_of(services, "stranger@example.com", "daily") is None
    assert _status(owner, f"{MEMBERS}/role", email="ed@example.com", role="boss") == 422

    assert _status(owner, f"{MEMBERS}/remove", email="ed@example.com") == 303
    assert role_of(services, "ed@example.com", "daily") is None
    assert '<span class="title" dir="ltr">ed@example.com</span>' not in owner.get(MEMBERS).get_data(
        as_text=True
    )


def test_only_owners_manage_members(app: Flask, owner: FlaskClient, services: Services) -> None:
    for email, role in (("ed@example.com", "editor"), ("vi@example.com", "viewer")):
        add_user(services, email)
        grant(services, "daily", email, role)
    add_user(services, "stranger@example.com")
    invite(owner, "daily", "pending@example.com", "viewer")
    for email in ("ed@example.com", "vi@example.com"):
        member = _signed_in(app, email)
        page = member.get(MEMBERS).get_data(as_text=True)
        assert "owner@example.com" in page and email in page
        assert "Invite someone" not in page and "pending@example.com" not in page
        assert _status(member, MEMBERS, email="x@example.com", role="owner") == 403
        assert _status(member, f"{MEMBERS}/role", email=email, role="owner") == 403
        assert _status(member, f"{MEMBERS}/remove", email="owner@example.com") == 403
    assert _signed_in(app, "stranger@example.com").get(MEMBERS).status_code == 403
    with services.db.session() as session:
        assert [i.email for i in session.scalars(select(Invitation))] == ["pending@example.com"]
    assert role_of(services, "ed@example.com", "daily") == "editor"
    assert role_of(services, "owner@example.com", "daily") == "owner"


def test_the_settings_page_links_to_the_members(owner: FlaskClient) -> None:
    page = owner.get("/admin/shows/daily/settings").get_data(as_text=True)
    assert f'href="{MEMBERS}"' in page


# --- users, for admins ----------------------------------------------------------------------------------


def test_an_admin_creates_a_user_who_sets_a_password_and_signs_in(app: Flask, admin: FlaskClient) -> None:
    assert 'href="/admin/users"' in admin.get("/admin/").get_data(as_text=True)
    created = _post(admin, "/admin/users", email="New@Example.com", admin="true")
    assert created.status_code == 200
    secret = link_secret(created.get_data(as_text=True), "reset")
    assert _status(admin, "/admin/users", email="new@example.com") == 409
    assert "new@example.com" in admin.get("/admin/users").get_data(as_text=True)

    newcomer = app.test_client()
    page = newcomer.get(f"/admin/reset/{secret}")
    assert page.status_code == 200 and "new@example.com" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    newcomer.csrf = csrf_from(page.get_data(as_text=True))
    done = _post(newcomer, f"/admin/reset/{secret}", password=NEW_PASSWORD, password_again=NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    signed_in = _signed_in(app, "new@example.com", NEW_PASSWORD)
    assert signed_in.get("/admin/users").status_code == 200  # made an admin


def test_a_disabled_user_cannot_sign_in_nor_use_a_token_until_enabled(
    app: Flask, services: Services, admin: FlaskClient
) -> None:
    user_id = add_user(services, "producer@example.com")
    with services.db.session() as session:
        _, token = accounts.create_token(session, session.get(User, user_id), "script")
        session.commit()
    bearer = {"Authorization": f"Bearer {token}"}
    browser = _signed_in(app, "producer@example.com")

    assert _status(admin, f"/admin/users/{user_id}/disable") == 303
    assert "disabled" in admin.get("/admin/users").get_data(as_text=True)
    assert browser.get("/admin/").status_code == 302  # the session ended
    assert app.test_client().get("/api/v1/shows", headers=bearer).status_code == 401
    login = app.test_client()
    form = {"email": "producer@example.com", "password": PASSWORD}
    refused = _post(login, "/login", **form)
    assert refused.status_code == 403 and "disabled" in refused.get_data(as_text=True)
    assert login.get("/admin/").status_code == 302

    assert _status(admin, f"/admin/users/{user_id}/enable") == 303
    assert app.test_client().get("/api/v1/shows", headers=bearer).status_code == 200
    _signed_in(app, "producer@example.com")
    with services.db.session() as session:
        own_id = session.scalar(select(User.id).where(User.email == "root@example.com"))
    assert _status(admin, f"/admin/users/{own_id}/disable") == 409


def test_only_admins_see_and_change_users(app: Flask, services: Services) -> None:
    user_id = add_user(services, "producer@example.com")
    producer = _signed_in(app, "producer@example.com")
    assert 'href="/admin/users"' not in producer.get("/admin/").get_data(as_text=True)
    assert producer.get("/admin/users").status_code == 403
    assert _status(producer, "/admin/users", email="sneaky@example.com", admin="true") == 403
    assert _status(producer, f"/admin/users/{user_id}/password-link") == 403
    assert _status(producer, f"/admin/users/{user_id}/disable") == 403
    with services.db.session() as session:
        assert session.scalar(select(User).where(User.email == "sneaky@example.com")) is None
        assert session.scalars(select(PasswordReset)).all() == []


def test_a_password_link_works_once_and_ends_the_users_sessions(
    app: Flask, services: Services, admin: FlaskClient
) -> None:
    user_id = add_user(services, "producer@example.com")
    elsewhere = _signed_in(app, "producer@example.com")
    first = password_link(admin, user_id)
    secret = password_link(admin, user_id)
    assert app.test_client().get(f"/admin/reset/{first}").status_code == 404  # replaced by the newer one
    assert elsewhere.get("/admin/").status_code == 200  # the old password works until the link is used

    holder = app.test_client()
    holder.csrf = csrf_from(holder.get(f"/admin/reset/{secret}").get_data(as_text=True))
    assert (
        _post(
            holder, f"/admin/reset/{secret}", password=NEW_PASSWORD, password_again=NEW_PASSWORD
        ).status_code
        == 303
    )
    assert elsewhere.get("/admin/").status_code == 302
    again = _post(
        holder, f"/admin/reset/{secret}", password="another password", password_again="another password"
    )
    assert again.status_code == 409 and "used already" in again.get_data(as_text=True)
    assert holder.get(f"/admin/reset/{secret}").status_code == 409
    assert _status(app.test_client(), "/login", email="producer@example.com", password=PASSWORD) == 401
    _signed_in(app, "producer@example.com", NEW_PASSWORD)
    with services.db.session() as session:
        reset = session.scalars(select(PasswordReset)).one()
        assert reset.token_hash == hashlib.sha256(secret.encode()).hexdigest() and reset.used_at is not None


def test_an_expired_password_link_is_refused(app: Flask, services: Services, admin: FlaskClient) -> None:
    user_id = add_user(services, "producer@example.com")
    secret = password_link(admin, user_id)
    with services.db.session() as session:
        reset = session.scalars(select(PasswordReset)).one()
        assert timedelta(hours=23) < reset.expires_at - utcnow() <= timedelta(hours=24)
        reset.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    refused = app.test_client().get(f"/admin/reset/{secret}")
    assert refused.status_code == 409 and "expired" in refused.get_data(as_text=True)


# --- one's own account ----------------------------------------------------------------------------------


def test_the_account_page_changes_the_password_with_the_current_one(app: Flask, services: Services) -> None:
    add_user(services, "producer@example.com", real_hash=True)  # a wrong current password is checked
    laptop, phone = _signed_in(app, "producer@example.com"), _signed_in(app, "producer@example.com")
    assert 'href="/admin/account"' in laptop.get("/admin/").get_data(as_text=True)
    wrong = _post(laptop, "/admin/account/password", current_password="not it", new_password=NEW_PASSWORD)
    assert wrong.status_code == 403 and "current password is wrong" in wrong.get_data(as_text=True)
    short = _post(laptop, "/admin/account/password", current_password=PASSWORD, new_password="short")
    assert short.status_code == 422
    assert phone.get("/admin/").status_code == 200

    changed = _post(laptop, "/admin/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD)
    assert changed.status_code == 303
    assert laptop.get("/admin/account").status_code == 200  # this browser goes on
    assert phone.get("/admin/").status_code == 302  # the others are signed out
    _signed_in(app, "producer@example.com", NEW_PASSWORD)


@pytest.mark.parametrize(("code", "direction"), [("ar", "rtl"), ("fr", "ltr"), ("en", "ltr")])
def test_the_chosen_language_is_the_dashboards(
    app: Flask, services: Services, code: str, direction: str
) -> None:
    add_user(services, "producer@example.com")
    producer = _signed_in(app, "producer@example.com")
    page = producer.get("/admin/account").get_data(as_text=True)
    for offered, name in (("en", "English"), ("ar", "العربية"), ("fr", "français")):
        assert f'<option value="{offered}" lang="{offered}">{name}</option>' in page

    assert _status(producer, "/admin/account/language", locale=code) == 303
    # The choice wins over the browser's language.
    headers = {"Accept-Language": "de" if code != "en" else "ar"}
    assert f'<html lang="{code}" dir="{direction}">' in producer.get("/admin/", headers=headers).get_data(
        as_text=True
    )
    assert _status(producer, "/admin/account/language", locale="de") == 422
    assert _status(producer, "/admin/account/language", locale="") == 303  # the browser's again
    page = producer.get("/admin/", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page


def test_a_token_is_shown_once_works_and_is_revoked(app: Flask, services: Services) -> None:
    add_user(services, "producer@example.com")
    producer = _signed_in(app, "producer@example.com")
    created = _post(producer, "/admin/account/tokens", name="laptop", expires_in_days="30", read_only="true")
    assert created.status_code == 200
    secret = re.search(
        r'id="new-token" type="text" readonly value="(ph_[^"]+)"', created.get_data(as_text=True)
    )
    assert secret
    bearer = {"Authorization": f"Bearer {secret.group(1)}"}
    assert secret.group(1) not in producer.get("/admin/account").get_data(as_text=True)
    assert app.test_client().get("/api/v1/shows", headers=bearer).status_code == 200
    with services.db.session() as session:
        token = session.scalars(select(ApiToken)).one()
        assert (token.name, token.read_only, token.last_used_at is not None) == ("laptop", True, True)
        assert timedelta(days=29) < token.expires_at - utcnow() <= timedelta(days=30)
        token_id = token.id
    listed = producer.get("/admin/account").get_data(as_text=True)
    assert "laptop" in listed and "never used" not in listed and "read-only" in listed
    assert _status(producer, "/admin/account/tokens", name="bad", expires_in_days="soon") == 422

    assert _status(producer, f"/admin/account/tokens/{token_id}/revoke") == 303
    assert app.test_client().get("/api/v1/shows", headers=bearer).status_code == 401
    # Someone else's token is as good as missing.
    add_user(services, "other@example.com")
    with services.db.session() as session:
        other, _ = accounts.create_token(session, accounts.get_user(session, "other@example.com"), "theirs")
        session.commit()
        other_id = other.id
    assert _status(producer, f"/admin/account/tokens/{other_id}/revoke") == 404


# --- CSRF -----------------------------------------------------------------------------------------------


def test_every_post_without_the_csrf_token_is_refused(
    app: Flask, services: Services, owner: FlaskClient, admin: FlaskClient
) -> None:
    add_user(services, "ed@example.com")
    grant(services, "daily", "ed@example.com", "editor")
    secret = invite(owner, "daily", "new@example.com", "viewer")
    user_id = add_user(services, "producer@example.com")
    reset = password_link(admin, user_id)
    with services.db.session() as session:
        invitation_id = session.scalars(select(Invitation.id)).one()
    posts = [
        (owner, MEMBERS, {"email": "x@example.com", "role": "viewer"}),
        (owner, f"{MEMBERS}/role", {"email": "ed@example.com", "role": "viewer"}),
        (owner, f"{MEMBERS}/remove", {"email": "ed@example.com"}),
        (owner, f"/admin/shows/daily/invitations/{invitation_id}/revoke", {}),
        (admin, "/admin/users", {"email": "x@example.com"}),
        (admin, f"/admin/users/{user_id}/disable", {}),
        (admin, f"/admin/users/{user_id}/enable", {}),
        (admin, f"/admin/users/{user_id}/password-link", {}),
        (owner, "/admin/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        (owner, "/admin/account/language", {"locale": "ar"}),
        (owner, "/admin/account/tokens", {"name": "x"}),
        (owner, "/admin/account/tokens/1/revoke", {}),
        (
            app.test_client(),
            f"/admin/invitations/{secret}",
            {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        ),
        (
            app.test_client(),
            f"/admin/reset/{reset}",
            {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        ),
    ]
    for client, path, form in posts:
        assert client.post(path, data=form).status_code == 400, path
        assert client.post(path, data={**form, "csrf_token": "forged"}).status_code == 400, path
    with services.db.session() as session:
        assert [i.email for i in session.scalars(select(Invitation))] == ["new@example.com"]
        assert session.scalars(select(Invitation.accepted_at)).one() is None
        assert session.scalars(select(PasswordReset.used_at)).one() is None
        assert session.scalars(select(ApiToken)).all() == []
        assert (
            session.scalar(select(Membership.role).join(User).where(User.email == "ed@example.com"))
            == "editor"
        )
        assert session.scalar(select(User.disabled_at).where(User.id == user_id)) is None
        assert session.scalar(select(User.locale).where(User.email == "owner@example.com")) is None
