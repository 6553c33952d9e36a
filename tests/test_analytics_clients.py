"""User-Agents read as app, device, OS and bot: OPAWG's own examples, crawlers, and ua-parser's fallback."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
from crawlerdetect import CrawlerDetect

from podcast_host.analytics.clients import CACHE_SIZE, NO_CLIENT, Client, classify, python_pattern

CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def opawg(name: str) -> list[dict[str, Any]]:
    text = resources.files("podcast_host.analytics").joinpath("data", "opawg", f"{name}.json").read_text()
    entries: list[dict[str, Any]] = json.loads(text)["entries"]
    return entries


def misread(name: str, is_bot: Callable[[dict[str, Any]], bool]) -> list[tuple[str, str, Client]]:
    """The examples of an OPAWG file that do not classify as their own entry, bot or not as is_bot says."""
    wrong = []
    examples = [(entry, example) for entry in opawg(name) for example in entry.get("examples", [])]
    assert len(examples) > 50, f"the vendored {name}.json should carry its examples"
    for entry, example in examples:
        client = classify(example)
        if (client.app, client.bot) != (entry["name"], is_bot(entry)):
            wrong.append((entry["name"], example, client))
    return wrong


def test_every_opawg_app_example_is_that_app_and_no_bot() -> None:
    assert misread("apps", lambda entry: False) == []


def test_every_opawg_bot_example_is_a_bot() -> None:
    assert misread("bots", lambda entry: True) == []


def test_libraries_are_bots_when_opawg_files_them_as_bots() -> None:
    assert misread("libraries", lambda entry: entry.get("category") == "bot") == []


def test_every_opawg_pattern_compiles_in_python() -> None:
    for name in ("bots", "apps", "libraries", "browsers", "devices"):
        for entry in opawg(name):
            re.compile(python_pattern(entry["pattern"]))


@pytest.mark.parametrize(
    ("user_agent", "app"),
    [
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", "Googlebot"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "Microsoft Bingbot"),
        ("curl/8.4.0", "curl"),
        (
            "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 16 subscribers; like FeedFetcher-Google)",
            "Feedly",
        ),
        ("python-requests/2.31.0", "python-requests"),
        ("okhttp/4.12.0", "okhttp"),  # a library OPAWG files as a bot
    ],
)
def test_crawlers_and_fetchers_are_bots(user_agent: str, app: str) -> None:
    assert classify(user_agent) == Client(app=app, device="unknown", os="unknown", bot=True)


def test_a_crawler_opawg_does_not_list_is_a_bot_by_crawlerdetect() -> None:
    client = classify("Mozilla/5.0 (compatible; ListenCrawler/1.0; +http://example.com/crawler)")
    assert client.bot


@pytest.mark.parametrize(
    "user_agent",
    [
        "feedly/81.0.1 CFNetwork/1206 Darwin/20.1.0",  # Feedly's app, not its fetcher
        "PodcastAddict/v5 ( https://podcastaddict.com/; Android podcast app)",
        "Anytime/1.2.1 b74 (phone;android QP1A.190711.020.G965USQU9FVB2) "
        "https://github.com/amugofjava/anytime_podcast_player",
    ],
)
def test_a_podcast_app_is_no_bot_even_when_crawlerdetect_says_so(user_agent: str) -> None:
    assert CrawlerDetect().is_crawler(user_agent)
    assert not classify(user_agent).bot


def test_desktop_chrome_is_a_listener_on_a_computer() -> None:
    assert classify(CHROME_ON_WINDOWS) == Client(app="Chrome", device="computer", os="Windows", bot=False)


@pytest.mark.parametrize(
    ("device_part", "device", "os"),
    [
        ("iPhone; U; CPU OS 16_5 like Mac OS X; en_us", "phone", "iOS"),
        ("iPad; U; CPU OS 13_1_2 like Mac OS X; en_us", "tablet", "iOS"),
        ("HomePod; U; CPU OS 12_4 like Mac OS X; en_us", "smart speaker", "iOS"),
        ("Apple TV; U; CPU OS 13_0 like Mac OS X; en_us", "tv", "tvOS"),
        ("Macintosh; U; Intel Mac OS X 10_15; en_us", "computer", "macOS"),
    ],
)
def test_apple_core_media_gives_the_apple_device(device_part: str, device: str, os: str) -> None:
    client = classify(f"AppleCoreMedia/1.0.0.20F66 ({device_part})")
    assert client == Client(app="AppleCoreMedia", device=device, os=os, bot=False)


def test_android_pocket_casts_is_pocket_casts_on_android() -> None:
    client = classify("Pocket Casts/7.58 (Linux; Android 14; Pixel 8)")
    assert client == Client(app="Pocket Casts", device="phone", os="Android", bot=False)


def test_mac_apps_on_cfnetwork_are_computers_not_iphones() -> None:
    # OPAWG files every CFNetwork client as an iPhone; ua-parser reads the x86_64 as a Mac.
    client = classify("Menucast/1.4 CFNetwork/720.1.1 Darwin/14.0.0 (x86_64)")
    assert (client.device, client.os) == ("computer", "macOS")


def test_an_unknown_player_falls_back_to_ua_parser() -> None:
    assert classify("SomeNewPlayer/1.0 (Linux; Android 14)") == Client(
        app="Unknown", device="phone", os="Android", bot=False
    )
    assert classify("SomeNewPlayer/2.1 CFNetwork/1410.0.3 Darwin/22.6.0") == Client(
        app="SomeNewPlayer", device="phone", os="iOS", bot=False
    )


@pytest.mark.parametrize("user_agent", ["", " ", "\t", "\r\n"])
def test_an_empty_user_agent_is_an_unknown_listener(user_agent: str) -> None:
    assert (
        classify(user_agent) == NO_CLIENT == Client(app="Unknown", device="unknown", os="unknown", bot=False)
    )


def test_newlines_are_removed_before_matching() -> None:
    assert classify("Overcast\n/3.0 (+http://overcast.fm/; iOS podcast app)").app == "Overcast"


def test_javascript_spellings_are_translated() -> None:
    assert re.fullmatch(python_pattern(r"(?<v>\d+)-\k<v>"), "12-12")
    assert re.fullmatch(python_pattern(r"a[^]b"), "a\nb")
    assert python_pattern(r"(?<=x)y|(?<!z)w") == r"(?<=x)y|(?<!z)w"


def test_answers_are_cached_within_a_bound() -> None:
    classify(CHROME_ON_WINDOWS)
    hits = classify.cache_info().hits
    classify(CHROME_ON_WINDOWS)
    assert classify.cache_info().hits == hits + 1
    assert classify.cache_info().maxsize == CACHE_SIZE
