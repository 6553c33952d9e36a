"""Users, API tokens and per-show roles: who may do what."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from functools import cache

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from podcast_host.errors import Conflict, Forbidden, Invalid, NotAuthenticated, NotFound, refusal
from podcast_host.models import MAX_ID, ROLES, ApiToken, Episode, Invitation, Membership, Show, User, utcnow

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# 320: the longest address SMTP allows (RFC 5321 §4.5.3.1), and the users.email column.
MAX_EMAIL_LENGTH = 320
MIN_PASSWORD_LENGTH = 8
# Long enough for any passphrase; longer input is refused before it is hashed or kept anywhere.
MAX_PASSWORD_LENGTH = 1024
TOKEN_PREFIX = "ph_"
MAX_TOKEN_DAYS = 3650
MAX_TOKEN_NAME_LENGTH = 200
# Tokens one user may hold, expired ones included until revoked: enough for every laptop, CI job and
# script, and a bound on the rows a leaked token can add.
MAX_TOKENS_PER_USER = 100

# What each role may do on a show (docs/api.md, "Members and roles"); admins may do everything everywhere.
PERMISSIONS = {
    "owner": {
        "read",
        "edit_episodes",
        "edit_show",
        "move_show",
        "manage_members",
        "delete_show",
        # A private show's downloads per subscriber (docs/private-feeds.md, "Downloads per subscriber").
        "subscriber_downloads",
    },
    "editor": {"read", "edit_episodes", "edit_show"},
    "viewer": {"read"},
}
# Show fields that need "move_show": where the show lives (its slug, the host its feed moved to) and what
# proves its ownership to podcast platforms when the feed moves hosts (itunes:email, podcast:locked owner=),
# and who may hear it at all (public or private).
OWNER_ONLY_SHOW_FIELDS = ("slug", "moved_to_url", "email", "locked", "access", "txt", "block")


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.match(email):
        shown = email if len(email) <= MAX_EMAIL_LENGTH else email[:40] + "…"
        raise Invalid(refusal("%(address)r is not an email address.", address=shown), field="email")
    return email


def check_password(password: str, field: str = "password") -> str:
    """A password that may be stored: MIN_PASSWORD_LENGTH to MAX_PASSWORD_LENGTH characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        message = refusal("The password must have at least %(least)s characters.", least=MIN_PASSWORD_LENGTH)
        raise Invalid(message, field=field)
    if len(password) > MAX_PASSWORD_LENGTH:
        message = refusal("The password may have at most %(most)s characters.", most=MAX_PASSWORD_LENGTH)
        raise Invalid(message, field=field)
    return password


def create_user(session: Session, email: str, password: str | None, admin: bool = False) -> User:
    email = normalize_email(email)
    if session.scalar(select(User).where(User.email == email)):
        raise Conflict(refusal("A user with the email %(email)s already exists.", email=email))
    if password is not None:
        check_password(password)
    user = User(
        email=email,
        password_hash=generate_password_hash(password) if password else None,
        is_admin=admin,
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(refusal("There is no user with the email %(email)s.", email=email))
    return user


def authenticate(session: Session, email: str, password: str) -> User:
    """The user with this email and password; the refusal takes as long whether or not the email has an
    account, so the time of an answer does not tell which addresses have one."""
    wrong = NotAuthenticated(refusal("The email or the password is wrong."))
    if len(email) > MAX_EMAIL_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        raise wrong  # never a stored password: it cannot match, and hashing it would cost for nothing
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.password_hash:
        check_password_hash(_decoy_hash(), password)
        raise wrong
    if not check_password_hash(user.password_hash, password):
        raise wrong
    return user


@cache
def _decoy_hash() -> str:
    """A hash of the same method and cost as stored ones, checked when there is no password to check."""
    return generate_password_hash(secrets.token_urlsafe(16))


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """A user's own change: the current password is needed, and every browser session of theirs ends."""
    if not user.password_hash:
        raise Forbidden(
            refusal(
                "You have no password yet: the operator sets the first one with `podcast-host user password`."
            )
        )
    if len(current) > MAX_PASSWORD_LENGTH or not check_password_hash(user.password_hash, current):
        raise Forbidden(refusal("The current password is wrong."))
    set_password(session, user, new, field="new_password")


def set_password(session: Session, user: User, password: str, field: str = "password") -> None:
    """Store a new password and end every browser session of the user."""
    user.password_hash = generate_password_hash(check_password(password, field=field))
    end_sessions(session, user)


def end_sessions(session: Session, user: User) -> None:
    """Every session cookie of `user` made before now stops working (see web/auth.py)."""
    user.session_generation += 1
    session.flush()


def hash_secret(secret: str) -> str:
    """What is kept of a one-time secret (an API token, an invitation or password link): its sha256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    session: Session,
    user: User,
    name: str = "",
    expires_in_days: int | None = None,
    read_only: bool = False,
    made_with: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """A new API token; the secret is returned once and only its hash is kept.

    A token made with another token (`made_with`) gets no more than that one has: it expires no later and
    is read-only if that one is, so a short-lived or leaked token cannot mint a lasting one.
    """
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        message = refusal(
            "A token lasts from 1 to %(most)s days, not %(days)s.", most=MAX_TOKEN_DAYS, days=expires_in_days
        )
        raise Invalid(message, field="expires_in_days")
    held = session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id)) or 0
    if held >= MAX_TOKENS_PER_USER:
        raise Conflict(
            refusal(
                "You already have %(held)s API tokens, the most one account may hold (%(most)s): "
                "revoke those you no longer use first.",
                held=held,
                most=MAX_TOKENS_PER_USER,
            )
        )
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    if made_with is not None:
        if made_with.expires_at is not None:
            expires_at = min(expires_at or made_with.expires_at, made_with.expires_at)
        # The API refuses a read-only token before it gets here; kept so no other caller can widen one.
        read_only = read_only or made_with.read_only
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name.strip()[:MAX_TOKEN_NAME_LENGTH],
        token_hash=hash_secret(secret),
        expires_at=expires_at,
        read_only=read_only,
    )
    session.add(token)
    session.flush()
    return token, secret


def token_for_secret(session: Session, secret: str) -> ApiToken:
    """The live token with this secret, its use recorded; NotAuthenticated when unknown, expired or its
    user disabled."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret.strip())))
    if token is None:
        raise NotAuthenticated("The API token is not valid (revoked or mistyped).")
    if token.expires_at is not None and token.expires_at <= utcnow():
        raise NotAuthenticated(f"The API token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC.")
    if token.user.disabled_at is not None:
        raise NotAuthenticated("The account of this API token is disabled.")
    token.last_used_at = utcnow()
    return token


def role_on(session: Session, user: User | None, show: Show) -> str | None:
    if user is None:
        return None
    if user.is_admin:
        return "owner"
    return session.scalar(
        select(Membership.role).where(Membership.show_id == show.id, Membership.user_id == user.id)
    )


def require_episode(session: Session, user: User | None, episode: Episode, permission: str) -> None:
    """Like `require`, but an episode of a show the user has no role on is missing (NotFound), so its
    answer names no show and tells nothing a stranger could not learn from an unused id."""
    if user is None:
        raise NotAuthenticated(refusal("Sign in or send an API token."))
    role = role_on(session, user, episode.show)
    if role is None:
        raise NotFound(refusal("There is no episode %(id)s.", id=episode.id))
    if permission not in PERMISSIONS[role]:
        raise Forbidden(refusal("You may not do that on the show %(slug)r.", slug=episode.show.slug))


def require(session: Session, user: User | None, show: Show, permission: str) -> None:
    """Raise NotAuthenticated without a user, Forbidden when the user's role lacks the permission; a private
    show is unknown (NotFound) to whoever has no role on it, as it is to the public."""
    if user is None:
        raise NotAuthenticated(refusal("Sign in or send an API token."))
    role = role_on(session, user, show)
    if role is None and show.is_private:
        raise NotFound(refusal("There is no show %(slug)r.", slug=show.slug))
    if role is None or permission not in PERMISSIONS[role]:
        raise Forbidden(refusal("You may not do that on the show %(slug)r.", slug=show.slug))


def allows(session: Session, user: User | None, show: Show, permission: str) -> bool:
    role = role_on(session, user, show)
    return role is not None and permission in PERMISSIONS[role]


def membership_of(session: Session, show: Show, user: User) -> Membership | None:
    return session.scalar(
        select(Membership).where(Membership.show_id == show.id, Membership.user_id == user.id)
    )


def role_refusal(role: str) -> str:
    """The refusal of a role that is none of ROLES, written out in the sentence so that each language names
    them in its own words."""
    return refusal("The role must be one of owner, editor, viewer, not %(role)r.", role=role)


def grant(session: Session, show: Show, user: User, role: str) -> Membership:
    """Give `user` a role on `show`; a show never loses its last owner this way."""
    if role not in ROLES:
        raise Invalid(role_refusal(role), field="role")
    lock_members(session, show)
    membership = membership_of(session, show, user)
    if membership is not None and membership.role == "owner" and role != "owner":
        _keep_an_owner(session, show, user)
    if membership is None:
        membership = Membership(show=show, user=user, role=role)
        session.add(membership)
    membership.role = role
    _withdraw_invitations(session, show, user, sent_too=role != "owner")
    session.flush()
    return membership


def remove_member(session: Session, show: Show, email: str) -> None:
    """Take the role of `email` away; an address without an account reads like one without a role."""
    email = email.strip().lower()
    lock_members(session, show)
    user = session.scalar(select(User).where(User.email == email))
    membership = membership_of(session, show, user) if user is not None else None
    if user is None or membership is None:
        raise NotFound(refusal("%(email)s has no role on %(show)r.", email=email, show=show.slug))
    if membership.role == "owner":
        _keep_an_owner(session, show, user)
    session.delete(membership)
    _withdraw_invitations(session, show, user, sent_too=True)
    session.flush()


def _withdraw_invitations(session: Session, show: Show, user: User, sent_too: bool) -> None:
    """Delete the show's pending invitations that no longer stand once `user`'s role changed: those to their
    address, which would undo the change when accepted, and with `sent_too` those they sent, unless they
    are an admin: they may add members no more (docs/dashboard.md, "Team and access")."""
    stale = Invitation.email == user.email
    if sent_too and not user.is_admin:
        stale = or_(stale, Invitation.invited_by == user.id)
    pending = Invitation.show_id == show.id, Invitation.accepted_at.is_(None)
    session.execute(delete(Invitation).where(*pending, stale))


def lock_members(session: Session, show: Show) -> None:
    """Hold the show's row until the transaction ends, so that changes to its members happen one at a time.

    Without it two owners removing each other at once both see "another owner remains" and both go. On
    PostgreSQL the row is locked (SELECT … FOR UPDATE); SQLite has no row locks, so a no-op UPDATE takes the
    database's write lock, and every check after it reads what the last writer committed.
    """
    if session.get_bind().dialect.name == "sqlite":
        # Setting the slug to itself changes nothing; `updated_at` is named so its onupdate does not fire.
        session.execute(
            update(Show)
            .where(Show.id == show.id)
            .values(slug=Show.slug, updated_at=Show.updated_at)
            .execution_options(synchronize_session=False)
        )
    else:
        session.execute(select(Show.id).where(Show.id == show.id).with_for_update())


def _keep_an_owner(session: Session, show: Show, leaving: User) -> None:
    others = select(Membership.id).where(
        Membership.show_id == show.id, Membership.role == "owner", Membership.user_id != leaving.id
    )
    if session.scalar(others) is None:
        raise Conflict(refusal("%(show)r needs an owner: make someone else owner first.", show=show.slug))


def revoke_token(session: Session, user: User, token_id: int) -> None:
    """Delete one of the user's own tokens; someone else's is as good as missing."""
    token = session.get(ApiToken, token_id) if 1 <= token_id <= MAX_ID else None
    if token is None or token.user_id != user.id:
        raise NotFound(refusal("You have no token %(id)s.", id=token_id))
    session.delete(token)
    session.flush()
