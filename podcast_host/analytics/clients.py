"""Who asked for an episode: a User-Agent read as podcast app, device, operating system, and bot or not.

The podcast-specific answers come from the OPAWG user-agent patterns vendored in data/opawg (its README.md
names the commit; scripts/refresh_opawg.py refreshes it), matched as the OPAWG README says: newlines removed,
then bots, apps, libraries, browsers in that order, the first entry in file order whose pattern matches
wins; devices.json, matched on its own, gives the device. The patterns are JavaScript regexes. Every one
compiles unchanged in Python's `re` today (the tests check each one); should a new one not, the JavaScript
spellings `re` reads otherwise (`(?<name>`, `\\k<name>`, `[^]`) are rewritten first, and a pattern that
still fails is skipped with a logged warning rather than failing every request. Left as is:
`\\d` and `\\w` also match non-ASCII digits and letters in Python, which changes nothing in a User-Agent.

- bot: an OPAWG bot, or a library OPAWG marks "category": "bot" (clients seen mostly on servers: okhttp,
  Go-http-client, Lavf...). Whatever OPAWG files as an app or as another library is no bot, whatever
  crawlerdetect says: it calls some real players crawlers ("github.com" in an open-source player's UA,
  Cronet in YouTube Music's, "feedly" in Feedly's app). crawlerdetect decides for browsers and for the
  User-Agents OPAWG does not know.
- app: the OPAWG entry's name, else ua-parser's user-agent family, else "Unknown" (also when that family
  is only the platform's name, as ua-parser's "Android" for any unknown app on Android).
- os: ua-parser's family, named "iOS", "Android", "Windows", "macOS", "Linux", "ChromeOS", "watchOS",
  "tvOS", "other" (known, none of these: KaiOS, BlackBerry...) or "unknown". Where ua-parser knows none,
  or sees only Linux, the OPAWG device may imply one (an iPhone runs iOS, an ExoPlayer app Android).
- device: the OPAWG device's category: "phone" (OPAWG's mobile: phones, iPods, feature phones), "tablet"
  (a mobile entry named for an iPad or tablet), "computer", "smart speaker", "watch", "tv", "car"; but
  "computer" when the os is a desktop one the device does not run (OPAWG files every CFNetwork client as
  an iPhone, Mac apps too). Without an OPAWG device: ua-parser's (iPhone, iPad, Mac, generic phone or
  tablet), else "computer" for a desktop os, else "unknown".
A bot gets device and os "unknown": OPAWG's devices describe listeners, and bots are never counted.

crawlerdetect and ua-parser are imported, and every pattern compiled, by the first call (once, under a
lock); `classify` keeps its last 8192 answers.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ua_parser import OS, Device

log = logging.getLogger(__name__)

UNKNOWN_APP = "Unknown"
UNKNOWN = "unknown"
# The OPAWG README's order; the first file with a matching entry decides.
MATCH_ORDER = ("bots", "apps", "libraries", "browsers")
CACHE_SIZE = 8192


@dataclass(frozen=True)
class Client:
    """What a User-Agent says; the module docstring lists the words device and os use."""

    app: str  # podcast app, browser or library, e.g. "Apple Podcasts", "Overcast", "Chrome"; else "Unknown"
    device: str  # "phone", "tablet", "computer", "smart speaker", "watch", "tv", "car"; else "unknown"
    os: str  # "iOS", "Android", "Windows", "macOS", "Linux"... else "unknown"
    bot: bool  # a crawler, feed fetcher or monitor: never counted as a download


NO_CLIENT = Client(app=UNKNOWN_APP, device=UNKNOWN, os=UNKNOWN, bot=False)

_DEVICE_BY_CATEGORY = {
    "mobile": "phone",
    "computer": "computer",
    "smart_speaker": "smart speaker",
    "smart_tv": "tv",
    "watch": "watch",
    "auto": "car",
}
# OPAWG files tablets under "mobile"; only the entry's name tells them apart.
_TABLET_NAMES = re.compile(r"iPad|Tablet")
# The OPAWG devices that imply their operating system; the others (smart speakers, TVs, cars) do not.
_OS_BY_DEVICE = {
    "Apple iPhone": "iOS",
    "Apple iPad": "iOS",
    "Apple iPod": "iOS",
    "Apple Watch": "watchOS",
    "Apple TV": "tvOS",
    "Apple Computer": "macOS",
    "Google Chromebook": "ChromeOS",
    "Android Phone": "Android",
    "Android Tablet": "Android",
    "Windows Computer": "Windows",
}
_OS_BY_FAMILY = {
    "iOS": "iOS",
    "Android": "Android",
    "Chromecast Android": "Android",
    "Windows": "Windows",
    "Windows Phone": "Windows",
    "Windows Mobile": "Windows",
    "Mac OS X": "macOS",
    "Mac OS": "macOS",
    "Chrome OS": "ChromeOS",
    "WatchOS": "watchOS",
    "tvOS": "tvOS",
    "ATV OS X": "tvOS",
}
_LINUX_FAMILIES = re.compile(r"Linux|Ubuntu|Debian|Fedora|Red Hat|Gentoo|CentOS|SUSE|Mint|Slackware|Mandriva")
_DESKTOP_OSES = {"Windows", "macOS", "Linux", "ChromeOS"}
_DEVICE_BY_FAMILY = {
    "iPhone": "phone",
    "iPod": "phone",
    "iPad": "tablet",
    "Mac": "computer",
    "Generic Smartphone": "phone",
    "Generic Feature Phone": "phone",
    "Generic Tablet": "tablet",
}
_JS_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
_JS_NAMED_BACKREFERENCE = re.compile(r"\\k<(\w+)>")


@dataclass(frozen=True)
class _Entry:
    """One OPAWG entry, its pattern compiled."""

    name: str
    pattern: re.Pattern[str]
    category: str | None


@dataclass(frozen=True)
class _Patterns:
    """The OPAWG files by name (bots, apps, libraries, browsers, devices) and crawlerdetect's verdict."""

    files: dict[str, tuple[_Entry, ...]]
    is_crawler: Callable[[str], bool]

    def first(self, names: tuple[str, ...], user_agent: str) -> tuple[str, _Entry] | None:
        for name in names:
            for entry in self.files[name]:
                if entry.pattern.search(user_agent):
                    return name, entry
        return None


def python_pattern(pattern: str) -> str:
    """A JavaScript regex spelled the way Python's `re` reads it."""
    pattern = _JS_NAMED_GROUP.sub("(?P<", pattern)
    pattern = _JS_NAMED_BACKREFERENCE.sub(r"(?P=\1)", pattern)
    return pattern.replace("[^]", r"[\s\S]")


def _load_entries(name: str) -> tuple[_Entry, ...]:
    """One vendored OPAWG file's entries in file order, skipping (with a warning) a pattern `re` refuses."""
    text = (
        resources.files("podcast_host.analytics")
        .joinpath("data", "opawg", f"{name}.json")
        .read_text(encoding="utf-8")
    )
    entries = []
    for raw in json.loads(text)["entries"]:
        try:
            with warnings.catch_warnings():
                # "Possible nested set" and the like: today's meaning is JavaScript's, nothing to act on.
                warnings.simplefilter("ignore", FutureWarning)
                pattern = re.compile(python_pattern(raw["pattern"]))
        except re.error as error:
            log.warning(
                "OPAWG %s entry %r skipped: its pattern does not compile (%s)", name, raw["name"], error
            )
            continue
        entries.append(_Entry(raw["name"], pattern, raw.get("category")))
    return tuple(entries)


_lock = threading.Lock()
_patterns: _Patterns | None = None


def _compiled() -> _Patterns:
    """The compiled patterns, built by the first caller while any others wait."""
    global _patterns
    if _patterns is None:
        with _lock:
            if _patterns is None:
                _patterns = _build()
    return _patterns


def _build() -> _Patterns:
    import ua_parser
    from crawlerdetect import CrawlerDetect

    files = {name: _load_entries(name) for name in (*MATCH_ORDER, "devices")}
    crawlers = CrawlerDetect()
    # Both libraries compile their own expressions on first use: pay for that here, once.
    crawlers.is_crawler("Mozilla/5.0")
    ua_parser.parse("Mozilla/5.0")
    return _Patterns(files, lambda user_agent: bool(crawlers.is_crawler(user_agent)))


@lru_cache(maxsize=CACHE_SIZE)
def classify(user_agent: str) -> Client:
    """What a User-Agent header says about the client; an empty one is an unknown listener, not a bot."""
    user_agent = user_agent.replace("\r", "").replace("\n", "").strip()
    if not user_agent:
        return NO_CLIENT
    known = _compiled()
    found = known.first(MATCH_ORDER, user_agent)
    if found is None:
        app = _parsed_app(user_agent)
        bot = known.is_crawler(user_agent)
    else:
        kind, entry = found
        app = entry.name
        bot = _is_bot(kind, entry, user_agent, known)
    if bot:
        return Client(app=app, device=UNKNOWN, os=UNKNOWN, bot=True)
    device = known.first(("devices",), user_agent)
    device_entry = device[1] if device else None
    os = _os(user_agent, device_entry)
    return Client(app=app, device=_device(user_agent, device_entry, os), os=os, bot=False)


def _is_bot(kind: str, entry: _Entry, user_agent: str, known: _Patterns) -> bool:
    if kind == "bots":
        return True
    if kind == "apps":
        return False
    if kind == "libraries":
        return entry.category == "bot"
    return known.is_crawler(user_agent)


def _parsed_app(user_agent: str) -> str:
    from ua_parser import parse_os, parse_user_agent

    parsed = parse_user_agent(user_agent)
    if parsed is None or parsed.family == "Other":
        return UNKNOWN_APP
    platform = parse_os(user_agent)
    # Finding no browser, ua-parser names the platform ("Android"): no app. OPAWG took the real browsers.
    return UNKNOWN_APP if platform and parsed.family == platform.family else parsed.family


def _os(user_agent: str, device: _Entry | None) -> str:
    from ua_parser import parse_os

    named = _os_name(parse_os(user_agent))
    implied = _OS_BY_DEVICE.get(device.name, UNKNOWN) if device else UNKNOWN
    # Android is a Linux too: where ua-parser sees only that (ExoPlayer apps), the device knows better.
    return implied if named in (UNKNOWN, "Linux") and implied != UNKNOWN else named


def _os_name(parsed: OS | None) -> str:
    if parsed is None or parsed.family == "Other":
        return UNKNOWN
    if parsed.family in _OS_BY_FAMILY:
        return _OS_BY_FAMILY[parsed.family]
    return "Linux" if _LINUX_FAMILIES.search(parsed.family) else "other"


def _device(user_agent: str, device: _Entry | None, os: str) -> str:
    if device is not None:
        if os in _DESKTOP_OSES and _OS_BY_DEVICE.get(device.name, os) != os:
            # OPAWG calls every CFNetwork client an iPhone; ua-parser tells the Mac ones apart.
            return "computer"
        if device.category == "mobile" and _TABLET_NAMES.search(device.name):
            return "tablet"
        return _DEVICE_BY_CATEGORY.get(device.category or "", UNKNOWN)
    from ua_parser import parse_device

    return _device_name(parse_device(user_agent), os)


def _device_name(parsed: Device | None, os: str) -> str:
    if parsed is not None and parsed.family in _DEVICE_BY_FAMILY:
        return _DEVICE_BY_FAMILY[parsed.family]
    return "computer" if os in _DESKTOP_OSES else UNKNOWN
