"""Who may do what in the dashboard: the signed-in user, the show or episode a request may open with a
permission, the user's role on a show, the shows they see (docs/dashboard.md)."""

from __future__ import annotations

from flask import request

from podcast_host import accounts, episodes, shows
from podcast_host.errors import NotAuthenticated, refusal
from podcast_host.models import Episode, Show, User
from podcast_host.web import auth
from podcast_host.web.context import db


def signed_in_user() -> User:
    """The dashboard's user (its before_request has sent anyone else to /login already)."""
    user = auth.session_user()
    if user is None:
        raise NotAuthenticated(refusal("Sign in to use the dashboard."))
    return user


def show_for(slug: str, permission: str) -> Show:
    show = shows.find_show(db(), slug)
    accounts.require(db(), auth.session_user(), show, permission)
    return show


def episode_for(episode_id: int, permission: str) -> Episode:
    episode = episodes.get_episode(db(), episode_id)
    accounts.require_episode(db(), auth.session_user(), episode, permission)
    return episode


def role_on(show: Show) -> str | None:
    user = auth.session_user()
    if user is not None and user.is_admin:
        return "admin"
    return accounts.role_on(db(), user, show)


def can(show: Show, permission: str) -> bool:
    return accounts.allows(db(), auth.session_user(), show, permission)


def visible_shows() -> list[tuple[Show, str]]:
    """The shows this user may open, with the user's role on each (admins see every show)."""
    roles = ((show, role_on(show)) for show in shows.list_shows(db()))
    return [(show, role) for show, role in roles if role]


def wants_json() -> bool:
    """The dashboard's scripts ask for JSON; browsers and plain form posts get pages."""
    return request.accept_mimetypes.best == "application/json"
