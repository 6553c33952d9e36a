"""Listeners' pages: home, show, episode, embed player, chapters JSON, health; and the links that take a show
or an episode elsewhere (podcast apps to subscribe with, places to share, the embed code).

A private show has no pages: they answer 404 as for a show that does not exist, and the home page does not
list it. Only its chapters, which its subscribers' feeds link to, answer a subscriber's token
(docs/private-feeds.md, "Delivery")."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

from podcast_host.chapters import CHAPTERS_MIME
from podcast_host.db import DatabaseUnavailable
from podcast_host.episodes import count_public_episodes, find_episode_by_slug, public_episodes
from podcast_host.errors import NotFound, refusal
from podcast_host.feeds import namespace_values
from podcast_host.feeds.links import Links
from podcast_host.models import Episode, Show, utcnow
from podcast_host.notes import stored_notes_html
from podcast_host.shows import find_show_or_alias, list_shows
from podcast_host.storage import StorageError
from podcast_host.web.context import db, services
from podcast_host.web.i18n import speak_like
from podcast_host.web.media import PRIVATE_CACHING, Access, check_listener, vary_on_session_cookie
from podcast_host.web.person_roles import role_name

bp = Blueprint("pages", __name__)
# chapters.json checks a private show's team as the media route does: its answers vary alike.
bp.after_request(vary_on_session_cookie)


# What the embed code asks of the page it goes into; embed.html is laid out for exactly this size.
EMBED_WIDTH, EMBED_HEIGHT = 480, 120


@dataclass(frozen=True)
class Outlet:
    """Somewhere a listener takes a show or an episode: an app to subscribe with, a place to share it.
    `key` marks its link in the page (data-app, data-share); `name` is what the link says."""

    key: str
    name: str
    url: str


@dataclass(frozen=True)
class Credit:
    """A person the page credits: their name, their role in the page's language, a page about them."""

    name: str
    role: str
    href: str


@dataclass(frozen=True)
class Place:
    """A place the show or episode names, and its OpenStreetMap page when it has one."""

    name: str
    made_here: bool  # rel="creator": where it was made; else what it is about
    map_url: str


@dataclass(frozen=True)
class Clip:
    """A soundbite: the player plays `start` to `end` (seconds)."""

    start: float
    end: float
    title: str


class FrameableResponse(Response):
    """A page other sites may show in a frame (the embed player): it goes out without X-Frame-Options."""

    frameable = True


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    return {"links": Links(services().settings), "notes_html": stored_notes_html}


@bp.app_template_filter("clock")
def clock(seconds: float | int | None) -> str:
    """1:02:03 or 4:05: how players show a duration."""
    total = int(round(seconds or 0))
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@bp.route("/")
def home() -> str:
    listed = [show for show in list_shows(db()) if not show.is_private]
    return render_template("index.html", shows=listed)


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    problems = []
    try:
        services().db.check()
    except DatabaseUnavailable as exc:
        problems.append(str(exc))
    try:
        services().store.check()
    except StorageError as exc:
        problems.append(f"The media store does not answer: {exc}")
    if problems:
        return jsonify({"status": "unavailable", "problems": problems}), 503
    return jsonify({"status": "ok"}), 200


@bp.route("/<show_slug>/")
def show_page(show_slug: str) -> BaseResponse | str:
    show = _show_or_redirect(show_slug, "pages.show_page")
    if isinstance(show, BaseResponse):
        return show
    per_page = services().settings.episodes_per_page
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    now = utcnow()
    pages = max(math.ceil(count_public_episodes(db(), show, now) / per_page), 1)
    if page > pages:
        abort(404)
    episodes = public_episodes(db(), show, now, limit=per_page, offset=(page - 1) * per_page)
    speak_like(show)
    return render_template(
        "show.html",
        show=show,
        episodes=episodes,
        page=page,
        pages=pages,
        subscribe=subscribe_links(show, Links(services().settings).feed(show)),
        credits=credits(namespace_values.persons(show.persons)),
        places=places(show.locations),
    )


@bp.route("/<show_slug>/<episode_slug>/")
def episode_page(show_slug: str, episode_slug: str) -> BaseResponse | str:
    found = _public_episode(show_slug, episode_slug, "pages.episode_page")
    if isinstance(found, BaseResponse):
        return found
    speak_like(found.show)
    links = Links(services().settings)
    return render_template(
        "episode.html",
        show=found.show,
        episode=found,
        cover=found.image_key or found.show.image_key,
        json_ld=_json_ld(found),
        subscribe=subscribe_links(found.show, links.feed(found.show)),
        share=share_links(links.episode_page(found), found.title),
        embed_code=embed_code(links.embed(found), found.title),
        # The same rules as the feed's (docs/feeds.md, "Podcasting 2.0 tags"): the episode's people replace
        # the show's; its places, else the show's; the soundbites that fit its audio.
        credits=credits(namespace_values.credited_persons(found, found.show)),
        places=places(found.locations) or places(found.show.locations),
        clips=clips(found),
    )


@bp.route("/<show_slug>/<episode_slug>/embed")
def embed(show_slug: str, episode_slug: str) -> BaseResponse | str:
    found = _public_episode(show_slug, episode_slug, "pages.embed")
    if isinstance(found, BaseResponse):
        return found
    speak_like(found.show)
    page = render_template(
        "embed.html", show=found.show, episode=found, cover=found.image_key or found.show.image_key
    )
    response = FrameableResponse(page)
    response.headers["Content-Security-Policy"] = "frame-ancestors *"
    return response


@bp.route("/<show_slug>/<episode_slug>/chapters.json")
def chapters(show_slug: str, episode_slug: str) -> BaseResponse:
    # A private show's chapters answer like its media (a current subscriber's token, or its team), checked
    # before anything, a redirect from an old slug included, says more about the show.
    try:
        access = check_listener(find_show_or_alias(db(), show_slug)[0])
    except NotFound:
        # Word for word what a slug nobody has answers: a stranger cannot tell a private show is there.
        raise NotFound(refusal("There is no show %(slug)r.", slug=show_slug)) from None
    found = _public_episode(show_slug, episode_slug, "pages.chapters", listeners=True)
    if isinstance(found, BaseResponse):
        return found
    if not found.chapters:
        raise NotFound("This episode has no chapters.")
    response = Response(json.dumps(found.chapters, ensure_ascii=False), content_type=CHAPTERS_MIME)
    if access is Access.PUBLIC:
        response.headers["Access-Control-Allow-Origin"] = "*"
    else:
        response.headers["Cache-Control"] = PRIVATE_CACHING
    return response


def subscribe_links(show: Show, feed: str) -> list[Outlet]:
    """The show in the directories it is listed in, then the apps that take a feed through a link."""
    outlets = []
    if show.apple_podcasts_url:
        outlets.append(Outlet("apple-podcasts", "Apple Podcasts", show.apple_podcasts_url))
    if show.spotify_url:
        outlets.append(Outlet("spotify", "Spotify", show.spotify_url))
    # These schemes take the feed without its own: browsers would read "https" in "scheme://https://…"
    # as a host name.
    bare = re.sub(r"^https?://", "", feed)
    return [
        *outlets,
        # AntennaPod's web link opens the app where it is installed and explains the app where it is not.
        Outlet(
            "antennapod",
            "AntennaPod",
            f"https://antennapod.org/deeplink/subscribe?url={_param(feed)}&title={_param(show.title)}",
        ),
        Outlet("pocket-casts", "Pocket Casts", f"pktc://subscribe/{bare}"),
        Outlet("overcast", "Overcast", f"overcast://x-callback-url/add?url={_param(feed)}"),
        Outlet("podcast-app", _("Other podcast apps"), f"podcast://{bare}"),
    ]


def credits(persons: list[Mapping[str, Any]]) -> list[Credit]:
    """People as the page credits them, roles named in the page's language."""
    return [
        Credit(
            str(person["name"]), role_name(str(person.get("role") or "host")), _web_link(person.get("href"))
        )
        for person in persons
    ]


def places(values: object) -> list[Place]:
    return [
        Place(str(place["name"]), place.get("rel") == "creator", namespace_values.osm_url(place.get("osm")))
        for place in namespace_values.locations(values)
    ]


def clips(episode: Episode) -> list[Clip]:
    return [
        Clip(
            float(bite["start"]), float(bite["start"]) + float(bite["duration"]), str(bite.get("title") or "")
        )
        for bite in namespace_values.fitting_soundbites(episode)
    ]


def _web_link(value: object) -> str:
    """An http(s) address to link to, or "" (checked when saved already; a page links to nothing else)."""
    text = str(value or "")
    return text if text.startswith(("https://", "http://")) else ""


def share_links(page_url: str, title: str) -> list[Outlet]:
    """Plain links that hand an episode's page and title to a mail program or a social site."""
    url, text = _param(page_url), _param(title)
    return [
        Outlet("email", _("E-mail"), f"mailto:?subject={text}&body={url}"),
        Outlet("x", "X", f"https://x.com/intent/tweet?text={text}&url={url}"),
        Outlet("facebook", "Facebook", f"https://www.facebook.com/sharer/sharer.php?u={url}"),
        Outlet("whatsapp", "WhatsApp", f"https://wa.me/?text={_param(f'{title} {page_url}')}"),
        Outlet("telegram", "Telegram", f"https://t.me/share/url?url={url}&text={text}"),
    ]


def embed_code(embed_url: str, title: str) -> str:
    """The HTML another site pastes to show the episode's player."""
    return (
        f'<iframe src="{escape(embed_url)}" width="{EMBED_WIDTH}" height="{EMBED_HEIGHT}" '
        f'title="{escape(title)}" loading="lazy" style="border:0"></iframe>'
    )


def _param(value: str) -> str:
    """A value percent-encoded whole, reserved characters too, to sit inside another URL."""
    return quote(value, safe="")


def _show_or_redirect(show_slug: str, endpoint: str) -> Show | BaseResponse:
    show, is_alias = find_show_or_alias(db(), show_slug)
    _refuse_private(show, show_slug)
    if is_alias:
        return redirect(url_for(endpoint, show_slug=show.slug), code=301)
    return show


def _public_episode(
    show_slug: str, episode_slug: str, endpoint: str, listeners: bool = False
) -> Episode | BaseResponse:
    """A public episode by its slugs (301 from old ones). A private show's only to `listeners` routes, which
    check the request's token themselves; the others answer 404."""
    show, show_alias = find_show_or_alias(db(), show_slug)
    if not listeners:
        _refuse_private(show, show_slug)
    episode, episode_alias = find_episode_by_slug(db(), show, episode_slug)
    if not episode.is_public_at(utcnow()):
        raise NotFound(f"There is no episode {episode_slug!r} in {show.slug!r}.")
    if show_alias or episode_alias:
        target = url_for(endpoint, show_slug=show.slug, episode_slug=episode.slug)
        # A subscriber's token goes along (it is all a private show's route answers to).
        token = request.args.get("token")
        return redirect(f"{target}?token={_param(token)}" if token else target, code=301)
    return episode


def _refuse_private(show: Show, asked_for: str) -> None:
    """A private show has no pages: the same 404 as for a slug nobody has."""
    if show.is_private:
        raise NotFound(refusal("There is no show %(slug)r.", slug=asked_for))


def _json_ld(episode: Episode) -> str:
    links = Links(services().settings)
    data = {
        "@context": "https://schema.org",
        "@type": "PodcastEpisode",
        "name": episode.title,
        "url": links.episode_page(episode),
        "datePublished": episode.publish_at.isoformat() if episode.publish_at else None,
        "timeRequired": f"PT{int(episode.duration_s or 0)}S",
        "associatedMedia": {
            "@type": "MediaObject",
            "contentUrl": links.enclosure(episode),
            "encodingFormat": episode.enclosure_type,
        },
        "partOfSeries": {
            "@type": "PodcastSeries",
            "name": episode.show.title,
            "url": links.show_page(episode.show),
        },
    }
    # "<" inside a <script> block could end it or open a comment; \u003c keeps the JSON valid and inert.
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
