"""The dashboard and the listeners' pages in a real browser (Debian's Chromium through Playwright), against a
real server: waitress in a thread, processing jobs in worker threads, as `podcast-host serve` runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audio_fixtures import make_speech, write_jpeg
from browser import PASSWORD, Screenshots, add_user, chromium, free_port, live_server
from conftest import make_services

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# The tests share one site and run in file order: the later ones visit the show the first one made.

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1100, "height": 800}
# Slow the upload down (bytes per second) so that the progress bar has something to show.
UPLOAD_THROUGHPUT = 1_000_000
CHAPTERS = {
    "chapters": [
        {"startTime": 0, "title": "Welcome"},
        {"startTime": 6, "title": "The guest"},
        {"startTime": 10, "title": "Goodbye"},
    ]
}
ARABIC_TITLE = "الحلقة الأولى: كوخ على البحر"
ARABIC_NOTES = (
    "حلقة عن **بدايات الإذاعة** في المدن الساحلية، مع ضيف سجّل القصص عشرين عامًا.\n\n- المقدمة\n- الضيف"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running podcast-host with one producer account; yields its base URL."""
    port = free_port()
    services = make_services(tmp_path_factory.mktemp("site"), public_url=f"http://127.0.0.1:{port}")
    add_user(services, "producer@example.com")
    with live_server(services, port) as url:
        yield url
    services.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("files")
    chapters = folder / "chapters.json"
    chapters.write_text(json.dumps(CHAPTERS), encoding="utf-8")
    return {
        "audio": make_speech(folder / "interview.wav", seconds=12, channels=2),
        "cover": write_jpeg(folder / "cover.jpg", 1400),
        "chapters": chapters,
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    """A signed-in desktop page."""
    context = browser.new_context(viewport=DESKTOP, base_url=site)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto("/admin/")
    page.wait_for_url("**/login?next=/admin/")
    page.get_by_label("Email").fill("producer@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/")
    yield page
    context.close()


def test_a_producer_publishes_an_episode_that_listeners_can_play(
    page: Any, site: str, files: dict[str, Path], screenshots: Screenshots
) -> None:
    _create_show(page, "morning", "The Morning Signal", "en", "Stories from early radio, told by its makers.")
    page.get_by_role("link", name="Show settings").click()
    page.get_by_label("New cover").set_input_files(files["cover"])
    page.get_by_role("button", name="Upload the cover").click()
    page.get_by_text("The new cover is saved.").wait_for()
    screenshots.take(page, "dashboard-settings")

    page.goto("/admin/shows/morning/episodes/new")
    notes = "The first broadcast, **from a shed** by the sea."
    seen = _upload_episode(page, files, "A shed by the sea", notes, screenshots, chapters=True)
    assert "processing" in seen, "the status was shown while the job ran"
    page.goto("/admin/shows/morning/")
    screenshots.take(page, "dashboard-show")
    page.get_by_role("link", name="A shed by the sea").click()
    page.locator("svg.admin-waveform path").wait_for()
    assert page.locator("table.report").inner_text().count("LUFS") >= 3
    screenshots.take(page, "dashboard-episode")
    page.goto("/admin/")
    screenshots.take(page, "dashboard")

    page.goto(f"{site}/morning/a-shed-by-the-sea/")
    audio_state = page.evaluate("""() => new Promise((resolve) => {
        const audio = document.getElementById('player');
        const done = () => resolve({readyState: audio.readyState, duration: audio.duration});
        audio.addEventListener('loadedmetadata', done, {once: true});
        audio.addEventListener('error', () => resolve({error: audio.error.code}), {once: true});
        audio.load();
    })""")
    assert audio_state.get("readyState", 0) >= 1 and audio_state["duration"] > 0, audio_state
    page.get_by_role("button", name="0:06").click()
    page.wait_for_function("document.getElementById('player').currentTime >= 5.9")
    screenshots.take(page, "episode")
    page.set_viewport_size(PHONE)
    screenshots.take(page, "episode-phone")
    _assert_no_sideways_scroll(page)
    page.set_viewport_size(DESKTOP)
    page.goto(f"{site}/morning/")
    screenshots.take(page, "show")


def test_an_arabic_show_reads_right_to_left(
    page: Any, site: str, files: dict[str, Path], screenshots: Screenshots
) -> None:
    _create_show(page, "sabah", "إذاعة الصباح", "ar", "برنامج أسبوعي عن الإذاعة والناس الذين صنعوها.")
    page.goto("/admin/shows/sabah/episodes/new")
    _upload_episode(page, files, ARABIC_TITLE, ARABIC_NOTES, screenshots, name="upload-arabic")

    page.goto(f"{site}/sabah/")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.evaluate("document.documentElement.lang") == "ar"
    screenshots.take(page, "show-arabic")
    with page.expect_navigation():
        page.get_by_role("link", name=ARABIC_TITLE).click()
    page.wait_for_load_state("domcontentloaded")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    page.set_viewport_size(PHONE)
    screenshots.take(page, "episode-arabic-phone")
    _assert_no_sideways_scroll(page)
    page.set_viewport_size(DESKTOP)
    page.goto(f"{site}/")
    screenshots.take(page, "home")


def test_the_dashboard_is_usable_on_a_phone(page: Any, screenshots: Screenshots) -> None:
    page.set_viewport_size(PHONE)
    page.goto("/admin/")
    screenshots.take(page, "dashboard-phone")
    _assert_no_sideways_scroll(page)
    page.goto("/admin/shows/morning/")
    page.get_by_role("link", name="A shed by the sea").click()
    page.locator("svg.admin-waveform").wait_for()
    screenshots.take(page, "dashboard-episode-phone")
    _assert_no_sideways_scroll(page)
    page.goto("/admin/shows/morning/episodes/new")
    _assert_no_sideways_scroll(page)
    page.get_by_label("Title").focus()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", "the focused field shows a visible outline"


# --- steps ----------------------------------------------------------------------------------------------


def _create_show(page: Any, slug: str, title: str, language: str, description: str) -> None:
    page.goto("/admin/")
    if not page.locator("details.panel").evaluate("details => details.open"):
        page.get_by_text("New show").click()
    page.get_by_label("Address (slug)").fill(slug)
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description (Markdown)").fill(description)
    page.get_by_label("Language").select_option(language)
    page.get_by_label("Apple Podcasts category").select_option("Arts/Books")
    page.get_by_label("Author").fill("Studio Test")
    page.get_by_role("button", name="Create the show").click()
    page.wait_for_url(f"**/admin/shows/{slug}/")


def _upload_episode(
    page: Any,
    files: dict[str, Path],
    title: str,
    notes: str,
    screenshots: Screenshots,
    chapters: bool = False,
    name: str = "upload",
) -> list[str]:
    """Fill the upload form, watch the progress bar and the self-updating status until `published`."""
    page.get_by_label("Audio file").set_input_files(files["audio"])
    page.get_by_label("Title").fill(title)
    page.get_by_label("Show notes (Markdown)").fill(notes)
    page.locator("#notes-preview strong").wait_for()  # the live preview rendered the Markdown
    if chapters:
        page.get_by_text("Cover, chapters and transcript").click()
        page.get_by_label("Chapters (JSON chapters file)").set_input_files(files["chapters"])
    # The form saves a draft unless told otherwise.
    page.get_by_label("Publish as soon as the audio is ready").check()
    page.evaluate("""() => {
        window.statusesSeen = [];
        const output = document.getElementById('processing-status');
        new MutationObserver(() => window.statusesSeen.push(output.textContent.trim()))
            .observe(output, {childList: true, subtree: true, characterData: true});
    }""")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": UPLOAD_THROUGHPUT},
    )
    page.get_by_role("button", name="Upload the episode").click()
    page.wait_for_function(
        "(() => { const bar = document.getElementById('upload-progress');"
        " return bar.value > 5 && bar.value < 95; })()"
    )
    screenshots.take(page, name)
    page.wait_for_function("document.getElementById('upload-progress').value === 100")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.wait_for_function(
        "document.getElementById('processing-status').textContent.includes('published')", timeout=90_000
    )
    page.get_by_role("link", name="Open the episode").wait_for()
    return [text.split()[0] for text in page.evaluate("window.statusesSeen") if text]


def _assert_no_sideways_scroll(page: Any) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways at {widths[1]} px: {widths[0]} px wide"
