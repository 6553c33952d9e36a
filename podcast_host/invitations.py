"""Team and access: invitations to a show's team, its members' roles, the one-time links' secrets and
refusals, and each user's own choice of language (docs/dashboard.md, "Team and access"). The instance's
users and their password links, for admins, are user_admin.py.

A link's secret is handed over once (no mail server is assumed: whoever makes it copies it); only its
digest is kept, the way API tokens are (accounts.hash_secret).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import Update, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from podcast_host import accounts
from podcast_host.errors import Conflict, Forbidden, Invalid, NotFound, refusal
from podcast_host.models import MAX_ID, ROLES, Invitation, Membership, Show, User, utcnow

INVITATION_LIFETIME = timedelta(days=7)
# Pending invitations of a show, expired ones included until revoked: enough for any newsroom's team, and a
# bound on the rows its owners can add.
MAX_PENDING_INVITATIONS = 100


class LinkNotValid(NotFound):
    """No link has this secret: mistyped, revoked, or replaced by a newer one."""


class LinkUsed(Conflict):
    """The link did what it was for once already."""


class LinkExpired(Conflict):
    """The link was not used in time."""


class WrongAccount(Forbidden):
    """The invitation is for another e-mail address than the signed-in user's."""


class LinkWithdrawn(Forbidden):
    """Whoever made the link may no longer do what it does (disabled, removed, demoted): it stops working."""


class AlreadyMember(Conflict):
    """The invited user has a role on the show already, given or changed since the invitation was sent."""


def new_secret() -> tuple[str, str]:
    """A secret for a one-time link and the digest kept of it."""
    secret = secrets.token_urlsafe(32)
    return secret, accounts.hash_secret(secret)


def _valid_role(role: str) -> str:
    if role not in ROLES:
        raise Invalid(accounts.role_refusal(role), field="role")
    return role


# --- invitations ----------------------------------------------------------------------------------------


def invite(session: Session, by: User, show: Show, email: str, role: str) -> tuple[Invitation, str]:
    """A pending invitation of `email` to `role` on `show` (owners only) and its link's secret, shown once.

    An earlier pending invitation of the same address to the show is replaced: only the newest link works.
    """
    accounts.require(session, by, show, "manage_members")
    email, role = accounts.normalize_email(email), _valid_role(role)
    accounts.lock_members(session, show)
    user = session.scalar(select(User).where(User.email == email))
    if user is not None and accounts.membership_of(session, show, user) is not None:
        raise Conflict(
            refusal(
                "%(email)s already has a role on this show: change it in the list of members.", email=email
            )
        )
    pending = Invitation.show_id == show.id, Invitation.accepted_at.is_(None)
    session.execute(delete(Invitation).where(*pending, Invitation.email == email))
    held = session.scalar(select(func.count()).select_from(Invitation).where(*pending)) or 0
    if held >= MAX_PENDING_INVITATIONS:
        raise Conflict(
            refusal(
                "This show has %(held)s pending invitations, the most it may have (%(most)s): "
                "revoke those no longer needed first.",
                held=held,
                most=MAX_PENDING_INVITATIONS,
            )
        )
    secret, digest = new_secret()
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
        raise NotFound(refusal("There is no pending invitation %(id)s to this show.", id=invitation_id))
    session.delete(invitation)
    session.flush()


def invitation_for_secret(session: Session, secret: str) -> Invitation:
    """The invitation whose link this is, while it may still be accepted."""
    found = session.scalar(select(Invitation).where(Invitation.token_hash == accounts.hash_secret(secret)))
    if found is None:
        raise LinkNotValid(
            refusal("This invitation link is not valid: it was revoked, replaced or mistyped.")
        )
    if found.accepted_at is not None:
        raise LinkUsed(refusal("This invitation was accepted already."))
    if found.expires_at <= utcnow():
        raise LinkExpired(refusal("This invitation expired: ask an owner of the show for a new one."))
    _check_sender(session, found)
    return found


def _check_sender(session: Session, invitation: Invitation) -> None:
    """LinkWithdrawn unless whoever sent the invitation is enabled and may still add members to the show
    (an admin: is still one); read afresh, not from objects this session may hold."""
    sender = session.execute(
        select(User.is_admin, User.disabled_at).where(User.id == invitation.invited_by)
    ).one_or_none()
    role = session.scalar(
        select(Membership.role).where(
            Membership.show_id == invitation.show_id, Membership.user_id == invitation.invited_by
        )
    )
    may_invite = role is not None and "manage_members" in accounts.PERMISSIONS[role]
    if sender is not None and sender.disabled_at is None and (sender.is_admin or may_invite):
        return
    raise LinkWithdrawn(
        refusal("This invitation no longer stands: whoever sent it may no longer add members.")
    )


def accept_invitation(session: Session, invitation: Invitation, user: User) -> None:
    """Give `user` the invited role, once; only the invited address may accept, only while the sender may
    still invite, and never over a role the user has (AlreadyMember)."""
    if user.email != invitation.email:
        message = refusal(
            "This invitation is for %(invited)s, not for %(email)s.",
            invited=invitation.email,
            email=user.email,
        )
        raise WrongAccount(message)
    if user.disabled_at is not None:
        raise Forbidden(refusal("This account is disabled."))
    # Read after the lock: a removal of the sender, or a role given meanwhile, is seen.
    accounts.lock_members(session, invitation.show)
    _check_sender(session, invitation)
    if accounts.membership_of(session, invitation.show, user) is not None:
        raise AlreadyMember(
            refusal(
                "%(email)s has a role on this show already: an owner changes it in the list of members.",
                email=user.email,
            )
        )
    spend(
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
    taken = Conflict(
        refusal("%(email)s has an account already: sign in to accept the invitation.", email=invitation.email)
    )
    if has_account(session, invitation.email):
        raise taken
    try:
        user = accounts.create_user(session, invitation.email, password)
    except IntegrityError:
        # Another request made the account since the check (two tabs, two clicks); the caller rolls back.
        raise taken from None
    user.invited_through, user.invited_by = invitation.id, invitation.invited_by
    accept_invitation(session, invitation, user)
    return user


def spend(session: Session, mark_used: Update) -> None:
    """Mark a link used, unless another request did so first (two clicks, two tabs): then LinkUsed.

    `mark_used` is a conditional UPDATE (… WHERE used IS NULL) rather than a read then a write, so that
    of two requests at once only one changes the row.
    """
    if session.execute(mark_used).rowcount != 1:  # type: ignore[attr-defined]
        raise LinkUsed(refusal("This link was used already."))


# --- members --------------------------------------------------------------------------------------------


def change_role(session: Session, by: User, show: Show, email: str, role: str) -> None:
    """Change a member's role (owners only); the show keeps an owner (accounts.grant)."""
    accounts.require(session, by, show, "manage_members")
    _valid_role(role)
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or accounts.membership_of(session, show, user) is None:
        # A role for someone new goes through an invitation, which they accept.
        raise NotFound(refusal("%(email)s has no role on %(show)r.", email=email, show=show.slug))
    accounts.grant(session, show, user, role)


def remove_member(session: Session, by: User, show: Show, email: str) -> None:
    """Take a member's role away (owners only); the last owner stays (accounts.remove_member)."""
    accounts.require(session, by, show, "manage_members")
    accounts.remove_member(session, show, email)


# --- one's own account ----------------------------------------------------------------------------------


def choose_language(session: Session, user: User, code: str, offered: tuple[str, ...]) -> None:
    """The dashboard's language for `user`: one of `offered`, or "" for the browser's."""
    if code and code not in offered:
        message = refusal(
            "The language must be one of %(codes)s, not %(code)r.", codes=", ".join(offered), code=code
        )
        raise Invalid(message, field="locale")
    user.locale = code or None
    session.flush()
