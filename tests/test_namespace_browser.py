"""Soundbites, credits and places on the episode page in a real browser (Debian's Chromium through
Playwright) against a real server: a soundbite button plays its clip from its start and pauses at its end, a
seek elsewhere ends the clip, the page without its script links to the clip instead, and an Arabic page lays
the credits out right to left."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from audio_fixtures import make_speech
from browser import (
    DESKTOP,
    PHONE,
    Screenshots,
    chromium,
    free_port,
    listener_page,
    live_server,
    wait_for_metadata,
)
from conftest import make_services
from helpers import create_show

from podcast_host import accounts, create_app
from podcast_host.models import READY, Episode, Show, utcnow
from podcast_host.storage import media_key, unguessable_name

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECONDS = 12.0
# The clip the tests play: 3.0 s to 5.5 s.
CLIP = {"start": 3.0, "duration": 2.5, "title": "The road from the coast"}
PERSONS = [
    {"name": "Dana Reporter", "role": "host", "group": "cast", "img": "", "href": "https://dana.example/"},
    {"name": "Sam Guest", "role": "guest", "group": "cast", "img": "", "href": ""},
]
PLACES = [
    {
        "name": "Austin",
        "rel": "creator",
        "lat": 30.2711286,
        "lon": -97.7436995,
        "osm": "R113314",
        "country": "US",
    }
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running podcast-host with an English and an Arabic show, each with one published 12-second episode
    whose people, places and soundbites are set; yields its base URL."""
    folder = tmp_path_factory.mktemp("namespace")
    port = free_port()
    services = make_services(folder / "site", public_url=f"http://127.0.0.1:{port}")
    audio = make_speech(folder / "talk.mp3", seconds=SECONDS, channels=1).read_bytes()
    with services.db.session() as session:
        user = accounts.create_user(session, "producer@example.com", "correct horse battery", admin=True)
        _, token = accounts.create_token(session, user)
        session.commit()
    client = create_app(services=services).test_client()
    for slug, title, language in (("morning", "The Morning Signal", "en"), ("sabah", "إذاعة الصباح", "ar")):
        create_show(client, token, slug, title=title, language=language)
        with services.db.session() as session:
            show = session.query(Show).filter_by(slug=slug).one()
            episode = Episode(
                show=show,
                slug="first",
                title="First" if language == "en" else "الأولى",
                processing_state=READY,
                publish_at=utcnow(),
                duration_s=SECONDS,
                enclosure_length=len(audio),
                persons=PERSONS,
                locations=PLACES,
                # The second clip ends past the audio: the page leaves it out.
                soundbites=[CLIP, {"start": 10.0, "duration": 5.0, "title": "Too late"}],
            )
            session.add(episode)
            session.flush()
            episode.audio_key = media_key(show.id, "audio", unguessable_name("first", "mp3"), episode.id)
            services.store.put_bytes(episode.audio_key, audio, "audio/mpeg")
            session.commit()
    with live_server(services, port) as url:
        yield url
    services.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    with listener_page(browser, site) as opened:
        yield opened


def test_a_soundbite_plays_from_its_start_and_pauses_at_its_end(page: Any, screenshots: Screenshots) -> None:
    page.goto("/morning/first/")
    wait_for_metadata(page)
    assert page.locator("button.soundbite").count() == 1, "the clip past the end is left out"
    button = page.locator("button.soundbite", has_text=CLIP["title"])
    assert button.is_visible() and button.get_attribute("aria-pressed") == "false"
    assert page.locator("a.soundbite-link").is_hidden(), "the script's button takes the link's place"
    _record_play_and_pause(page)
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    page.wait_for_function("window.pausedAt !== null", timeout=20_000)
    times = page.evaluate("({startedAt: window.startedAt, pausedAt: window.pausedAt})")
    start, end = CLIP["start"], CLIP["start"] + CLIP["duration"]
    assert start <= times["startedAt"] < start + 0.5, times
    # On time: a timer set for the end, not the player's few timeupdate events a second.
    assert end - 0.05 <= times["pausedAt"] <= end + 0.3, times
    assert button.get_attribute("aria-pressed") == "false"
    screenshots.take(page, "soundbite-played")


def test_a_seek_elsewhere_ends_the_clip(page: Any) -> None:
    page.goto("/morning/first/")
    wait_for_metadata(page)
    _record_play_and_pause(page)
    page.locator("button.soundbite").click()
    page.wait_for_function("window.startedAt !== null")
    page.evaluate("document.getElementById('player').currentTime = 7")
    assert page.locator("button.soundbite").get_attribute("aria-pressed", timeout=5_000) == "false"
    # It plays on past the clip's end: the listener chose where to listen.
    page.wait_for_function("document.getElementById('player').currentTime >= 8", timeout=20_000)
    assert page.evaluate("window.pausedAt === null && !document.getElementById('player').paused")
    page.evaluate("document.getElementById('player').pause()")


def test_without_the_script_a_soundbite_is_a_link_to_the_clip(browser: Any, site: str) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=site, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/morning/first/")
        link = page.locator("a.soundbite-link")
        assert link.is_visible() and page.locator("button.soundbite").is_hidden()
        href = link.get_attribute("href")
        assert "/media/shows/" in href and href.endswith("#t=3.0,5.5")
        assert "0:03–0:06" in link.inner_text() and CLIP["title"] in link.inner_text()
    finally:
        context.close()


def test_credits_and_places_are_shown_with_roles_and_a_map_link(page: Any) -> None:
    page.goto("/morning/first/")
    people = page.locator("ul.people > li")
    assert [" ".join(text.split()) for text in people.all_inner_texts()] == [
        "Dana Reporter Host",
        "Sam Guest Guest",
    ]
    assert people.first.locator("a").get_attribute("href") == "https://dana.example/"
    place = page.locator("ul.places > li a", has_text="Austin")
    assert place.get_attribute("href") == "https://www.openstreetmap.org/relation/113314"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_arabic_page_lays_credits_places_and_clips_out_right_to_left(
    browser: Any, site: str, viewport: dict[str, int], screenshots: Screenshots
) -> None:
    context = browser.new_context(viewport=viewport, base_url=site)
    try:
        page = context.new_page()
        page.goto("/sabah/first/")
        assert page.evaluate("document.documentElement.dir") == "rtl"
        boxes = page.evaluate("""() => {
            const box = (selector) => document.querySelector(selector).getBoundingClientRect();
            return {name: box('ul.people > li .person'), role: box('ul.people > li .role'),
                    place: box('ul.places > li .place'), why: box('ul.places > li .rel'),
                    clip: box('button.soundbite'), heading: box('#credits-h'),
                    width: document.documentElement.scrollWidth};
        }""")
        # Read from the right: the name, then its role to its left; the same for a place and why it is named.
        assert boxes["name"]["right"] > boxes["role"]["right"], boxes
        assert boxes["place"]["right"] > boxes["why"]["right"], boxes
        # Headings and clips start on the right-hand side.
        assert boxes["heading"]["right"] > viewport["width"] / 2, boxes
        assert boxes["clip"]["right"] > viewport["width"] / 2, boxes
        assert boxes["width"] <= viewport["width"], "no sideways scrolling"
        assert page.locator("ul.people > li .role").first.inner_text() == "مقدّم"
        # The clip's times (to the nearest second) read left to right inside the Arabic button.
        assert page.locator("button.soundbite .at").inner_text() == "0:03–0:06"
        screenshots.take(page, f"namespace-arabic-{'phone' if viewport is PHONE else 'desktop'}")
    finally:
        context.close()


# --- steps ----------------------------------------------------------------------------------------------


def _record_play_and_pause(page: Any) -> None:
    """window.startedAt and window.pausedAt: the player's position when it first plays and first pauses."""
    page.evaluate("""() => {
        const audio = document.getElementById('player');
        window.startedAt = null;
        window.pausedAt = null;
        audio.addEventListener('playing', () => { window.startedAt = audio.currentTime; }, {once: true});
        audio.addEventListener('pause', () => { window.pausedAt = audio.currentTime; }, {once: true});
    }""")
