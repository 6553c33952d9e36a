"""The listeners' episode page and embed player in a real browser (Debian's Chromium through Playwright)
against a real server: chapters seek from their titles, the chapter and the transcript line playing are
marked, the copy button copies the embed code, and the embed player fits 480×120 whatever its title."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from audio_fixtures import make_speech, write_jpeg
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
from helpers import auth, create_show, upload_episode

from podcast_host import accounts, create_app, shows

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EMBED = {"width": 480, "height": 120}
CHAPTERS = {
    "chapters": [
        {"startTime": 0, "title": "Welcome"},
        {"startTime": 4, "title": "The guest, on the long road from the coast"},
        {"startTime": 8, "title": "Goodbye"},
    ]
}
TRANSCRIPT = """WEBVTT

00:00:00.000 --> 00:00:03.000
Good morning and welcome.

00:00:03.000 --> 00:00:06.000
Our guest drove in from the coast.

00:00:06.000 --> 00:00:09.000
She recorded stories for twenty years.

00:00:09.000 --> 00:00:12.000
Thank you for listening.
"""
LONG_ARABIC_TITLE = (
    "الحلقة الأولى: حكايات الإذاعة في المدن الساحلية، من كوخ صغير على البحر إلى محطة تسمعها البلاد كلها، "
    "مع ضيفة سجّلت أصوات الصيادين والبحارة والباعة عشرين عامًا ولم تنشر منها شيئًا حتى اليوم"
)
LONG_ENGLISH_TITLE = (
    "Episode one: how a shed by the sea became the station the whole coast listened to, told by the "
    "woman who recorded its fishermen, sailors and market traders for twenty years"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running podcast-host with an English and an Arabic show, each with one 12-second episode that has
    cover art, chapters and a transcript; yields its base URL."""
    folder = tmp_path_factory.mktemp("listener")
    port = free_port()
    services = make_services(folder / "site", public_url=f"http://127.0.0.1:{port}")
    files = {
        "audio": make_speech(folder / "interview.mp3", seconds=12, channels=2),
        "chapters": folder / "chapters.json",
        "transcript": folder / "transcript.vtt",
    }
    files["chapters"].write_text(json.dumps(CHAPTERS), encoding="utf-8")
    files["transcript"].write_text(TRANSCRIPT, encoding="utf-8")
    cover = write_jpeg(folder / "cover.jpg", 1400).read_bytes()
    with services.db.session() as session:
        user = accounts.create_user(session, "producer@example.com", "correct horse battery", admin=True)
        _, token = accounts.create_token(session, user)
        session.commit()
    client = create_app(services=services).test_client()
    for slug, title, language, episode_title in (
        ("morning", "The Morning Signal", "en", LONG_ENGLISH_TITLE),
        ("sabah", "إذاعة الصباح", "ar", LONG_ARABIC_TITLE),
    ):
        create_show(
            client, token, slug, title=title, language=language, spotify_url="https://open.spotify.com/show/x"
        )
        with services.db.session() as session:
            shows.set_cover(services, session, shows.find_show(session, slug), cover)
            session.commit()
        with files["chapters"].open("rb") as chapters, files["transcript"].open("rb") as transcript:
            response = upload_episode(
                client,
                token,
                slug,
                files["audio"],
                title=episode_title,
                slug="first",
                chapters=(chapters, "chapters.json"),
                transcript=(transcript, "transcript.vtt"),
            )
        assert response.status_code == 202, response.get_json()
        episode = client.get(f"/api/v1/episodes/{response.get_json()['id']}", headers=auth(token)).get_json()
        assert episode["status"] == "published", episode
    with live_server(services, port) as url:
        yield url
    services.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    """A listener's desktop page, allowed to use the clipboard."""
    with listener_page(browser, site, clipboard=True) as opened:
        yield opened


def test_clicking_a_chapters_title_seeks_the_player(page: Any) -> None:
    page.goto("/morning/first/")
    wait_for_metadata(page)
    page.locator("ol.chapters .chapter-title", has_text="The guest").click()
    page.wait_for_function("document.getElementById('player').currentTime >= 3.9")
    # Marked once the player has seeked there.
    page.locator("ol.chapters > li[aria-current='true']", has_text="The guest").wait_for()
    assert page.locator("ol.chapters > li[aria-current]").count() == 1


def test_low_data_plays_the_opus_file_from_where_the_player_was(page: Any) -> None:
    page.goto("/morning/first/")
    wait_for_metadata(page)
    button = page.locator("#low-data")
    assert button.is_visible() and button.get_attribute("aria-pressed") == "false"
    page.evaluate("document.getElementById('player').currentTime = 5")
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    page.wait_for_function("document.getElementById('player').currentSrc.split('?')[0].endsWith('.opus')")
    wait_for_metadata(page)
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 5) < 0.5")
    page.evaluate("document.getElementById('player').play()")
    page.wait_for_function("document.getElementById('player').currentTime >= 5.5", timeout=20_000)
    page.evaluate("document.getElementById('player').pause()")
    # Remembered on this device: the next page starts on the low-data file.
    page.reload()
    page.wait_for_function("document.getElementById('player').src.endsWith('.opus')")
    assert page.locator("#low-data").get_attribute("aria-pressed") == "true"
    download = page.locator("a.low-data-download")
    assert download.get_attribute("href", timeout=5_000).endswith(".opus")
    page.evaluate("localStorage.clear()")


def test_the_chapter_and_transcript_line_playing_are_marked(page: Any, screenshots: Screenshots) -> None:
    page.goto("/morning/first/")
    page.locator("#transcript li").nth(3).wait_for()  # the transcript is fetched and shown by the script
    wait_for_metadata(page)
    # Start at the second line (3 s): playing carries the marks over the chapter (4 s) and line (6 s) edges.
    page.locator("#transcript li").nth(1).get_by_role("button").click()
    page.wait_for_function("document.getElementById('player').currentTime >= 3")
    # Marked once the player has told the page it seeked (its "seeked" event may come a moment later).
    page.locator("#transcript li[aria-current]", has_text="Our guest drove in").wait_for()
    assert _marked(page) == {"chapter": "0:00 Welcome", "line": "0:03 Our guest drove in from the coast."}
    page.wait_for_function("document.getElementById('player').currentTime >= 6.3", timeout=20_000)
    page.evaluate("document.getElementById('player').pause()")
    marked = _marked(page)
    assert marked["chapter"].startswith("0:04 The guest")
    assert marked["line"] == "0:06 She recorded stories for twenty years."
    screenshots.take(page, "listener-episode-playing")


def test_the_copy_button_copies_the_embed_code(page: Any) -> None:
    page.goto("/morning/first/")
    button = page.locator("button.copy[data-copy='embed-code']")
    assert button.is_visible(), "the script shows the copy buttons"
    button.click()
    page.wait_for_function(
        "document.querySelector(\"button.copy[data-copy='embed-code']\").textContent === 'Copied'"
    )
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#embed-code").input_value()
    assert copied.startswith('<iframe src="') and 'width="480" height="120"' in copied


def test_without_the_script_the_embed_code_is_still_there_to_select(browser: Any, site: str) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=site, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/morning/first/")
        assert page.locator("#embed-code").is_visible()
        assert page.locator("button.copy").evaluate_all(
            "buttons => buttons.length > 0 && buttons.every(b => b.hidden)"
        )
    finally:
        context.close()


@pytest.mark.parametrize(("slug", "direction"), [("sabah", "rtl"), ("morning", "ltr")])
def test_the_embed_fits_480_by_120_whatever_the_title(
    browser: Any, site: str, screenshots: Screenshots, slug: str, direction: str
) -> None:
    # Twice the pixels for a legible screenshot; the layout is measured in CSS pixels all the same.
    context = browser.new_context(viewport=EMBED, base_url=site, device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(f"/{slug}/first/embed")
        page.wait_for_function("document.querySelector('.embed-cover').complete")
        boxes = page.evaluate("""() => Array.from(document.body.querySelectorAll('*'))
            .filter((e) => e.getClientRects().length && !['SCRIPT', 'OPTION'].includes(e.tagName))
            .map((e) => {
                const r = e.getBoundingClientRect();
                return {name: e.tagName + '.' + e.className, left: r.left, top: r.top, right: r.right,
                        bottom: r.bottom};
            })""")
        outside = [
            box
            for box in boxes
            if box["left"] < -0.5 or box["top"] < -0.5 or box["right"] > 480.5 or box["bottom"] > 120.5
        ]
        assert outside == [], f"cut off at 480×120: {outside}"
        sizes = page.evaluate("""() => {
            const d = document.documentElement, title = document.querySelector('.embed-title');
            const style = getComputedStyle(title), box = title.getBoundingClientRect();
            // Each piece of the title's text on each line, as tall as its glyphs, not as its line height.
            const range = document.createRange();
            range.selectNodeContents(title);
            const pieces = Array.from(range.getClientRects());
            const shown = pieces.filter((r) => r.top < box.bottom - 0.5);
            return {scrollWidth: d.scrollWidth, scrollHeight: d.scrollHeight, dir: d.dir,
                    lines: new Set(shown.map((r) => Math.round(r.top))).size,
                    halfShown: shown.filter((r) => r.bottom > box.bottom + 0.5 || r.top < box.top - 0.5)
                        .length,
                    clamp: style.webkitLineClamp, lineHeight: parseFloat(style.lineHeight),
                    titleHeight: title.clientHeight, titleFull: title.scrollHeight,
                    cover: document.querySelector('.embed-cover').getBoundingClientRect().left,
                    audio: document.getElementById('player').getBoundingClientRect().width,
                    select: document.querySelector('select.chapter-select').getBoundingClientRect().width}
        }""")
        assert sizes["scrollWidth"] <= 480 and sizes["scrollHeight"] <= 120, sizes
        assert sizes["dir"] == direction
        # The cover sits on the start side: the right in Arabic.
        assert (sizes["cover"] > 240) == (direction == "rtl"), sizes
        # The title is cut to two lines (with an ellipsis), not to a line and a half.
        assert sizes["clamp"] == "2" and sizes["titleFull"] > sizes["titleHeight"], sizes
        assert sizes["titleHeight"] <= 2 * sizes["lineHeight"] + 4, sizes
        # The lines shown are whole: no glyph is cut in half at the title's edge.
        assert (sizes["lines"], sizes["halfShown"]) == (2, 0), sizes
        assert sizes["audio"] >= 300 and sizes["select"] >= 300, sizes
        screenshots.take(page, f"listener-embed-{direction}")
    finally:
        context.close()


# --- steps ----------------------------------------------------------------------------------------------


def _marked(page: Any) -> dict[str, str]:
    """The text of the chapter and of the transcript line marked aria-current (exactly one of each)."""
    found = page.evaluate("""() => {
        const texts = (selector) => Array.from(document.querySelectorAll(selector), (e) => e.innerText);
        return {chapter: texts('ol.chapters > li[aria-current="true"]'),
                line: texts('#transcript > li[aria-current="true"]')};
    }""")
    assert len(found["chapter"]) == 1 and len(found["line"]) == 1, found
    return {name: " ".join(texts[0].split()) for name, texts in found.items()}


# --- languages ----------------------------------------------------------------------------------------------


def _interface_strings_in_english() -> list[str]:
    """The phrases of every interface string that reads differently in Arabic (product names do not)."""
    import re
    from importlib import resources

    from babel.messages.pofile import read_po

    folder = resources.files("podcast_host") / "translations"
    with (folder / "ar" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        arabic = {m.id: m.string for m in read_po(source) if isinstance(m.id, str) and m.id}
    phrases = []
    for english, translated in arabic.items():
        # The words around a message's placeholders, each a phrase of its own when it is long enough.
        for piece in re.split(r"%\(\w+\)[sd]", english):
            text = piece.strip(" :·,.…()“”\"'")
            if len(text) >= 8 and " " in text and text not in translated:
                phrases.append(text)
    return phrases


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_arabic_show_speaks_arabic_everywhere_listeners_look(
    browser: Any, site: str, viewport: dict[str, int], screenshots: Screenshots
) -> None:
    english = _interface_strings_in_english()
    assert len(english) > 100, "the catalog should give many phrases to look for"
    context = browser.new_context(viewport=viewport, base_url=site, locale="en-US")
    page = context.new_page()
    try:
        for path in ("/sabah/", "/sabah/first/", "/sabah/first/embed"):
            page.goto(path)
            assert page.evaluate("document.documentElement.lang") == "ar"
            assert page.evaluate("document.documentElement.dir") == "rtl"
            # What a listener reads, without the producer's own words (marked with their language).
            shown = page.evaluate(
                """() => { const copy = document.body.cloneNode(true);
                           copy.querySelectorAll('script, textarea, [lang]').forEach(e => e.remove());
                           return copy.innerText; }"""
            )
            # The check reads interface text at all: a phrase every one of these pages shows, in Arabic.
            # "Download the episode" in the embed, "Subscribe" on the pages.
            expected = "تنزيل الحلقة" if path.endswith("/embed") else "اشترك"
            assert expected in shown, f"{path} shows none of its interface in Arabic"
            leaks = [text for text in english if text in shown]
            assert not leaks, f"{path} shows English: {leaks[:5]}"
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], path
            if path == "/sabah/first/":
                screenshots.take(page, f"arabic-episode-{'phone' if viewport is PHONE else 'desktop'}")
    finally:
        context.close()


def test_the_dashboard_in_arabic_reads_right_to_left_on_a_phone(
    browser: Any, site: str, screenshots: Screenshots
) -> None:
    context = browser.new_context(viewport=PHONE, base_url=site, locale="ar")
    page = context.new_page()
    try:
        page.goto("/login")
        assert page.evaluate("document.documentElement.dir") == "rtl"
        page.locator("#email").fill("producer@example.com")
        page.locator("#password").fill("correct horse battery")
        page.locator("form button[type=submit]").click()
        page.wait_for_url("**/admin/")
        for path in ("/admin/", "/admin/shows/sabah/", "/admin/shows/sabah/settings", "/admin/account"):
            page.goto(path)
            assert page.evaluate("document.documentElement.lang") == "ar", path
            assert page.evaluate("document.documentElement.dir") == "rtl", path
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} scrolls sideways: {width} px"
        page.goto("/admin/shows/sabah/")
        screenshots.take(page, "arabic-dashboard-phone")
        # What the scripts write while an upload runs and an episode is processed speaks Arabic too.
        written = page.evaluate(
            """[statusBadge("published").textContent, statusBadge("processing").textContent, say("starting"),
                say("upload_failed", {status: 502}), say("upload_progress", {percent: "40 %", done: "2.0",
                total: "5.0"})]"""
        )
        assert all(not re.search("[A-Za-z]", line.replace("HTTP", "")) for line in written), written
        assert "502" in written[3] and "2.0" in written[4] and "5.0" in written[4]
    finally:
        context.close()
