"""The interface's language (docs/languages.md): Flask-Babel with the gettext catalogs in
podcast_host/translations. Public pages speak their show's language when it is offered, the dashboard its
user's choice, else the browser's; dates, numbers and sizes are formatted by Babel for that language."""

from __future__ import annotations

import functools
from datetime import datetime
from importlib import resources

from babel import Locale, UnknownLocaleError
from babel.dates import get_datetime_format
from flask import Flask, g, request
from flask_babel import Babel, format_date, format_time, get_locale
from flask_babel import gettext as _

from podcast_host.models import Show
from podcast_host.services import Services
from podcast_host.shows import show_zone, time_zones
from podcast_host.web.auth import session_user
from podcast_host.web.context import services

DEFAULT = "en"


def services_of(app: Flask) -> Services:
    found: Services = app.extensions["podcast_host"]
    return found


def init_app(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(resources.files("podcast_host") / "translations")
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT
    Babel(app, locale_selector=_interface_language)
    app.jinja_env.globals.update(
        instance_name=services_of(app).settings.instance_name,
        instance_logo_url=services_of(app).settings.instance_logo_url,
        interface_language=interface_language,
        interface_direction=interface_direction,
        language_name=language_name,
        offered_languages=offered_languages,
        show_languages=show_languages,
        show_time_zones=show_time_zones,
    )
    app.add_template_filter(in_show_zone)


def speak_like(show: Show) -> None:
    """The page being built is the show's: its interface speaks the show's language when that is offered."""
    g.page_language = show.language


def offered_languages() -> tuple[str, ...]:
    return services().settings.languages


def interface_language() -> str:
    """The language code of the interface of this request ("en", "ar", "fr")."""
    return str(get_locale() or DEFAULT)


def interface_direction() -> str:
    """ "rtl" or "ltr", for the interface's language."""
    locale = get_locale()
    return "rtl" if locale is not None and locale.character_order == "right-to-left" else "ltr"


@functools.cache
def language_name(code: str) -> str:
    """A language's name in itself ("العربية", "français") for pickers; the code if Babel knows none."""
    try:
        locale = Locale.parse(code.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return code
    return locale.get_display_name(locale) or code


# The languages a show's picker offers first: the interface's, then the ones podcasts are most often made in.
SHOW_LANGUAGES = (
    "en",
    "ar",
    "fr",
    "es",
    "pt",
    "pt-BR",
    "de",
    "it",
    "nl",
    "tr",
    "fa",
    "ur",
    "he",
    "hi",
    "bn",
    "id",
    "ms",
    "sw",
    "ha",
    "am",
    "ru",
    "uk",
    "pl",
    "ro",
    "el",
    "sv",
    "da",
    "no",
    "fi",
    "cs",
    "hu",
    "zh",
    "ja",
    "ko",
)


def show_languages(current: str | None = None) -> list[str]:
    """The codes a show's language picker lists, the show's own first when it is not among them."""
    codes = list(SHOW_LANGUAGES)
    if current and current not in codes:
        codes.insert(0, current)
    return codes


def _interface_language() -> str:
    offered = offered_languages()
    fallback = DEFAULT if DEFAULT in offered else offered[0]
    page = g.get("page_language")
    if page is not None:
        base = str(page).split("-")[0].lower()
        return base if base in offered else fallback
    if request.blueprint in ("dashboard", "auth", "team_links"):
        user = session_user()
        if user is not None and user.locale in offered:
            return str(user.locale)
    return request.accept_languages.best_match(offered) or fallback


# --- the show's clock ---------------------------------------------------------------------------------------

# The tz database's areas whose zones are named after a place; the rest are old aliases ("US/Eastern", "EST").
ZONE_AREAS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)


@functools.cache
def _places() -> list[str]:
    """The zones named after places, sorted once per process (the tz database does not change under it)."""
    return sorted(zone for zone in time_zones() if zone.partition("/")[0] in ZONE_AREAS)


def show_time_zones(current: str | None = None) -> list[str]:
    """The zones a show's time-zone picker lists: UTC, then the places by name, the show's own if another."""
    places = _places()
    extra = [current] if current and current != "UTC" and current not in places else []
    return ["UTC", *extra, *places]


def in_show_zone(moment: datetime, show: Show) -> str:
    """A moment as the show's newsroom reads it, the zone named: "Nov 2, 2026, 9:00 AM (Africa/Cairo)"."""
    local = moment.astimezone(show_zone(show))
    # Babel joins a medium date and a short time (schedules are to the minute) the language's way.
    pattern = str(get_datetime_format("medium", locale=get_locale())).replace("'", "")
    date, time = format_date(local, "medium", rebase=False), format_time(local, "short", rebase=False)
    when = pattern.replace("{1}", date).replace("{0}", time)
    return str(_("%(time)s (%(zone)s)", time=when, zone=show.time_zone))
