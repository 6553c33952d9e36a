"""Users, API tokens and per-show roles: who may do what."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from podcast_host.errors import Conflict, Forbidden, Invalid, NotAuthenticated, NotFound
from podcast_host.models import ROLES, ApiToken, Membership, Show, User, utcnow

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "ph_"

# What each role may do on a show (SPEC §6); admins may do everything everywhere.
PERMISSIONS = {
    "owner": {"read", "edit_episodes", "edit_show", "manage_members", "delete_show"},
    "editor": {"read", "edit_episodes", "edit_show"},
    "viewer": {"read"},
}


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise Invalid(f"{email!r} is not an email address.", field="email")
    return email


def create_user(session: Session, email: str, password: str | None, admin: bool = False) -> User:
    email = normalize_email(email)
    if session.scalar(select(User).where(User.email == email)):
        raise Conflict(f"A user with the email {email} already exists.")
    if password is not None and len(password) < 8:
        raise Invalid("The password must have at least 8 characters.", field="password")
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
        raise NotFound(f"There is no user with the email {email}.")
    return user


def authenticate(session: Session, email: str, password: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.password_hash or not check_password_hash(user.password_hash, password):
        raise NotAuthenticated("The email or the password is wrong.")
    return user


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new API token; the secret is returned once and only its hash is kept."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name.strip()[:200], token_hash=_hash_token(secret))
    session.add(token)
    session.flush()
    return token, secret


def user_for_token(session: Session, secret: str) -> User:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(secret.strip())))
    if token is None:
        raise NotAuthenticated("The API token is not valid (revoked or mistyped).")
    token.last_used_at = utcnow()
    return token.user


def role_on(session: Session, user: User | None, show: Show) -> str | None:
    if user is None:
        return None
    if user.is_admin:
        return "owner"
    return session.scalar(
        select(Membership.role).where(Membership.show_id == show.id, Membership.user_id == user.id)
    )


def require(session: Session, user: User | None, show: Show, permission: str) -> None:
    """Raise NotAuthenticated without a user, Forbidden when the user's role lacks the permission."""
    if user is None:
        raise NotAuthenticated("Sign in or send an API token.")
    role = role_on(session, user, show)
    if role is None or permission not in PERMISSIONS[role]:
        raise Forbidden(f"You may not do that on the show {show.slug!r}.")


def membership_of(session: Session, show: Show, user: User) -> Membership | None:
    return session.scalar(
        select(Membership).where(Membership.show_id == show.id, Membership.user_id == user.id)
    )


def grant(session: Session, show: Show, user: User, role: str) -> Membership:
    """Give `user` a role on `show`; a show never loses its last owner this way."""
    if role not in ROLES:
        raise Invalid(f"The role must be one of {', '.join(ROLES)}, not {role!r}.", field="role")
    membership = membership_of(session, show, user)
    if membership is not None and membership.role == "owner" and role != "owner":
        _keep_an_owner(session, show, user)
    if membership is None:
        membership = Membership(show=show, user=user, role=role)
        session.add(membership)
    membership.role = role
    session.flush()
    return membership


def remove_member(session: Session, show: Show, user: User) -> None:
    membership = membership_of(session, show, user)
    if membership is None:
        raise NotFound(f"{user.email} has no role on {show.slug!r}.")
    if membership.role == "owner":
        _keep_an_owner(session, show, user)
    session.delete(membership)
    session.flush()


def _keep_an_owner(session: Session, show: Show, leaving: User) -> None:
    others = select(Membership.id).where(
        Membership.show_id == show.id, Membership.role == "owner", Membership.user_id != leaving.id
    )
    if session.scalar(others) is None:
        raise Conflict(f"{show.slug!r} needs an owner: make someone else owner first.")


def revoke_token(session: Session, user: User, token_id: int) -> None:
    """Delete one of the user's own tokens; someone else's is as good as missing."""
    token = session.get(ApiToken, token_id) if 1 <= token_id <= 2**31 - 1 else None
    if token is None or token.user_id != user.id:
        raise NotFound(f"You have no token {token_id}.")
    session.delete(token)
    session.flush()
