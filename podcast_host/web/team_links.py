"""The one-time links of docs/dashboard.md, "Team and access": `/admin/invitations/<secret>` to join a
show's team (creating the account when the address has none) and `/admin/reset/<secret>` to set a
password. They are opened by someone who may not be signed in, so they live beside the dashboard's
blueprint, outside its sign-in check; web/dashboard_team.py registers them with it. Their addresses hold
the secret, so no error of theirs is logged with its address.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import InternalServerError
from werkzeug.wrappers import Response as BaseResponse

from podcast_host import invitations, user_admin
from podcast_host.errors import Conflict, Invalid, PodcastHostError
from podcast_host.invitations import AlreadyMember, LinkExpired, LinkNotValid, LinkUsed, LinkWithdrawn
from podcast_host.web import auth
from podcast_host.web.context import db, services
from podcast_host.web.dashboard_forms import form_errors
from podcast_host.web.errors import status_of

log = logging.getLogger(__name__)
bp = Blueprint("team_links", __name__, url_prefix="/admin")
LINK_REFUSALS = (LinkNotValid, LinkUsed, LinkExpired, LinkWithdrawn)
# A page and its status.
Page = tuple[str, int]


def link_address(endpoint: str, secret: str) -> str:
    """The absolute one-time link to hand over, on PUBLIC_URL (never the request's Host header)."""
    return f"{services().settings.public_url}{url_for(endpoint, secret=secret)}"


def role_name(role: str) -> str:
    """A role's name in the interface's language."""
    names = {"owner": _("owner"), "editor": _("editor"), "viewer": _("viewer"), "admin": _("administrator")}
    return str(names.get(role, role))


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    # Every page may name a role: the dashboard's lists of shows and members too.
    return {"role_name": role_name}


@bp.before_request
def _check_csrf() -> None:
    auth.check_csrf()


@bp.after_request
def _private(response: BaseResponse) -> BaseResponse:
    response.headers["Cache-Control"] = "no-store"
    # The address holds the link's secret: no page these link to learns it from a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.errorhandler(Exception)
def _error(exc: Exception) -> BaseResponse:
    """Any error on a link page is answered as the app answers it elsewhere, but an unexpected one is logged
    without the page's address: it holds the secret, and Flask's own log line of a 500 names the address."""
    # The app's handlers (web/errors.py), looked up past this one, which would otherwise take every error.
    handler = current_app._find_error_handler(exc, [])
    if handler is not None:
        try:
            return current_app.make_response(current_app.ensure_sync(handler)(exc))
        except Exception as passed_on:  # noqa: BLE001 - web/errors.py raises a database bug on, for a 500
            exc = passed_on
    log.error("Exception on a one-time link page [%s]", request.method, exc_info=exc)
    server_error = InternalServerError(original_exception=exc)
    handler = current_app._find_error_handler(server_error, [])
    answer = current_app.ensure_sync(handler)(server_error) if handler is not None else server_error
    return current_app.make_response(answer)


@bp.route("/invitations/<secret>", methods=["GET", "POST"])
def invitation(secret: str) -> BaseResponse | Page:
    try:
        found = invitations.invitation_for_secret(db(), secret)
    except LINK_REFUSALS as exc:
        return _refused("admin/invitation.html", exc, _invitation_refusal(exc))
    user = auth.session_user()
    if user is not None and user.email != found.email:
        message = _(
            "This invitation is for %(invited)s, and you are signed in as %(email)s. Sign out, then open "
            "the link again.",
            invited=found.email,
            email=user.email,
        )
        return render_template("admin/invitation.html", refusal=message), 403
    if user is None and invitations.has_account(db(), found.email):
        return redirect(url_for("auth.login", next=request.path))
    if request.method == "GET":
        return render_template("admin/invitation.html", invitation=found, errors={}), 200
    show, role, new_user = found.show, found.role, None
    try:
        if user is None:
            new_user = invitations.accept_with_new_account(db(), found, _chosen_password())
        else:
            invitations.accept_invitation(db(), found, user)
        db().commit()
    except (*LINK_REFUSALS, AlreadyMember) as exc:
        db().rollback()
        return _refused("admin/invitation.html", exc, _invitation_refusal(exc))
    except (Invalid, Conflict) as exc:
        db().rollback()
        page = render_template(
            "admin/invitation.html", invitation=found, errors=form_errors(exc, "invitation")
        )
        return page, status_of(exc)
    if new_user is not None:
        auth.start_session(new_user)  # the new account has no other way in yet
    flash(_("Welcome: you are now %(role)s of this show.", role=role_name(role)))
    return redirect(url_for("dashboard.show", slug=show.slug), code=303)


@bp.route("/reset/<secret>", methods=["GET", "POST"])
def reset(secret: str) -> BaseResponse | Page:
    try:
        found = user_admin.reset_for_secret(db(), secret)
    except LINK_REFUSALS as exc:
        return _refused("admin/reset.html", exc, _reset_refusal(exc))
    if request.method == "GET":
        return render_template("admin/reset.html", reset=found, errors={}), 200
    try:
        user_admin.use_password_link(db(), found, _chosen_password())
        db().commit()
    except LINK_REFUSALS as exc:
        db().rollback()
        return _refused("admin/reset.html", exc, _reset_refusal(exc))
    except Invalid as exc:
        db().rollback()
        page = render_template("admin/reset.html", reset=found, errors=form_errors(exc, "password"))
        return page, status_of(exc)
    flash(_("Your password is set. Sign in with it."))
    return redirect(url_for("auth.login"), code=303)


def _chosen_password() -> str:
    """The new password typed twice in a link's form."""
    password = request.form.get("password", "")
    if password != request.form.get("password_again", ""):
        raise Invalid(_("The two passwords differ: type the same one twice."), field="password_again")
    return password


def _refused(template: str, exc: PodcastHostError, message: str) -> Page:
    return render_template(template, refusal=message), status_of(exc)


def _invitation_refusal(exc: PodcastHostError) -> str:
    if isinstance(exc, LinkUsed):
        return str(_("This invitation was accepted already: its link works once."))
    if isinstance(exc, LinkExpired):
        return str(_("This invitation expired. Ask an owner of the show for a new one."))
    if isinstance(exc, LinkWithdrawn):
        return str(
            _(
                "This invitation no longer stands: whoever sent it may no longer add members to this show. "
                "Ask an owner of the show for a new one."
            )
        )
    if isinstance(exc, AlreadyMember):
        return str(
            _(
                "You have a role on this show already, so this invitation changes nothing. An owner of the "
                "show changes roles in its list of members."
            )
        )
    return str(_("This invitation link is not valid: it was revoked, replaced by a newer one, or mistyped."))


def _reset_refusal(exc: PodcastHostError) -> str:
    if isinstance(exc, LinkUsed):
        return str(
            _("This password link was used already: it works once. Ask an administrator for a new one.")
        )
    if isinstance(exc, LinkExpired):
        return str(_("This password link expired. Ask an administrator for a new one."))
    if isinstance(exc, LinkWithdrawn):
        return str(
            _(
                "This password link no longer works: the administrator who made it is no longer one. "
                "Ask an administrator for a new one."
            )
        )
    return str(_("This password link is not valid: it was replaced by a newer one, or mistyped."))
