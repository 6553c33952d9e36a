"""Steps the team tests share (docs/dashboard.md, "Team and access"): an invitation sent through a show's
members page, a password link made by an admin, the secret of the one-time link a page shows, the role a
user holds on a show."""

from __future__ import annotations

import re

from browser import post_form
from flask.testing import FlaskClient

from podcast_host import accounts, shows
from podcast_host.services import Services


def link_secret(page: str, kind: str) -> str:
    """The secret of the one-time link (`invitations` or `reset`) that a page shows in a field to copy."""
    match = re.search(rf'value="https?://[^"]*/admin/{kind}/([A-Za-z0-9_-]+)"', page)
    assert match, f"the page shows no {kind} link"
    return match.group(1)


def invite(client: FlaskClient, slug: str, email: str, role: str) -> str:
    """Invite `email` to the show `slug` through its members page; the secret of the link the page shows."""
    response = post_form(client, f"/admin/shows/{slug}/members", email=email, role=role)
    assert response.status_code == 200, response.get_data(as_text=True)
    return link_secret(response.get_data(as_text=True), "invitations")


def password_link(admin: FlaskClient, user_id: int) -> str:
    """A one-time password link for the user `user_id`, made by an admin on the users page; its secret."""
    response = post_form(admin, f"/admin/users/{user_id}/password-link")
    assert response.status_code == 200, response.get_data(as_text=True)
    return link_secret(response.get_data(as_text=True), "reset")


def role_of(services: Services, email: str, slug: str) -> str | None:
    """The role of the user `email` on the show `slug`, or None; the user must exist, so that "no role"
    never passes for a user who was never made."""
    with services.db.session() as session:
        user = accounts.get_user(session, email)
        membership = accounts.membership_of(session, shows.find_show(session, slug), user)
        return membership.role if membership else None
