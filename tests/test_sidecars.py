"""Transcripts and chapters through the API, the CLI and `sync` (docs/feeds.md, "Sidecars").

A WebVTT or SRT transcript is checked and listed as podcast:transcript with its type; JSON chapters,
uploaded or read from the MP3's own ID3 chapters, are listed as podcast:chapters and served as
application/json+chapters.
A malformed sidecar is refused (422, or one CLI line) and nothing is created.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import auth, create_show, upload_episode
from lxml import etree
from mutagen.id3 import CHAP, CTOC, ID3, TIT2, CTOCFlags, ID3NoHeaderError

from podcast_host.cli import main
from podcast_host.errors import Invalid
from podcast_host.services import Services
from podcast_host.sync import sync_directory

BASE = "http://127.0.0.1:8000"
PODCAST = "{https://podcastindex.org/namespace/1.0}"
CHAPTERS_TYPE = "application/json+chapters"

VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello and welcome.\n\n00:00:02.000 --> 00:00:04.000\nمرحبا\n"
SRT = "1\n00:00:00,000 --> 00:00:02,000\nHello and welcome.\n\n2\n00:00:02,000 --> 00:00:04,000\nGoodbye.\n"
# Out of time order on purpose: chapters are served sorted by start.
CHAPTERS = {
    "version": "1.2.0",
    "chapters": [{"startTime": 2, "title": "News"}, {"startTime": 0, "title": "Intro"}],
}

MALFORMED = {
    "a .vtt without its WEBVTT line": ("transcript", "t.vtt", "00:00:00.000 --> 00:00:01.000\nHello\n"),
    "an SRT with a broken timecode": ("transcript", "t.srt", "1\n00:00:00,000 --> later\nHello\n"),
    "a transcript that is not UTF-8": ("transcript", "t.vtt", b"WEBVTT\n\n\xff\xfe"),
    # webvtt-py skips cue blocks it cannot time rather than failing: these must still be refused.
    "WebVTT whose only cue is mistimed": ("transcript", "t.vtt", "WEBVTT\n\n00:00:00.000 --> soon\nHi\n"),
    "WebVTT with text but no cue timing": ("transcript", "t.vtt", "WEBVTT\n\nno timing line at all\n"),
    "chapters that are not JSON": ("chapters", "c.json", "{chapters: nope"),
    "chapters without a chapters list": ("chapters", "c.json", '{"version": "1.2.0"}'),
    "a chapter without a start time": ("chapters", "c.json", '{"chapters": [{"title": "When?"}]}'),
}


def file_field(name: str, content: str | bytes) -> tuple[io.BytesIO, str]:
    return io.BytesIO(content.encode() if isinstance(content, str) else content), name


def item_of(feed: bytes) -> Any:
    items = etree.fromstring(feed).findall("channel/item")
    assert len(items) == 1
    return items[0]


def local(url: str) -> str:
    return url.removeprefix(BASE)


def assert_sidecars_served(
    client: Any, feed: bytes, transcript_type: str | None, chapter_titles: list[str]
) -> None:
    """The feed lists the sidecars with their types, and their URLs answer with those types."""
    item = item_of(feed)
    transcript = item.find(f"{PODCAST}transcript")
    if transcript_type is None:
        assert transcript is None
    else:
        assert transcript is not None and transcript.get("type") == transcript_type
        with client.get(local(transcript.get("url"))) as served:
            assert served.status_code == 200
            assert served.mimetype == transcript_type
    chapters = item.find(f"{PODCAST}chapters")
    assert chapters is not None and chapters.get("type") == CHAPTERS_TYPE
    served_chapters = client.get(local(chapters.get("url")))
    assert served_chapters.status_code == 200
    assert served_chapters.headers["Content-Type"] == CHAPTERS_TYPE
    assert [c["title"] for c in json.loads(served_chapters.data)["chapters"]] == chapter_titles


def mp3_with_id3_chapters(source: Path, target: Path) -> Path:
    """A copy of the sample MP3 carrying ID3 CHAP frames, stored out of time order as real files may be."""
    shutil.copy(source, target)
    try:
        tags = ID3(target)
    except ID3NoHeaderError:
        tags = ID3()
    tags.add(CHAP(element_id="c1", start_time=2000, end_time=4000, sub_frames=[TIT2(text=["Second part"])]))
    tags.add(CHAP(element_id="c0", start_time=0, end_time=2000, sub_frames=[TIT2(text=["First part"])]))
    tags.add(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=["c0", "c1"],
            sub_frames=[],
        )
    )
    tags.save(target)
    return target


def stored_files(services: Services) -> list[Path]:
    media = services.settings.data_dir / "media"
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


# --- the API ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content", "mime"),
    [
        ("transcript.vtt", VTT, "text/vtt"),
        ("transcript.srt", SRT, "application/x-subrip"),
    ],
)
def test_api_upload_with_transcript_and_chapters_lists_both_in_the_feed(
    client: Any, admin_token: str, sample_mp3: Path, filename: str, content: str, mime: str
) -> None:
    create_show(client, admin_token)
    response = upload_episode(
        client,
        admin_token,
        "daily",
        sample_mp3,
        transcript=file_field(filename, content),
        chapters=file_field("chapters.json", json.dumps(CHAPTERS)),
    )
    assert response.status_code == 202, response.get_json()
    assert_sidecars_served(client, client.get("/daily/feed.xml").data, mime, ["Intro", "News"])


def test_api_reads_chapters_from_the_mp3_when_no_file_is_given(
    client: Any, admin_token: str, sample_mp3: Path, tmp_path: Path
) -> None:
    create_show(client, admin_token)
    audio = mp3_with_id3_chapters(sample_mp3, tmp_path / "chaptered.mp3")
    assert upload_episode(client, admin_token, "daily", audio).status_code == 202
    assert_sidecars_served(client, client.get("/daily/feed.xml").data, None, ["First part", "Second part"])


def test_an_uploaded_chapters_file_wins_over_the_mp3s_own(
    client: Any, admin_token: str, sample_mp3: Path, tmp_path: Path
) -> None:
    create_show(client, admin_token)
    audio = mp3_with_id3_chapters(sample_mp3, tmp_path / "chaptered.mp3")
    upload_episode(client, admin_token, "daily", audio, chapters=file_field("c.json", json.dumps(CHAPTERS)))
    assert_sidecars_served(client, client.get("/daily/feed.xml").data, None, ["Intro", "News"])


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_api_refuses_a_malformed_sidecar_and_creates_nothing(
    client: Any, services: Services, admin_token: str, sample_mp3: Path, case: str
) -> None:
    create_show(client, admin_token)
    field, filename, content = MALFORMED[case]
    sidecar = {field: file_field(filename, content)}
    response = upload_episode(client, admin_token, "daily", sample_mp3, **sidecar)
    assert response.status_code == 422
    assert response.get_json()["error"]["message"]
    assert client.get("/api/v1/shows/daily/episodes", headers=auth(admin_token)).get_json()["episodes"] == []
    assert stored_files(services) == []
    assert etree.fromstring(client.get("/daily/feed.xml").data).findall("channel/item") == []


# --- the command line ------------------------------------------------------------------------------------


@pytest.fixture
def runner(services: Services, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI on the same data dir and database as `client`."""
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("PODCAST_HOST_DATABASE_URL", services.settings.database_url)
    runner = CliRunner()
    made = runner.invoke(main, ["show", "add", "daily", "--title", "The Daily Test", "--author", "Tester"])
    assert made.exit_code == 0, made.output
    return runner


@pytest.mark.parametrize(
    ("filename", "content", "mime"),
    [
        ("transcript.vtt", VTT, "text/vtt"),
        ("transcript.srt", SRT, "application/x-subrip"),
    ],
)
def test_cli_episode_add_with_chapters_and_transcript(
    runner: CliRunner, client: Any, sample_mp3: Path, tmp_path: Path, filename: str, content: str, mime: str
) -> None:
    (tmp_path / filename).write_text(content, encoding="utf-8")
    (tmp_path / "chapters.json").write_text(json.dumps(CHAPTERS), encoding="utf-8")
    added = runner.invoke(
        main,
        [
            "episode",
            "add",
            "daily",
            str(sample_mp3),
            "--title",
            "From the CLI",
            "--chapters",
            str(tmp_path / "chapters.json"),
            "--transcript",
            str(tmp_path / filename),
        ],
    )
    assert added.exit_code == 0, added.output
    printed = runner.invoke(main, ["feed", "daily"])
    assert printed.exit_code == 0
    assert_sidecars_served(client, printed.stdout_bytes, mime, ["Intro", "News"])


def test_cli_reads_chapters_from_the_mp3_when_no_file_is_given(
    runner: CliRunner, client: Any, sample_mp3: Path, tmp_path: Path
) -> None:
    audio = mp3_with_id3_chapters(sample_mp3, tmp_path / "chaptered.mp3")
    assert runner.invoke(main, ["episode", "add", "daily", str(audio), "--title", "Chaptered"]).exit_code == 0
    assert_sidecars_served(client, client.get("/daily/feed.xml").data, None, ["First part", "Second part"])


def test_cli_refuses_a_malformed_transcript_in_one_line_and_creates_nothing(
    runner: CliRunner, services: Services, sample_mp3: Path, tmp_path: Path
) -> None:
    (tmp_path / "bad.srt").write_text("1\n00:00:00,000 --> later\nHello\n", encoding="utf-8")
    refused = runner.invoke(
        main,
        [
            "episode",
            "add",
            "daily",
            str(sample_mp3),
            "--title",
            "Nope",
            "--transcript",
            str(tmp_path / "bad.srt"),
        ],
    )
    assert refused.exit_code != 0
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.output
    assert runner.invoke(main, ["episode", "list", "daily"]).stdout == ""
    assert stored_files(services) == []


# --- sync ---------------------------------------------------------------------------------------------------


def show_folder(root: Path, sample_mp3: Path, **sidecars: str | bytes) -> Path:
    """DIR/daily/show.toml and DIR/daily/first/{episode.toml, audio.mp3, sidecars...}."""
    episode = root / "daily" / "first"
    episode.mkdir(parents=True)
    (root / "daily" / "show.toml").write_text('title = "The Daily Test"\n', encoding="utf-8")
    (episode / "episode.toml").write_text('title = "First"\n', encoding="utf-8")
    shutil.copy(sample_mp3, episode / "audio.mp3")
    for name, content in sidecars.items():
        path = episode / name.replace("_", ".")
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


@pytest.mark.parametrize(
    ("name", "content", "mime"),
    [
        ("transcript_vtt", VTT, "text/vtt"),
        ("transcript_srt", SRT, "application/x-subrip"),
    ],
)
def test_sync_picks_up_chapters_json_and_the_transcript(
    services: Services, client: Any, sample_mp3: Path, tmp_path: Path, name: str, content: str, mime: str
) -> None:
    root = show_folder(tmp_path / "shows", sample_mp3, chapters_json=json.dumps(CHAPTERS), **{name: content})
    sync_directory(services, root)
    assert_sidecars_served(client, client.get("/daily/feed.xml").data, mime, ["Intro", "News"])


def test_sync_updates_a_changed_transcript_without_reprocessing_the_audio(
    services: Services, client: Any, sample_mp3: Path, tmp_path: Path
) -> None:
    root = show_folder(tmp_path / "shows", sample_mp3, chapters_json=json.dumps(CHAPTERS), transcript_vtt=VTT)
    sync_directory(services, root)
    enclosure_before = item_of(client.get("/daily/feed.xml").data).find("enclosure").get("url")

    (root / "daily" / "first" / "transcript.vtt").write_text(VTT.replace("Hello", "Hi"), encoding="utf-8")
    report = sync_directory(services, root)
    assert report.updated == ["daily/first"]

    feed = client.get("/daily/feed.xml").data
    with client.get(local(item_of(feed).find(f"{PODCAST}transcript").get("url"))) as served:
        assert b"Hi and welcome." in served.data
    assert item_of(feed).find("enclosure").get("url") == enclosure_before


def test_sync_of_changed_chapters_serves_them_and_keeps_the_guid(
    services: Services, client: Any, sample_mp3: Path, tmp_path: Path
) -> None:
    root = show_folder(tmp_path / "shows", sample_mp3, chapters_json=json.dumps(CHAPTERS), transcript_vtt=VTT)
    sync_directory(services, root)
    guid_before = item_of(client.get("/daily/feed.xml").data).find("guid").text

    renamed = {"chapters": [{"startTime": 0, "title": "Opening"}]}
    (root / "daily" / "first" / "chapters.json").write_text(json.dumps(renamed), encoding="utf-8")
    report = sync_directory(services, root)
    assert report.updated == ["daily/first"]

    # The MP3's CHAP frames are written by processing, so new chapters send the episode through it again.
    feed = client.get("/daily/feed.xml").data
    assert_sidecars_served(client, feed, "text/vtt", ["Opening"])
    assert item_of(feed).find("guid").text == guid_before


def test_sync_reads_chapters_from_the_mp3_when_the_folder_has_none(
    services: Services, client: Any, sample_mp3: Path, tmp_path: Path
) -> None:
    audio = mp3_with_id3_chapters(sample_mp3, tmp_path / "chaptered.mp3")
    sync_directory(services, show_folder(tmp_path / "shows", audio))
    assert_sidecars_served(client, client.get("/daily/feed.xml").data, None, ["First part", "Second part"])


def test_sync_refuses_a_malformed_transcript_and_creates_no_episode(
    services: Services, client: Any, admin_token: str, sample_mp3: Path, tmp_path: Path
) -> None:
    root = show_folder(tmp_path / "shows", sample_mp3, transcript_srt="1\nwhenever\nHello\n")
    with pytest.raises(Invalid, match="SRT"):
        sync_directory(services, root)
    listed = client.get("/api/v1/shows/daily/episodes", headers=auth(admin_token)).get_json()
    assert listed["episodes"] == []
    assert stored_files(services) == []
