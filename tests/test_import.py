"""Importing a show from another host's feed (docs/migrate.md): feeds written the way hosts write them, served
by a local HTTP server that stands in for the old host (redirecting tracking prefix, a 404, a page that is not
audio), then checked field by field and read back by podcast apps' parsers."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import podcastparser
import pytest
from audio_fixtures import make_tone, write_jpeg
from click.testing import CliRunner
from conftest import make_services
from sqlalchemy import select
from test_feed import partytime

from podcast_host.cli import main
from podcast_host.feeds.build import podcast_guid
from podcast_host.feeds.syndication import render_feed
from podcast_host.imports.run import run_import, start_import
from podcast_host.models import Episode, FeedImport, Show
from podcast_host.services import Services

FEEDS = Path(__file__).parent / "data" / "imports"
CHAPTERS = json.dumps(
    {
        "version": "1.2.0",
        "chapters": [{"startTime": 0, "title": "Opening"}, {"startTime": 1.5, "title": "News"}],
    }
).encode()
TRANSCRIPT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nمساء الخير\n".encode()


class OldHost:
    """The host a show moves from: its feeds (with {base} filled in), audio, images and side files."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def feed(self, name: str, extra_item: str = "") -> None:
        text = (FEEDS / name).read_text(encoding="utf-8").replace("{base}", self.base)
        self.files[f"/feeds/{name}"] = text.replace("</channel>", extra_item + "</channel>").encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                host.requests.append(self.path)
                if self.path.startswith("/track/redirect.mp3/"):
                    self.send_response(302)
                    self.send_header("Location", self.path.removeprefix("/track/redirect.mp3"))
                    self.end_headers()
                    return
                body = host.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("old-host")
    files = {
        "/audio/one.mp3": make_tone(folder / "one.mp3", seconds=3, frequency=440),
        "/audio/two.mp3": make_tone(folder / "two.mp3", seconds=2, channels=1, frequency=660),
        "/audio/three.m4a": make_tone(folder / "three.m4a", seconds=2, frequency=550),
        "/audio/four.mp3": make_tone(folder / "four.mp3", seconds=2, frequency=330),
        "/cover.jpg": write_jpeg(folder / "cover.jpg"),
        "/feeds/images/ep1.jpg": write_jpeg(folder / "ep1.jpg"),
    }
    out = {path: file.read_bytes() for path, file in files.items()}
    out["/side/chapters.json"] = CHAPTERS
    out["/side/transcript.vtt"] = TRANSCRIPT
    out["/side/transcript.html"] = b"<html>transcript</html>"
    out["/side/page.html"] = b"<!doctype html><title>Not audio</title>" * 40
    return out


@pytest.fixture
def old_host(media: dict[str, bytes]) -> Iterator[OldHost]:
    host = OldHost(dict(media))
    for name in ("hosted_classic.xml", "modern_host.xml"):
        host.feed(name)
    yield host
    host.server.shutdown()
    host.server.server_close()


@pytest.fixture
def importer(tmp_path: Path, database_url: str) -> Iterator[Services]:
    """An instance whose fetches may reach this machine's loopback, where the old host runs."""
    built = make_services(tmp_path, database_url=database_url, allow_private_urls=True)
    yield built
    built.close()


def _import(services: Services, url: str, **options: Any) -> FeedImport:
    with services.db.session() as session:
        run = start_import(
            services, session, url, options.get("show"), options.get("keep_audio", False), None, queued=False
        )
        session.commit()
        import_id = run.id
    run_import(services, import_id, process_inline=True)
    with services.db.session() as session:
        done = session.get(FeedImport, import_id)
        assert done is not None
        session.expunge_all()
        return done


def _outcomes(services: Services, import_id: int) -> dict[str, tuple[str, str | None]]:
    with services.db.session() as session:
        run = session.get(FeedImport, import_id)
        assert run is not None
        return {item.guid: (item.state, item.reason) for item in run.items}


def _episodes(services: Services) -> dict[str, Episode]:
    with services.db.session() as session:
        rows = session.scalars(select(Episode)).all()
        session.expunge_all()
        return {row.guid: row for row in rows}


def test_a_classic_feed_comes_in_whole_and_a_bad_item_does_not_stop_the_rest(
    importer: Services, old_host: OldHost
) -> None:
    url = f"{old_host.base}/feeds/hosted_classic.xml"
    run = _import(importer, url)
    assert run.state == "done" and run.total_items == 3
    outcomes = _outcomes(importer, run.id)
    assert outcomes["https://harbour.example/episodes/lighthouse-keeper"] == ("imported", None)
    state, reason = outcomes["https://harbour.example/episodes/fog-horns"]
    assert state == "failed" and "404" in (reason or "")
    assert outcomes["https://harbour.example/episodes/no-audio"] == (
        "failed",
        "The item has no enclosure (no audio to import).",
    )

    with importer.db.session() as session:
        show = session.scalars(select(Show)).one()
        # No podcast:guid in the feed: the UUIDv5 of the old feed's address, so the show keeps its identity.
        assert show.podcast_guid == podcast_guid(url)
        assert (show.title, show.language, show.author, show.email) == (
            "Harbour Lights",
            "en-us",
            "Harbour Media",
            "editor@harbour.example",
        )
        assert show.category == "Society & Culture/Documentary"
        assert show.explicit is False and show.copyright == "© 2024 Harbour Media"
        assert show.image_key, "the relative cover URL was resolved against the feed and fetched"
    episode = _episodes(importer)["https://harbour.example/episodes/lighthouse-keeper"]
    # pubDate to the second, its zone kept as the same instant.
    assert episode.publish_at == datetime(2024, 1, 2, 11, 7, 8, tzinfo=UTC)
    assert episode.title == "The Lighthouse Keeper" and episode.explicit is True
    assert '<a href="https://harbour.example/notes" rel="noopener nofollow">link</a>' in (
        episode.notes_html or ""
    )
    assert "*stars*" in (episode.notes_html or ""), "feed HTML is not read as Markdown"
    assert episode.image_key and episode.status == "published"
    assert any(path.startswith("/track/redirect.mp3/") for path in old_host.requests)


@pytest.mark.postgres
def test_running_it_again_adds_only_new_items_and_retries_failed_ones(
    importer: Services, old_host: OldHost, media: dict[str, bytes]
) -> None:
    url = f"{old_host.base}/feeds/hosted_classic.xml"
    first = _import(importer, url)
    before = _episodes(importer)
    assert len(before) == 1

    # The day of the move: the old host fixed its 404 and published one more item.
    old_host.files["/missing.mp3"] = media["/audio/four.mp3"]
    old_host.feed(
        "hosted_classic.xml",
        extra_item=(
            "<item><title>Breakwater</title><guid>https://harbour.example/episodes/breakwater</guid>"
            "<pubDate>Fri, 12 Jan 2024 09:00:00 +0000</pubDate>"
            f'<enclosure url="{old_host.base}/audio/two.mp3" type="audio/mpeg" length="1"/></item>'
        ),
    )
    second = _import(importer, url)
    assert second.show_id == first.show_id
    outcomes = _outcomes(importer, second.id)
    assert outcomes["https://harbour.example/episodes/lighthouse-keeper"] == ("skipped", None)
    assert outcomes["https://harbour.example/episodes/fog-horns"][0] == "imported"
    assert outcomes["https://harbour.example/episodes/breakwater"][0] == "imported"
    after = _episodes(importer)
    assert len(after) == 3
    kept = after["https://harbour.example/episodes/lighthouse-keeper"]
    assert (kept.id, kept.audio_key) == (
        before[kept.guid].id,
        before[kept.guid].audio_key,
    ), "an imported episode is left alone"
    third = _import(importer, url)
    assert {state for state, _ in _outcomes(importer, third.id).values() if state != "failed"} == {"skipped"}
    assert len(_episodes(importer)) == 3


def test_a_modern_feed_keeps_its_guid_numbers_chapters_and_transcript(
    importer: Services, old_host: OldHost
) -> None:
    run = _import(importer, f"{old_host.base}/feeds/modern_host.xml")
    outcomes = _outcomes(importer, run.id)
    state, reason = outcomes["4f3c2a10-9a7b-4c1d-8e2f-0a1b2c3d4e5f"]
    assert (state, reason) == ("imported", None), "the VTT transcript is taken, the HTML one needs no word"
    assert outcomes["12345"][0] == "imported"
    assert outcomes["not-audio"][0] == "failed"
    no_guid = f"{old_host.base}/audio/four.mp3"
    assert outcomes[no_guid][0] == "imported", "an item without guid is known by its enclosure URL"

    with importer.db.session() as session:
        show = session.scalars(select(Show)).one()
        assert show.podcast_guid == "917393e3-1b1e-5cef-ace4-edaa54e1f810"
        assert show.slug == "نشرة-المساء" and show.language == "ar" and show.show_type == "serial"
        assert (show.funding_url, show.funding_text) == ("https://donate.example/evening", "ادعمنا")
        assert show.category == "News/Daily News"
    episodes = _episodes(importer)
    first = episodes["4f3c2a10-9a7b-4c1d-8e2f-0a1b2c3d4e5f"]
    assert (first.season, first.number, first.episode_type, first.explicit) == (2, 7, "full", True)
    assert first.publish_at == datetime(2024, 2, 5, 18, 30, 45, tzinfo=UTC)
    assert [c["title"] for c in (first.chapters or {}).get("chapters", [])] == ["Opening", "News"]
    assert first.transcript_key and first.transcript_type == "text/vtt"
    with importer.store.open(first.transcript_key) as fh:
        assert fh.read() == TRANSCRIPT
    trailer = episodes["12345"]
    assert trailer.episode_type == "trailer" and trailer.publish_at == datetime(2024, 2, 4, 5, 0, tzinfo=UTC)
    assert trailer.enclosure_type == "audio/mpeg", "the AAC enclosure went through the pipeline"
    _podcast_apps_read_the_same_guids_and_dates(importer, old_host, run.id)


def _podcast_apps_read_the_same_guids_and_dates(
    services: Services, old_host: OldHost, import_id: int
) -> None:
    """What apps see in the new feed: the old feed's guids, each with its old date, so no episode is new."""
    old = feedparser.parse(old_host.files["/feeds/modern_host.xml"])
    with services.db.session() as session:
        show = session.scalars(select(Show)).one()
        ours = render_feed(services, session, show).body
    old_items = {e.get("id") or e.enclosures[0].href: e.published_parsed for e in old.entries}
    new_items = {e.id: e.published_parsed for e in feedparser.parse(ours).entries}
    imported = {guid for guid, (state, _) in _outcomes(services, import_id).items() if state == "imported"}
    assert len(imported) == 3 and set(new_items) == imported
    assert all(new_items[guid] == old_items[guid] for guid in imported)
    parsed = podcastparser.parse("https://new.example/feed.xml", io.BytesIO(ours))
    assert {e["guid"] for e in parsed["episodes"]} == imported
    by_partytime = partytime(ours)
    assert by_partytime["guid"] == "917393e3-1b1e-5cef-ace4-edaa54e1f810"
    assert {item["guid"] for item in by_partytime["items"]} == imported


def test_keep_audio_publishes_the_mp3_byte_for_byte(
    importer: Services, old_host: OldHost, media: dict[str, bytes]
) -> None:
    run = _import(importer, f"{old_host.base}/feeds/modern_host.xml", keep_audio=True)
    outcomes = _outcomes(importer, run.id)
    assert "not an MP3" in (outcomes["12345"][1] or "")
    episodes = _episodes(importer)
    kept = episodes["4f3c2a10-9a7b-4c1d-8e2f-0a1b2c3d4e5f"]
    assert kept.keep_audio and kept.audio_key
    with importer.store.open(kept.audio_key) as fh:
        assert hashlib.sha256(fh.read()).digest() == hashlib.sha256(media["/audio/two.mp3"]).digest()
    assert kept.enclosure_length == len(media["/audio/two.mp3"])
    assert (kept.loudness_report or {}).get("gain_db") == 0.0
    processed = episodes["12345"]
    assert not processed.keep_audio and processed.status == "published"


def test_private_addresses_are_refused_unless_allowed(sqlite_services: Services, old_host: OldHost) -> None:
    run = _import(sqlite_services, f"{old_host.base}/feeds/hosted_classic.xml")
    assert run.state == "failed"
    assert "127.0.0.1" in (run.error or "") and "refused" in (run.error or "")
    assert old_host.requests == [], "nothing was sent to the private address"
    with sqlite_services.db.session() as session:
        assert session.scalars(select(Show)).all() == []


def test_a_feed_that_declares_entities_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_host: OldHost
) -> None:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(tmp_path / "instance"))
    feed = tmp_path / "entities.xml"
    feed.write_text((FEEDS / "entities.xml").read_text().replace("{base}", old_host.base))
    result = CliRunner().invoke(main, ["import", str(feed)])
    assert result.exit_code == 1
    assert "The feed declares XML entities, which are refused" in result.output
    assert "Traceback" not in result.output
    assert old_host.requests == []


def test_the_command_line_imports_reports_failures_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_host: OldHost
) -> None:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("PODCAST_HOST_ALLOW_PRIVATE_URLS", "true")
    url = f"{old_host.base}/feeds/hosted_classic.xml"
    result = CliRunner().invoke(main, ["import", url, "--show", "harbour"])
    assert result.exit_code == 1, result.output
    assert result.stdout.strip() == "1 imported, 0 skipped, 2 failed (show harbour)"
    assert "failed: Fog Horns: " in result.stderr and "404" in result.stderr
    again = CliRunner().invoke(main, ["import", url, "--show", "harbour"])
    assert again.stdout.strip() == "0 imported, 1 skipped, 2 failed (show harbour)"
    missing = CliRunner().invoke(main, ["import", str(tmp_path / "nope.xml")])
    assert missing.exit_code == 1 and missing.output.count("\n") == 1


def test_the_api_imports_in_the_background_and_shows_each_item(importer: Services, old_host: OldHost) -> None:
    from helpers import auth, user_token

    from podcast_host import accounts, create_app

    token, stranger = (
        user_token(importer, "producer@example.com"),
        user_token(importer, "stranger@example.com"),
    )
    with importer.db.session() as session:
        user = accounts.get_user(session, "producer@example.com")
        _, read_only = accounts.create_token(session, user, "reader", read_only=True)
        session.commit()
    client = create_app(services=importer).test_client()
    url = f"{old_host.base}/feeds/hosted_classic.xml"

    refused = client.post("/api/v1/imports", json={"url": "file:///etc/passwd"}, headers=auth(token))
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "url"
    assert client.post("/api/v1/imports", json={"url": url}, headers=auth(read_only)).status_code == 403

    answer = client.post("/api/v1/imports", json={"url": url, "show": "harbour"}, headers=auth(token))
    assert answer.status_code == 202, answer.get_json()
    location = answer.headers["Location"]
    # The tests' queue runs a job when its transaction commits: the run has ended by now.
    body = client.get(location, headers=auth(token)).get_json()
    assert (body["state"], body["show"], body["total_items"], body["done_items"]) == ("done", "harbour", 3, 3)
    assert (body["imported"], body["skipped"], body["failed"]) == (1, 0, 2)
    assert {item["state"] for item in body["items"]} == {"imported", "failed"}
    with importer.db.session() as session:
        show = session.scalars(select(Show)).one()
        # Whoever imports a new show owns it.
        assert accounts.role_on(session, accounts.get_user(session, "producer@example.com"), show) == "owner"
    assert client.get(location, headers=auth(stranger)).status_code == 404
    again = client.post("/api/v1/imports", json={"url": url}, headers=auth(stranger))
    assert again.status_code == 202
    failed = client.get(again.headers["Location"], headers=auth(stranger)).get_json()
    assert failed["state"] == "failed", "a stranger cannot import into the show"
    assert failed["error"].startswith("Another show on this site already has this feed's identity")
    assert "harbour" not in failed["error"], "nothing is said about a show the stranger cannot see"
    # Whoever started it sees the whole address; the show's other members see the old host only (a private
    # feed's token may sit in the path or the query).
    assert client.get(location, headers=auth(token)).get_json()["url"] == url
    viewer = user_token(importer, "viewer@example.com")
    with importer.db.session() as session:
        harbour = session.scalars(select(Show).where(Show.slug == "harbour")).one()
        accounts.grant(session, harbour, accounts.get_user(session, "viewer@example.com"), "viewer")
        session.commit()
    seen = client.get(location, headers=auth(viewer))
    assert seen.status_code == 200 and seen.get_json()["url"] == f"{old_host.base}/"
    from podcast_host.web.api_imports import _host_only

    assert _host_only("https://u:p@old.example/feeds/SECRET/feed.xml?key=K") == "https://old.example/"


def test_the_dashboard_imports_shows_progress_and_exports_a_zip(
    importer: Services, old_host: OldHost
) -> None:
    import zipfile

    from browser import add_user, dashboard_app, grant, post_form, signed_in

    add_user(importer, "producer@example.com")
    add_user(importer, "editor@example.com")
    app = dashboard_app(importer)
    client = signed_in(app, "producer@example.com")
    form = client.get("/admin/imports/new").get_data(as_text=True)
    assert 'name="url"' in form and 'name="keep_audio"' in form
    bad = post_form(client, "/admin/imports", url="ftp://old-host.example/feed.xml")
    assert bad.status_code == 422 and "http or https" in bad.get_data(as_text=True)

    url = f"{old_host.base}/feeds/hosted_classic.xml"
    started = post_form(client, "/admin/imports", url=url, show="harbour")
    assert started.status_code == 303
    page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert '<progress class="import-progress" max="3" value="3"' in page
    assert "1 imported, 0 already here, 2 failed" in page
    assert "Finishing the move" in page and "http://localhost" not in page
    assert f'value="{importer.settings.public_url.rstrip("/")}/harbour/feed.xml"' in page
    assert 'http-equiv="refresh"' not in page, "a finished import stops refreshing"

    # The export is the owner's: an editor of the show gets 403, the owner a .zip that sync reads.
    grant(importer, "harbour", "editor@example.com", "editor")
    assert signed_in(app, "editor@example.com").get("/admin/shows/harbour/export.zip").status_code == 403
    answer = client.get("/admin/shows/harbour/export.zip")
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert "no-store" in answer.headers["Cache-Control"]
    names = zipfile.ZipFile(io.BytesIO(answer.get_data())).namelist()
    answer.close()  # as a server does once it has sent the body: the archive's file is closed then
    assert "harbour/show.toml" in names
    assert any(name.endswith("/episode.toml") for name in names)
    assert any(name.endswith("/audio.mp3") for name in names)


def _feed_with(old_host: OldHost, name: str, channel: str, items: str) -> str:
    old_host.files[f"/feeds/{name}"] = (
        '<?xml version="1.0"?><rss version="2.0"><channel>'
        "<atom:link xmlns:atom='http://www.w3.org/2005/Atom' rel='self' "
        f"href='{old_host.base}/feeds/{name}'/>"
        f"{channel}{items}</channel></rss>"
    ).encode()
    return f"{old_host.base}/feeds/{name}"


def _item(old_host: OldHost, guid: str, title: str, audio: str, day: int) -> str:
    return (
        f"<item><title>{title}</title><guid>{guid}</guid>"
        f"<pubDate>Mon, {day:02d} Jan 2024 08:00:00 +0000</pubDate>"
        f'<enclosure url="{old_host.base}/audio/{audio}" type="audio/mpeg" length="1"/></item>'
    )


def test_a_guid_twice_in_one_feed_keeps_the_first_episode(importer: Services, old_host: OldHost) -> None:
    url = _feed_with(
        old_host,
        "twice.xml",
        "<title>Twice</title>",
        _item(old_host, "same", "First", "one.mp3", 1) + _item(old_host, "same", "Second", "two.mp3", 2),
    )
    run = _import(importer, url)
    with importer.db.session() as session:
        items = session.scalars(select(FeedImport).where(FeedImport.id == run.id)).one().items
        assert [(i.title, i.state) for i in items] == [("First", "imported"), ("Second", "failed")]
        assert "same guid" in (items[1].reason or "")
    (episode,) = _episodes(importer).values()
    assert episode.title == "First" and episode.duration_s == pytest.approx(3, abs=0.2)


@pytest.mark.slow
def test_a_named_show_is_a_new_show_even_when_the_feed_was_imported_before(
    importer: Services, old_host: OldHost
) -> None:
    url = f"{old_host.base}/feeds/modern_host.xml"
    first = _import(importer, url)
    second = _import(importer, url, show="evening-copy")
    assert second.show_id != first.show_id
    with importer.db.session() as session:
        copy = session.get(Show, second.show_id)
        assert copy is not None and copy.slug == "evening-copy"
        assert copy.podcast_guid != "917393e3-1b1e-5cef-ace4-edaa54e1f810", "one identity, one show"
        assert "podcast:guid already used by another show here" in (
            session.get(FeedImport, second.id).notices or ""
        )


def test_one_run_of_a_feed_at_a_time_and_a_limit_on_items(
    importer: Services, old_host: OldHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podcast_host.errors import Conflict
    from podcast_host.imports import run as runs

    url = f"{old_host.base}/feeds/hosted_classic.xml"
    with importer.db.session() as session:
        first = start_import(importer, session, url, None, False, None, queued=False)
        session.commit()
        first_id = first.id
        with pytest.raises(Conflict, match="already under way"):
            start_import(importer, session, url, None, False, None, queued=False)
        session.rollback()
    monkeypatch.setattr(runs, "MAX_ITEMS", 2)
    ended = run_import(importer, first_id, process_inline=True)
    assert ended.state == "failed" and ended.error == "The feed has 3 items; an import takes at most 2."
    with importer.db.session() as session:
        assert session.scalars(select(Show)).all() == [], "nothing is made of a feed refused whole"


def test_each_item_s_files_go_once_it_is_stored(
    importer: Services, old_host: OldHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podcast_host.imports import imports_dir, items
    from podcast_host.imports import run as runs

    url = _feed_with(
        old_host,
        "many.xml",
        "<title>Many</title>",
        "".join(_item(old_host, f"g{n}", f"Episode {n}", "four.mp3", n + 1) for n in range(8)),
    )
    on_disk: list[int] = []
    record = runs._record

    def counting(services: Services, import_id: int, *args: Any, **kwargs: Any) -> int | None:
        folders = imports_dir(services.settings).glob(f"import-{import_id}-*/item-*")
        on_disk.append(len(list(folders)))
        return record(services, import_id, *args, **kwargs)

    monkeypatch.setattr(runs, "_record", counting)
    run = _import(importer, url, keep_audio=True)
    assert run.state == "done" and len(_episodes(importer)) == 8
    # The item being stored, and those downloading ahead of it.
    assert len(on_disk) == 8 and max(on_disk) <= items.IMPORT_AHEAD + 1, on_disk


def test_kept_audio_replaced_by_another_format_goes_through_the_pipeline(
    importer: Services, old_host: OldHost, media: dict[str, bytes], tmp_path: Path
) -> None:
    from podcast_host import episodes, processing

    _import(importer, f"{old_host.base}/feeds/modern_host.xml", keep_audio=True)
    guid = "4f3c2a10-9a7b-4c1d-8e2f-0a1b2c3d4e5f"
    replacement = tmp_path / "replacement.m4a"
    replacement.write_bytes(media["/audio/three.m4a"])
    with importer.db.session() as session:
        episode = session.scalars(select(Episode).where(Episode.guid == guid)).one()
        assert episode.keep_audio
        episodes.replace_original(importer, session, episode, episodes.Upload(replacement, "replacement.m4a"))
        session.commit()
        episode_id = episode.id
    assert processing.process_episode(importer, episode_id) == "ready"
    published = _episodes(importer)[guid]
    with importer.store.open(published.audio_key or "") as fh:
        head = fh.read(16)
    assert b"ftyp" not in head and (head.startswith(b"ID3") or head[0] == 0xFF), "an MP3, not the M4A"
    assert published.loudness_report and published.loudness_report["gain_db"] != 0.0


def test_a_file_that_names_no_address_needs_a_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_host: OldHost
) -> None:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("PODCAST_HOST_ALLOW_PRIVATE_URLS", "true")
    feed = tmp_path / "saved.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>Saved</title>'
        + _item(old_host, "s1", "Saved one", "four.mp3", 3)
        + "</channel></rss>"
    )
    refused = CliRunner().invoke(main, ["import", str(feed)])
    assert refused.exit_code == 1 and "choose the show to import into" in refused.output
    done = CliRunner().invoke(main, ["import", str(feed), "--show", "saved"])
    assert done.exit_code == 0, done.output
    again = CliRunner().invoke(main, ["import", str(feed), "--show", "saved"])
    assert again.stdout.strip() == "0 imported, 1 skipped, 0 failed (show saved)"


def test_a_locked_feed_is_imported_for_its_owner_only(importer: Services, old_host: OldHost) -> None:
    from helpers import auth, user_token

    from podcast_host import create_app

    url = _feed_with(
        old_host,
        "locked.xml",
        "<title>Locked</title><podcast:locked xmlns:podcast='https://podcastindex.org/namespace/1.0' "
        "owner='Owner@Example.com'>yes</podcast:locked>",
        _item(old_host, "l1", "Locked one", "four.mp3", 4),
    )
    client = create_app(services=importer).test_client()
    stranger = user_token(importer, "x@example.com")
    other = client.post("/api/v1/imports", json={"url": url}, headers=auth(stranger))
    refused = client.get(other.headers["Location"], headers=auth(stranger))
    assert refused.get_json()["error"].startswith("The feed is locked (podcast:locked)")
    owner = user_token(importer, "owner@example.com")
    done = client.get(
        client.post("/api/v1/imports", json={"url": url}, headers=auth(owner)).headers["Location"],
        headers=auth(owner),
    ).get_json()
    assert (done["state"], done["imported"]) == ("done", 1)
