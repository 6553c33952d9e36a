"""Show notes (docs/feeds.md, "Show notes"): Markdown rendered to sanitized HTML once, when it is saved; pages
and feeds serve the stored HTML. The text is capped in size, and rendering costs time linear in its length."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any, cast

import pytest
from browser import add_user, dashboard_app, sign_in
from helpers import auth, create_show, upload_episode
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from podcast_host import episodes, shows
from podcast_host.errors import Invalid
from podcast_host.models import Episode, Show
from podcast_host.notes import MAX_NOTES_CHARS, backfill_missing_html, render_notes_html
from podcast_host.services import Services

# Inputs known to make Markdown parsers or HTML tree builders superlinear; one unit, repeated.
PATHOLOGICAL = {
    "open brackets": "[",
    "image openers": "![",
    "bracket lines": "[\n",
    "emphasis and brackets": "*[",
    "emphasis runs": "a*",
    "mixed delimiters": "**_",
    "backtick runs": "` ",
    "angle brackets": "<",
    "nested quotes": "> ",
    "nested lists": "- ",
    "link reference definitions": "[r]: /u\n",
    "nested divs": "<div>",
    "nested html lists": "<ul><li>",
    "nested html quotes": "<blockquote>",
    "misnested tags": "<b>x</i>",
}


def render_seconds(text: str) -> float:
    """CPU seconds of one render: the best of two samples, each of enough renders to last 20 ms."""
    runs, samples = 1, []
    gc.disable()
    try:
        while len(samples) < 2:
            started = time.process_time()
            for _ in range(runs):
                render_notes_html(text)
            elapsed = time.process_time() - started
            if elapsed < 0.02:
                runs *= 4
                continue
            samples.append(elapsed / runs)
    finally:
        gc.enable()
    return min(samples)


@pytest.mark.parametrize("unit", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_rendering_time_grows_linearly_with_the_notes(unit: str) -> None:
    small = render_seconds(unit * (5_000 // len(unit)))
    large = render_seconds(unit * (20_000 // len(unit)))
    # Four times the text: about 4x the time when linear, 16x when quadratic.
    assert large / small < 8, f"{small * 1000:.1f} ms -> {large * 1000:.1f} ms"


def test_html_nested_too_deep_is_shown_as_text() -> None:
    html = render_notes_html("<blockquote>" * 500 + "deep")
    assert "<blockquote>" not in html and "&lt;blockquote&gt;" in html and "deep" in html


def test_ordinary_html_in_notes_still_renders() -> None:
    html = render_notes_html("Hi <b>there <i>you</i></b>\n\n<blockquote>quoted</blockquote>\n\n> **md**")
    assert "<b>there <i>you</i></b>" in html
    assert "<blockquote>quoted</blockquote>" in html and "<strong>md</strong>" in html


def test_notes_over_the_limit_are_refused() -> None:
    with pytest.raises(Invalid, match=f"longer than {MAX_NOTES_CHARS} characters") as refused:
        episodes.clean_episode_fields({"description": "x" * (MAX_NOTES_CHARS + 1)}, creating=False)
    assert refused.value.field == "description"
    assert episodes.clean_episode_fields({"description": "[" * MAX_NOTES_CHARS}, creating=False)


# --- stored when saved, served as stored ----------------------------------------------------------------


@pytest.fixture
def published(client: Any, admin_token: str, sample_mp3: Path) -> dict[str, Any]:
    create_show(client, admin_token, description="About *the show*.")
    response = upload_episode(client, admin_token, "daily", sample_mp3, description="Notes with **bold**.")
    assert response.status_code == 202, response.get_json()
    episode = client.get(f"/api/v1/episodes/{response.get_json()['id']}", headers=auth(admin_token))
    assert episode.get_json()["status"] == "published"
    return episode.get_json()


def _rows(services: Services) -> tuple[Show, Episode]:
    """The show and its episode as stored now."""
    with services.db.session() as session:
        return session.scalars(select(Show)).one(), session.scalars(select(Episode)).one()


@pytest.mark.postgres
def test_saving_stores_the_rendered_html(
    client: Any, admin_token: str, services: Services, published: dict
) -> None:
    show, episode = _rows(services)
    assert show.description_html == "<p>About <em>the show</em>.</p>"
    assert episode.notes_html == "<p>Notes with <strong>bold</strong>.</p>"

    for path, body in (
        ("/api/v1/shows/daily", {"description": "New **show** text"}),
        (f"/api/v1/episodes/{published['id']}", {"description": "New *notes*"}),
    ):
        assert client.patch(path, json=body, headers=auth(admin_token)).status_code == 200
    show, episode = _rows(services)
    assert show.description_html == "<p>New <strong>show</strong> text</p>"
    assert episode.notes_html == "<p>New <em>notes</em></p>"


def test_pages_serve_the_stored_html(client: Any, services: Services, published: dict) -> None:
    with services.db.session() as session:
        session.execute(update(Show).values(description_html="<p>stored show html</p>"))
        session.execute(update(Episode).values(notes_html="<p>stored notes html</p>"))
        session.commit()
    assert "stored show html" in client.get("/daily/").get_data(as_text=True)
    page = client.get(f"/daily/{published['slug']}/").get_data(as_text=True)
    assert "stored notes html" in page and "<strong>bold</strong>" not in page


@pytest.mark.postgres
def test_rows_saved_before_the_html_was_stored_get_it_once(
    client: Any, services: Services, published: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podcast_host import notes

    monkeypatch.setattr(notes, "BACKFILL_BATCH", 1)  # every row in a batch of its own
    with services.db.session() as session:
        session.execute(update(Show).values(description_html=None))
        session.execute(update(Episode).values(notes_html=None))
        session.commit()
    show_before, episode_before = _rows(services)
    feed_before = client.get("/daily/feed.xml")

    # Until the HTML is filled in, pages render the notes themselves and write nothing.
    assert "<em>the show</em>" in client.get("/daily/").get_data(as_text=True)
    assert "<strong>bold</strong>" in client.get(f"/daily/{published['slug']}/").get_data(as_text=True)
    show, episode = _rows(services)
    assert (show.description_html, episode.notes_html) == (None, None)

    with services.db.session() as session:
        assert backfill_missing_html(session) == 2
    with services.db.session() as session:
        assert backfill_missing_html(session) == 0
    show, episode = _rows(services)
    assert show.description_html == "<p>About <em>the show</em>.</p>"
    assert episode.notes_html == "<p>Notes with <strong>bold</strong>.</p>"
    # Filling in the HTML is no edit: the feed keeps its bytes and its Last-Modified.
    assert (show.updated_at, episode.updated_at) == (show_before.updated_at, episode_before.updated_at)
    feed_after = client.get("/daily/feed.xml")
    assert feed_after.data == feed_before.data and feed_after.headers["ETag"] == feed_before.headers["ETag"]


def test_notes_over_the_limit_are_refused_by_the_api(
    client: Any, admin_token: str, services: Services, published: dict
) -> None:
    response = client.patch(
        f"/api/v1/episodes/{published['id']}",
        json={"description": "[" * (MAX_NOTES_CHARS + 1)},
        headers=auth(admin_token),
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid", "description")
    assert str(MAX_NOTES_CHARS) in error["message"]
    _, episode = _rows(services)
    assert episode.description == "Notes with **bold**."


def test_the_preview_refuses_notes_over_the_limit(sqlite_services: Services) -> None:
    client = dashboard_app(sqlite_services).test_client()
    add_user(sqlite_services, "owner@example.com")
    csrf = sign_in(client, "owner@example.com")
    headers = {"Accept": "application/json"}
    ok = client.post("/admin/preview", data={"markdown": "**hi**", "csrf_token": csrf}, headers=headers)
    assert ok.get_json() == {"html": "<p><strong>hi</strong></p>"}
    too_long = "[" * (MAX_NOTES_CHARS + 1)
    refused = client.post("/admin/preview", data={"markdown": too_long, "csrf_token": csrf}, headers=headers)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["field"] == "description"


def test_the_show_description_is_stored_rendered_from_the_domain(services: Services) -> None:
    with services.db.session() as session:
        show = shows.create_show(session, "https://pod.example", {"slug": "s", "title": "S"})
        assert show.description_html == ""
        shows.update_show(services, session, show, {"description": "*hi*"}, may_move=True)
        assert show.description_html == "<p><em>hi</em></p>"
        session.commit()


# --- the size of the rendered HTML --------------------------------------------------------------------------


def test_notes_that_render_to_too_much_html_are_refused() -> None:
    """64 KiB of '&' is under the text limit but 320 KB of HTML, written twice into every feed item."""
    from podcast_host.notes import MAX_NOTES_HTML_BYTES

    with pytest.raises(Invalid, match="KB of HTML") as refused:
        render_notes_html("&" * MAX_NOTES_CHARS)
    assert refused.value.field == "description"
    with pytest.raises(Invalid, match="KB of HTML"):
        unsaved = Episode(description="", notes_html="")
        # Refused before the services or the session are used: neither is needed.
        episodes.update_episode(
            cast(Services, None), cast(Session, None), unsaved, {"description": "<" * 40_000}
        )
    # Long ordinary notes stay well inside: prose and links at the text limit.
    prose = ("A long paragraph about the [show](https://example.com/a/page) and *its* guests. " * 900)[
        :MAX_NOTES_CHARS
    ]
    assert len(render_notes_html(prose).encode()) <= MAX_NOTES_HTML_BYTES


def test_the_api_refuses_notes_that_render_to_too_much_html(
    client: Any, admin_token: str, services: Services, published: dict
) -> None:
    response = client.patch(
        f"/api/v1/episodes/{published['id']}", json={"description": "&" * 60_000}, headers=auth(admin_token)
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid", "description")
    assert "HTML" in error["message"]
    _, episode = _rows(services)
    assert episode.description == "Notes with **bold**."


def test_rows_saved_before_the_cap_still_render_on_pages(
    services: Services, client: Any, published: dict
) -> None:
    """A row saved before the HTML was capped is served, not refused: the feed's byte budget bounds it."""
    with services.db.session() as session:
        session.execute(update(Episode).values(description="&" * 60_000, notes_html=None))
        session.commit()
    page = client.get(f"/daily/{published['slug']}/")
    assert page.status_code == 200 and "&amp;&amp;" in page.get_data(as_text=True)
