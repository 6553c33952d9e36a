"""The dashboard's team and access pages (docs/dashboard.md, "Team and access"): a show's members and
invitations, the instance's users for admins, and each user's own account. The one-time links that let
someone join a show or set a password are web/team_links.py.

Its routes live on the dashboard's blueprint, which signs the visitor in and checks every form's CSRF token;
who may do what is decided in podcast_host/invitations.py, user_admin.py and accounts.py.
"""

from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from podcast_host import accounts, invitations, user_admin
from podcast_host.errors import Conflict, Forbidden, Invalid, NotFound
from podcast_host.models import ROLES, Show, utcnow
from podcast_host.web import auth, team_links
from podcast_host.web.context import db, services
from podcast_host.web.dashboard import bp
from podcast_host.web.dashboard_access import can, show_for, signed_in_user
from podcast_host.web.dashboard_forms import form_errors
from podcast_host.web.errors import message_of, status_of
from podcast_host.web.team_links import Page, link_address, role_name


@bp.record_once
def _register_links(state: BlueprintSetupState) -> None:
    # The links work signed out, so they are a blueprint of their own, registered with the dashboard.
    state.app.register_blueprint(team_links.bp)


@bp.context_processor
def _template_helpers() -> dict[str, object]:
    return {"role_name": role_name}


def _again(message: str, endpoint: str, **values: Any) -> BaseResponse:
    flash(message)
    return redirect(url_for(endpoint, **values), code=303)


# --- a show's members -----------------------------------------------------------------------------------


@bp.get("/shows/<slug>/members")
def members(slug: str) -> str:
    return _members_page(show_for(slug, "read"))[0]


@bp.post("/shows/<slug>/members")
def invite_member(slug: str) -> Page:
    show = show_for(slug, "read")
    try:
        invitation, secret = invitations.invite(
            db(), signed_in_user(), show, request.form.get("email", ""), request.form.get("role", "")
        )
        db().commit()
    except (Invalid, Conflict) as exc:
        db().rollback()
        return _members_page(show, form_errors(exc, "email"), status_of(exc), values=request.form.to_dict())
    # Shown on this answer only: the secret is kept nowhere, not even in the session.
    link = link_address("team_links.invitation", secret)
    return _members_page(show, link=link, invited=invitation.email)


@bp.post("/shows/<slug>/members/role")
def change_role(slug: str) -> BaseResponse | Page:
    show = show_for(slug, "read")
    email, role = request.form.get("email", ""), request.form.get("role", "")
    try:
        invitations.change_role(db(), signed_in_user(), show, email, role)
        db().commit()
    except (Invalid, Conflict, NotFound) as exc:
        db().rollback()
        return _members_page(show, {"members": message_of(exc)}, status_of(exc))
    message = _("%(email)s is now %(role)s.", email=email, role=role_name(role))
    return _again(message, ".members", slug=show.slug)


@bp.post("/shows/<slug>/members/remove")
def remove_member(slug: str) -> BaseResponse | Page:
    show = show_for(slug, "read")
    email = request.form.get("email", "")
    try:
        invitations.remove_member(db(), signed_in_user(), show, email)
        db().commit()
    except (Conflict, NotFound) as exc:
        db().rollback()
        return _members_page(show, {"members": message_of(exc)}, status_of(exc))
    return _again(_("%(email)s has no role on this show any more.", email=email), ".members", slug=show.slug)


@bp.post("/shows/<slug>/invitations/<int:invitation_id>/revoke")
def revoke_invitation(slug: str, invitation_id: int) -> BaseResponse:
    show = show_for(slug, "read")
    invitations.revoke_invitation(db(), signed_in_user(), show, invitation_id)
    db().commit()
    return _again(_("The invitation is revoked: its link no longer works."), ".members", slug=show.slug)


def _members_page(show: Show, errors: dict[str, str] | None = None, status: int = 200, **extra: Any) -> Page:
    """The members page; `extra`: the `values` typed in the invitation form, the new `link` and `invited`."""
    manage = can(show, "manage_members")
    page = render_template(
        "admin/members.html",
        **{"values": {"role": "editor"}, **extra},
        show=show,
        members=sorted(show.members, key=lambda m: m.user.email),
        invitations=invitations.pending_invitations(db(), show) if manage else [],
        can_manage=manage,
        role_choices=[(role, role_name(role)) for role in ROLES],
        errors=errors or {},
        now=utcnow(),
    )
    return page, status


# --- the instance's users, for admins -------------------------------------------------------------------


@bp.get("/users")
def users() -> str:
    return _users_page()[0]


@bp.post("/users")
def create_user() -> Page:
    email, admin = request.form.get("email", ""), request.form.get("admin") == "true"
    try:
        user, secret = user_admin.create_account(db(), signed_in_user(), email, admin=admin)
        db().commit()
    except (Invalid, Conflict) as exc:
        db().rollback()
        return _users_page(form_errors(exc, "email"), status_of(exc), values=request.form.to_dict())
    return _users_page(link=link_address("team_links.reset", secret), link_for=user.email)


@bp.post("/users/<int:user_id>/disable")
def disable_user(user_id: int) -> BaseResponse | Page:
    me = signed_in_user()
    user = user_admin.find_user(db(), me, user_id)
    try:
        user_admin.disable_user(db(), me, user)
        db().commit()
    except Conflict as exc:
        db().rollback()
        return _users_page({"users": message_of(exc)}, status_of(exc))
    return _again(_("%(email)s can no longer sign in.", email=user.email), ".users")


@bp.post("/users/<int:user_id>/enable")
def enable_user(user_id: int) -> BaseResponse:
    me = signed_in_user()
    user = user_admin.find_user(db(), me, user_id)
    user_admin.enable_user(db(), me, user)
    db().commit()
    return _again(_("%(email)s may sign in again.", email=user.email), ".users")


@bp.post("/users/<int:user_id>/password-link")
def password_link(user_id: int) -> Page:
    me = signed_in_user()
    user = user_admin.find_user(db(), me, user_id)
    try:
        secret = user_admin.make_password_link(db(), me, user)[1]
        db().commit()
    except Conflict as exc:
        db().rollback()
        return _users_page({"users": message_of(exc)}, status_of(exc))
    return _users_page(link=link_address("team_links.reset", secret), link_for=user.email)


@bp.post("/users/password-links/<int:reset_id>/revoke")
def revoke_password_link(reset_id: int) -> BaseResponse:
    user_admin.revoke_password_link(db(), signed_in_user(), reset_id)
    db().commit()
    return _again(_("The password link is revoked: it no longer works."), ".users")


def _users_page(errors: dict[str, str] | None = None, status: int = 200, **extra: Any) -> Page:
    """The users page; `extra`: the `values` typed in the new-user form, a new `link` and `link_for`."""
    me = signed_in_user()
    users = user_admin.list_users(db(), me)
    page = render_template(
        "admin/users.html",
        **{"values": {}, **extra},
        users=users,
        # Who invited whom and who made which link are named by id: every user is on the page already.
        users_by_id={u.id: u for u in users},
        password_links=user_admin.pending_password_links(db(), me),
        errors=errors or {},
        now=utcnow(),
    )
    return page, status


# --- one's own account ----------------------------------------------------------------------------------


@bp.get("/account")
def account() -> str:
    return _account_page()[0]


@bp.post("/account/password")
def change_password() -> BaseResponse | Page:
    """As the API's password change: wrong current passwords count with failed sign-ins."""
    user = signed_in_user()
    throttle, key = auth.login_throttle(), auth.throttle_key(user.email)
    if throttle.retry_after(key):
        message = _("Too many wrong passwords for this account from your address; try again later.")
        return _account_page({"current_password": message}, 429)
    current, new = request.form.get("current_password", ""), request.form.get("new_password", "")
    try:
        accounts.change_password(db(), user, current, new)
        db().commit()
    except Forbidden as exc:
        db().rollback()
        if user.password_hash:  # a wrong guess; having no password yet is none
            throttle.fail(key)
        return _account_page({"current_password": message_of(exc)}, status_of(exc))
    except Invalid as exc:
        db().rollback()
        return _account_page(form_errors(exc, "new_password"), status_of(exc))
    throttle.clear(key)
    # Every session of the user ended with the new password; this browser goes on in a new one.
    auth.start_session(user)
    return _again(_("Your password is changed. Your other sessions are signed out."), ".account")


@bp.post("/account/language")
def choose_language() -> BaseResponse | Page:
    user = signed_in_user()
    try:
        invitations.choose_language(db(), user, request.form.get("locale", ""), services().settings.languages)
        db().commit()
    except Invalid as exc:
        db().rollback()
        return _account_page(form_errors(exc, "locale"), status_of(exc))
    return _again(_("The dashboard's language is saved."), ".account")


@bp.post("/account/tokens")
def create_token() -> Page:
    user = signed_in_user()
    name, days = request.form.get("name", ""), request.form.get("expires_in_days", "").strip()
    try:
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        if days and not re.fullmatch(r"[0-9]{1,4}", days):
            raise Invalid(
                _("Give the number of days as a whole number, or leave it empty."), "expires_in_days"
            )
        token, secret = accounts.create_token(
            db(), user, name, int(days) if days else None, read_only=request.form.get("read_only") == "true"
        )
        db().commit()
    except (Invalid, Conflict) as exc:
        db().rollback()
        return _account_page(form_errors(exc, "name"), status_of(exc), values=request.form.to_dict())
    # The secret is on this answer only: only its digest is kept.
    return _account_page(secret=secret, name=token.name)


@bp.post("/account/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> BaseResponse:
    accounts.revoke_token(db(), signed_in_user(), token_id)
    db().commit()
    return _again(_("The token is revoked: it no longer works."), ".account")


def _account_page(errors: dict[str, str] | None = None, status: int = 200, **extra: Any) -> Page:
    """The account page; `extra`: the `values` typed in the token form, a new token's `secret` and `name`."""
    user, context = signed_in_user(), {"values": {}, **extra}
    tokens = sorted(user.tokens, key=lambda t: t.id)
    page = render_template(
        "admin/account.html", **context, user=user, tokens=tokens, errors=errors or {}, now=utcnow()
    )
    return page, status
