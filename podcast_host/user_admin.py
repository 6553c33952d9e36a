"""The instance's users, for its admins (docs/dashboard.md, "Team and access"): accounts made without a
password, disabled and enabled, and the one-time links with which a user sets a password. Only admins who
are still enabled stand behind a link; the last enabled admin stays.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from podcast_host import accounts
from podcast_host.errors import Conflict, Forbidden, NotFound, refusal
from podcast_host.invitations import LinkExpired, LinkNotValid, LinkUsed, LinkWithdrawn, new_secret, spend
from podcast_host.models import MAX_ID, Invitation, PasswordReset, User, utcnow

RESET_LIFETIME = timedelta(hours=24)
# Links one admin has made and that were not used yet, expired ones included until revoked: enough to bring
# a newsroom on board in a day, and a bound on the rows one admin can add.
MAX_PENDING_PASSWORD_LINKS = 20


def require_admin(user: User | None) -> User:
    """The user, if an admin of this instance; Forbidden otherwise."""
    if user is None or not user.is_admin:
        raise Forbidden(refusal("Only an administrator of this site may do that."))
    return user


def list_users(session: Session, by: User) -> list[User]:
    require_admin(by)
    return list(session.scalars(select(User).order_by(User.email)))


def find_user(session: Session, by: User, user_id: int) -> User:
    require_admin(by)
    user = session.get(User, user_id) if 1 <= user_id <= MAX_ID else None
    if user is None:
        raise NotFound(refusal("There is no user %(id)s.", id=user_id))
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
        raise Conflict(refusal("You cannot disable your own account: ask another administrator."))
    _lock_admins(session)
    others = select(User.id).where(User.is_admin, User.disabled_at.is_(None), User.id != user.id)
    if user.is_admin and session.scalar(others.limit(1)) is None:
        raise Conflict(
            refusal("%(email)s is the last enabled administrator: this site needs one.", email=user.email)
        )
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    # What they sent or were given stops working with them.
    sent = Invitation.invited_by == user.id, Invitation.accepted_at.is_(None)
    session.execute(delete(Invitation).where(*sent))
    made_by_or_for = or_(PasswordReset.made_by == user.id, PasswordReset.user_id == user.id)
    session.execute(delete(PasswordReset).where(made_by_or_for, PasswordReset.used_at.is_(None)))
    accounts.end_sessions(session, user)


def _lock_admins(session: Session) -> None:
    """Hold the admins' rows until the transaction ends, so that two admins disabling each other at once
    are taken one after the other and the second sees the first's change (as accounts.lock_members)."""
    if session.get_bind().dialect.name == "sqlite":
        # No row locks: a no-op UPDATE takes the database's write lock.
        session.execute(
            update(User)
            .where(User.is_admin)
            .values(is_admin=User.is_admin)
            .execution_options(synchronize_session=False)
        )
    else:
        session.execute(select(User.id).where(User.is_admin).with_for_update())


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
    made = select(func.count()).select_from(PasswordReset)
    held = session.scalar(made.where(PasswordReset.made_by == by.id, PasswordReset.used_at.is_(None))) or 0
    if held >= MAX_PENDING_PASSWORD_LINKS:
        raise Conflict(
            refusal(
                "You have %(held)s password links not used yet, the most one administrator may have "
                "(%(most)s): revoke those no longer needed first.",
                held=held,
                most=MAX_PENDING_PASSWORD_LINKS,
            )
        )
    secret, digest = new_secret()
    reset = PasswordReset(user=user, made_by=by.id, token_hash=digest, expires_at=utcnow() + RESET_LIFETIME)
    session.add(reset)
    session.flush()
    return reset, secret


def pending_password_links(session: Session, by: User) -> list[PasswordReset]:
    """Password links not used yet, expired ones included (until revoked), oldest first (admins only)."""
    require_admin(by)
    query = select(PasswordReset).where(PasswordReset.used_at.is_(None))
    return list(session.scalars(query.order_by(PasswordReset.created_at, PasswordReset.id)))


def revoke_password_link(session: Session, by: User, reset_id: int) -> None:
    """Delete a password link not used yet (admins only): it stops working."""
    require_admin(by)
    reset = session.get(PasswordReset, reset_id) if 1 <= reset_id <= MAX_ID else None
    if reset is None or reset.used_at is not None:
        raise NotFound(refusal("There is no pending password link %(id)s.", id=reset_id))
    session.delete(reset)
    session.flush()


def reset_for_secret(session: Session, secret: str) -> PasswordReset:
    """The password link with this secret, while it may still be used."""
    digest = accounts.hash_secret(secret)
    found = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == digest))
    if found is None:
        raise LinkNotValid(
            refusal("This password link is not valid: it was replaced by a newer one or mistyped.")
        )
    if found.used_at is not None:
        raise LinkUsed(refusal("This password link was used already."))
    if found.expires_at <= utcnow():
        raise LinkExpired(refusal("This password link expired: ask an administrator for a new one."))
    _check_maker(session, found)
    return found


def _check_maker(session: Session, reset: PasswordReset) -> None:
    """LinkWithdrawn unless the admin who made the link is still an enabled admin, read afresh."""
    maker = select(User.id).where(User.id == reset.made_by, User.is_admin, User.disabled_at.is_(None))
    if reset.made_by is None or session.scalar(maker) is None:
        raise LinkWithdrawn(
            refusal("This password link no longer works: whoever made it is no administrator now.")
        )


def use_password_link(session: Session, reset: PasswordReset, password: str) -> User:
    """Set the user's new password through the link, once, while its maker is an enabled admin; every
    session of the user ends."""
    accounts.check_password(password)
    _check_maker(session, reset)
    spend(
        session,
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=utcnow()),
    )
    accounts.set_password(session, reset.user, password)
    return reset.user
