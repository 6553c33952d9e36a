"""Team and access: invitations to a show's team, one-time password links, accounts made, disabled and
enabled by admins, and each user's own choice of language (docs/dashboard.md, "Team and access").

A link's secret is handed over once (no mail server is assumed: whoever makes it copies it); only its
digest is kept, the way API tokens are (accounts.hash_secret).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import Update, delete, select, update
from sqlalchemy.orm import Session

from podcast_host import accounts
from podcast_host.errors import Conflict, Forbidden, Invalid, NotFound
from podcast_host.models import MAX_ID, ROLES, Invitation, PasswordReset, Show, User, utcnow

INVITATION_LIFETIME = timedelta(days=7)
RESET_LIFETIME = timedelta(hours=24)


class LinkNotValid(NotFound):
    """No link has this secret: mistyped, revoked, or replaced by a newer one."""


class LinkUsed(Conflict):
    """The link did what it was for once already."""


class LinkExpired(Conflict):
    """The link was not used in time."""


class WrongAccount(Forbidden):
    """The invitation is for another e-mail address than the signed-in user's."""


def _new_secret() -> tuple[str, str]:
    """A secret for a link and the digest kept of it."""
    secret = secrets.token_urlsafe(32)
    return secret, accounts.hash_secret(secret)


def _valid_role(role: str) -> str:
    if role not in ROLES:
        raise Invalid(f"The role must be one of {', '.join(ROLES)}, not {role!r}.", field="role")
    return role


# --- invitations ----------------------------------------------------------------------------------------


def invite(session: Session, by: User, show: Show, email: str, role: str) -> tuple[Invitation, str]:
    """A pending invitation of `email` to `role` on `show` (owners only) and its link's secret, shown once.

    An earlier pending invitation of the same address to the show is replaced: only the newest link works.
    """
    accounts.require(session, by, show, "manage_members")
    email, role = accounts.normalize_email(email), _valid_role(role)
    user = session.scalar(select(User).where(User.email == email))
    if user is not None and accounts.membership_of(session, show, user) is not None:
        raise Conflict(f"{email} already has a role on this show: change it in the list of members.")
    session.execute(
        delete(Invitation).where(
            Invitation.show_id == show.id, Invitation.email == email, Invitation.accepted_at.is_(None)
        )
    )
    secret, digest = _new_secret()
    invitation = Invitation(
        show=show,
        email=email,
        role=role,
        token_hash=digest,
        invited_by=by.id,
        expires_at=utcnow() + INVITATION_LIFETIME,
    )
    session.add(invitation)
    session.flush()
    return invitation, secret


def pending_invitations(session: Session, show: Show) -> list[Invitation]:
    """The show's invitations not accepted yet, expired ones included (until revoked), oldest first."""
    query = select(Invitation).where(Invitation.show_id == show.id, Invitation.accepted_at.is_(None))
    return list(session.scalars(query.order_by(Invitation.created_at, Invitation.id)))


def revoke_invitation(session: Session, by: User, show: Show, invitation_id: int) -> None:
    """Delete a pending invitation (owners only): its link stops working."""
    accounts.require(session, by, show, "manage_members")
    invitation = session.get(Invitation, invitation_id) if 1 <= invitation_id <= MAX_ID else None
    if invitation is None or invitation.show_id != show.id or invitation.accepted_at is not None:
        raise NotFound(f"There is no pending invitation {invitation_id} to this show.")
    session.delete(invitation)
    session.flush()


def invitation_for_secret(session: Session, secret: str) -> Invitation:
    """The invitation whose link this is, while it may still be accepted."""
    found = session.scalar(select(Invitation).where(Invitation.token_hash == accounts.hash_secret(secret)))
    if found is None:
        raise LinkNotValid("This invitation link is not valid: it was revoked, replaced or mistyped.")
    if found.accepted_at is not None:
        raise LinkUsed("This invitation was accepted already.")
    if found.expires_at <= utcnow():
        raise LinkExpired("This invitation expired: ask an owner of the show for a new one.")
    return found


def accept_invitation(session: Session, invitation: Invitation, user: User) -> None:
    """Give `user` the invited role, once; only the invited address may accept."""
    if user.email != invitation.email:
        raise WrongAccount(f"This invitation is for {invitation.email}, not for {user.email}.")
    if user.disabled_at is not None:
        raise Forbidden("This account is disabled.")
    _spend(
        session,
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=utcnow()),
    )
    accounts.grant(session, invitation.show, user, invitation.role)


def has_account(session: Session, email: str) -> bool:
    return session.scalar(select(User.id).where(User.email == email.strip().lower())) is not None


def accept_with_new_account(session: Session, invitation: Invitation, password: str) -> User:
    """Create the invited address's account with `password` and accept the invitation for it."""
    if has_account(session, invitation.email):
        raise Conflict(f"{invitation.email} has an account already: sign in to accept the invitation.")
    user = accounts.create_user(session, invitation.email, password)
    accept_invitation(session, invitation, user)
    return user


def _spend(session: Session, mark_used: Update) -> None:
    """Mark a link used, unless another request did so first (two clicks, two tabs): then LinkUsed.

    `mark_used` is a conditional UPDATE (… WHERE used IS NULL) rather than a read then a write, so that
    of two requests at once only one changes the row.
    """
    if session.execute(mark_used).rowcount != 1:  # type: ignore[attr-defined]
        raise LinkUsed("This link was used already.")


# --- members --------------------------------------------------------------------------------------------


def change_role(session: Session, by: User, show: Show, email: str, role: str) -> None:
    """Change a member's role (owners only); the show keeps an owner (accounts.grant)."""
    accounts.require(session, by, show, "manage_members")
    _valid_role(role)
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or accounts.membership_of(session, show, user) is None:
        # A role for someone new goes through an invitation, which they accept.
        raise NotFound(f"{email} has no role on {show.slug!r}.")
    accounts.grant(session, show, user, role)


def remove_member(session: Session, by: User, show: Show, email: str) -> None:
    """Take a member's role away (owners only); the last owner stays (accounts.remove_member)."""
    accounts.require(session, by, show, "manage_members")
    accounts.remove_member(session, show, email)


# --- users, for admins ----------------------------------------------------------------------------------


def require_admin(user: User | None) -> User:
    """The user, if an admin of this instance; Forbidden otherwise."""
    if user is None or not user.is_admin:
        raise Forbidden("Only an administrator of this site may do that.")
    return user


def list_users(session: Session, by: User) -> list[User]:
    require_admin(by)
    return list(session.scalars(select(User).order_by(User.email)))


def find_user(session: Session, by: User, user_id: int) -> User:
    require_admin(by)
    user = session.get(User, user_id) if 1 <= user_id <= MAX_ID else None
    if user is None:
        raise NotFound(f"There is no user {user_id}.")
    return user


def create_account(session: Session, by: User, email: str, admin: bool = False) -> tuple[User, str]:
    """A new account without a password (admins only) and the secret of its "set your password" link."""
    require_admin(by)
    user = accounts.create_user(session, email, None, admin=admin)
    return user, make_password_link(session, by, user)[1]


def disable_user(session: Session, by: User, user: User) -> None:
    """Stop `user` signing in and using tokens (admins only); their sessions end, shows and roles stay."""
    require_admin(by)
    if user.id == by.id:
        raise Conflict("You cannot disable your own account: ask another administrator.")
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    accounts.end_sessions(session, user)


def enable_user(session: Session, by: User, user: User) -> None:
    require_admin(by)
    user.disabled_at = None
    session.flush()


# --- password links -------------------------------------------------------------------------------------


def make_password_link(session: Session, by: User, user: User) -> tuple[PasswordReset, str]:
    """A one-time link for `user` to set a new password (admins only), and its secret, shown once.

    The user's earlier unused links stop working; the current password keeps working until this is used.
    """
    require_admin(by)
    session.execute(
        delete(PasswordReset).where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
    )
    secret, digest = _new_secret()
    reset = PasswordReset(user=user, token_hash=digest, expires_at=utcnow() + RESET_LIFETIME)
    session.add(reset)
    session.flush()
    return reset, secret


def reset_for_secret(session: Session, secret: str) -> PasswordReset:
    """The password link with this secret, while it may still be used."""
    digest = accounts.hash_secret(secret)
    found = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == digest))
    if found is None:
        raise LinkNotValid("This password link is not valid: it was replaced by a newer one or mistyped.")
    if found.used_at is not None:
        raise LinkUsed("This password link was used already.")
    if found.expires_at <= utcnow():
        raise LinkExpired("This password link expired: ask an administrator for a new one.")
    return found


def use_password_link(session: Session, reset: PasswordReset, password: str) -> User:
    """Set the user's new password through the link, once; every session of theirs ends."""
    accounts.check_password(password)
    _spend(
        session,
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=utcnow()),
    )
    accounts.set_password(session, reset.user, password)
    return reset.user


# --- one's own account ----------------------------------------------------------------------------------


def choose_language(session: Session, user: User, code: str, offered: tuple[str, ...]) -> None:
    """The dashboard's language for `user`: one of `offered`, or "" for the browser's."""
    if code and code not in offered:
        raise Invalid(f"The language must be one of {', '.join(offered)}, not {code!r}.", field="locale")
    user.locale = code or None
    session.flush()
