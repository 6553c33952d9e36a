"""`podcast-host export`: a show written out as a folder that `sync` reads back, here into a second, empty
instance, and the keys that carry a show's and an episode's identity over (README.md, "Podcast as code")."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import make_services
from helpers import auth, stored_episode, upload_episode
from PIL import Image

from podcast_host import shows
from podcast_host.cli import main
from podcast_host.episodes import list_episodes
from podcast_host.errors import Invalid
from podcast_host.feeds.syndication import render_feed
from podcast_host.models import FAILED, READY, Episode
from podcast_host.services import Services
from podcast_host.storage import MediaStore
from podcast_host.sync import sync_directory

NOTES = (
    "## In this episode\n\nThe **news** of the week, and a guest.\n\n"
    "## في هذه الحلقة\n\nأخبار الأسبوع، وضيف من **القاهرة**.\n"
)
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello and welcome.\n\n00:00:02.000 --> 00:00:04.000\nمرحبا\n"
CHAPTERS = {
    "version": "1.2.0",
    "chapters": [{"startTime": 0, "title": "Intro"}, {"startTime": 2, "title": "خبر"}],
}
LATER = "2031-05-01T08:00:00+02:00"


@pytest.fixture
def second(tmp_path: Path) -> Iterator[Services]:
    """Another instance: its own data dir, database and media folder, empty."""
    built = make_services(tmp_path / "second")
    yield built
    built.close()


def cli(instance: Services, *args: str) -> Result:
    """`podcast-host ARGS` run against `instance`, as its operator would on that machine."""
    env = {
        "PODCAST_HOST_DATA_DIR": str(instance.settings.data_dir),
        "PODCAST_HOST_DATABASE_URL": instance.settings.database_url,
        "PODCAST_HOST_STORAGE_URL": instance.settings.storage_url,
    }
    return CliRunner().invoke(main, list(args), env=env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(result: Result) -> str:
    """A refusal: a non-zero exit and one line on stderr, no traceback."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def image(fmt: str, colour: tuple[int, int, int]) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (1400, 1400), colour).save(buffer, fmt)
    buffer.seek(0)
    return buffer


def stored(store: MediaStore, key: str | None) -> bytes:
    assert key
    with store.open(key) as fh:
        return fh.read()


def by_slug(instance: Services, show_slug: str = "daily") -> dict[str, dict[str, Any]]:
    """Every episode of the show as plain values, its files' bytes (or digests) included."""
    with instance.db.session() as session:
        show = shows.find_show(session, show_slug)
        return {e.slug: _values(instance.store, e) for e in list_episodes(session, show)}


def _values(store: MediaStore, episode: Episode) -> dict[str, Any]:
    return {
        "guid": episode.guid,
        "title": episode.title,
        "description": episode.description,
        "publish_at": episode.publish_at,
        "draft": episode.draft,
        "status": episode.status,
        "season": episode.season,
        "number": episode.number,
        "type": episode.episode_type,
        "explicit": episode.explicit,
        "chapters": episode.chapters,
        "transcript": stored(store, episode.transcript_key) if episode.transcript_key else None,
        "transcript_type": episode.transcript_type,
        "image": stored(store, episode.image_key) if episode.image_key else None,
        "audio_sha256": hashlib.sha256(stored(store, episode.audio_key)).hexdigest(),
        "enclosure_length": episode.enclosure_length,
    }


def feed_items(instance: Services) -> list[tuple[str, str]]:
    """(guid, enclosure length) of every item of the show's feed, in the feed's order."""
    with instance.db.session() as session:
        body = render_feed(instance, session, shows.find_show(session, "daily")).body
    items = []
    for item in ET.fromstring(body).iter("item"):
        enclosure = item.find("enclosure")
        assert enclosure is not None
        items.append((item.findtext("guid") or "", enclosure.get("length") or ""))
    return items


def a_show_of_every_kind(client: Any, token: str, sample_mp3: Path) -> None:
    """Beside the `episode` fixture's published "Episode one": a cover, and published, draft, scheduled and
    trailer episodes; the published one with chapters, a transcript, its own cover and notes in two
    scripts."""
    response = client.put(
        "/api/v1/shows/daily/image",
        headers=auth(token),
        data={"image": (image("PNG", (200, 40, 90)), "cover.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_json()
    uploads: list[dict[str, Any]] = [
        {
            "title": "Sidecars",
            "description": NOTES,
            "image": (image("JPEG", (20, 90, 160)), "episode.jpg"),
            "chapters": (io.BytesIO(json.dumps(CHAPTERS).encode()), "chapters.json"),
            "transcript": (io.BytesIO(VTT.encode()), "transcript.vtt"),
        },
        {"title": "Not yet", "draft": "true"},
        {"title": "Next month", "publish_at": LATER},
        {"title": "The trailer", "season": "2", "number": "0", "type": "trailer", "explicit": "true"},
    ]
    for fields in uploads:
        answer = upload_episode(client, token, "daily", sample_mp3, **fields)
        assert answer.status_code == 202, answer.get_json()


# --- the round trip ----------------------------------------------------------------------------------------


def test_an_exported_show_synced_into_an_empty_instance_is_the_same_show(
    client: Any,
    admin_token: str,
    episode: dict[str, Any],
    services: Services,
    second: Services,
    sample_mp3: Path,
    tmp_path: Path,
) -> None:
    a_show_of_every_kind(client, admin_token, sample_mp3)
    before = by_slug(services)
    assert sorted(e["status"] for e in before.values()) == [
        "draft",
        "published",
        "published",
        "published",
        "scheduled",
    ]

    out = ok(cli(services, "export", "daily", str(tmp_path / "out")))
    assert out.strip() == f"Exported daily with 5 episode(s) to {tmp_path / 'out' / 'daily'}"
    folder = tmp_path / "out" / "daily"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["daily"]  # no work folder left behind
    sidecars = folder / next(slug for slug, e in before.items() if e["title"] == "Sidecars")
    assert sorted(p.name for p in sidecars.iterdir()) == [
        "audio.mp3",
        "chapters.json",
        "cover.jpg",
        "episode.toml",
        "notes.md",
        "transcript.vtt",
    ]
    written = tomllib.loads((sidecars / "episode.toml").read_text(encoding="utf-8"))
    assert written["keep_audio"] is True and written["guid"] == before[sidecars.name]["guid"]
    assert (sidecars / "notes.md").read_text(encoding="utf-8") == NOTES.strip()
    assert_states_written(folder)

    # The second instance has never seen the show.
    assert ok(cli(second, "sync", str(tmp_path / "out"))).strip() == "6 created, 0 updated, 0 unchanged"

    after = by_slug(second)
    assert after == before  # guids, fields, notes, dates, chapters, transcript, cover and MP3 bytes alike
    with services.db.session() as session, second.db.session() as other:
        mine, theirs = shows.find_show(session, "daily"), shows.find_show(other, "daily")
        assert theirs.podcast_guid == mine.podcast_guid
        assert stored(second.store, theirs.image_key) == stored(services.store, mine.image_key)
        for name in shows.EDITABLE:
            assert getattr(theirs, name) == getattr(mine, name), name
    items = feed_items(second)
    assert len(items) == 3 and items == feed_items(services)

    # The same folder again changes nothing.
    again = ok(cli(second, "sync", str(tmp_path / "out")))
    assert again.strip() == "0 created, 0 updated, 6 unchanged"
    assert by_slug(second) == before


def assert_states_written(folder: Path) -> None:
    """Scheduled, draft and trailer as episode.toml says them; the show's cover named in show.toml."""
    written = {
        p.parent.name: tomllib.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*/episode.toml")
    }
    later = next(v for v in written.values() if v["title"] == "Next month")
    assert later["publish_at"] == datetime.fromisoformat(LATER) and later["draft"] is False
    draft = next(v for v in written.values() if v["title"] == "Not yet")
    assert draft["draft"] is True and "publish_at" not in draft
    trailer = next(v for v in written.values() if v["title"] == "The trailer")
    assert (trailer["season"], trailer["number"], trailer["type"], trailer["explicit"]) == (
        2,
        0,
        "trailer",
        True,
    )
    show = tomllib.loads((folder / "show.toml").read_text(encoding="utf-8"))
    assert show["image"] == "cover.png" and (folder / "cover.png").is_file()
    assert show["title"] == "The Daily Test" and show["category"] == "News/Politics"


# --- refusals -------------------------------------------------------------------------------------------


def daily(services: Services) -> int:
    """The show "daily", without episodes; its id."""
    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": "daily", "title": "Daily"})
        session.commit()
        return show.id


def test_export_refuses_a_folder_that_is_not_empty_and_writes_nothing(
    services: Services, tmp_path: Path
) -> None:
    daily(services)
    taken = tmp_path / "out" / "daily"
    taken.mkdir(parents=True)
    (taken / "notes.txt").write_text("mine", encoding="utf-8")
    line = refused(cli(services, "export", "daily", str(tmp_path / "out")))
    assert "not an empty folder" in line and str(taken) in line
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["daily"]
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]

    # An empty folder of that name is taken over.
    (taken / "notes.txt").unlink()
    ok(cli(services, "export", "daily", str(tmp_path / "out")))
    assert (taken / "show.toml").is_file()


def test_export_refuses_an_unknown_show_and_writes_nothing(services: Services, tmp_path: Path) -> None:
    line = refused(cli(services, "export", "nope", str(tmp_path / "out")))
    assert "nope" in line
    assert not (tmp_path / "out").exists()


def test_export_refuses_the_acting_user_option(services: Services, tmp_path: Path) -> None:
    line = refused(cli(services, "--as", "someone@example.com", "export", "daily", str(tmp_path / "out")))
    assert "--as" in line and not (tmp_path / "out").exists()


# --- episodes without a published MP3 ---------------------------------------------------------------------


def test_an_episode_still_processing_goes_out_with_its_original_and_is_processed_where_synced(
    services: Services, second: Services, sample_mp3: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    show_id = daily(services)
    waiting = stored_episode(services, show_id, sample_mp3, title="Waiting")
    broken = stored_episode(services, show_id, sample_mp3, title="Broken", draft=True)
    with services.db.session() as session:
        failed = session.get(Episode, broken)
        assert failed is not None
        failed.processing_state, failed.error = FAILED, "The audio could not be decoded."
        session.commit()

    result = cli(services, "export", "daily", str(tmp_path / "out"))
    assert ok(result).strip().startswith("Exported daily with 2 episode(s)")
    assert "waiting: processing, exported with its original audio" in result.stderr
    assert "broken: failed, exported with its original audio" in result.stderr
    folder = tmp_path / "out" / "daily" / "waiting"
    assert (folder / "audio.mp3").read_bytes() == sample_mp3.read_bytes()
    written = tomllib.loads((folder / "episode.toml").read_text(encoding="utf-8"))
    assert written["keep_audio"] is False and written["draft"] is False and "publish_at" not in written

    # Synced, it is processed there, and published as the producer asked (as soon as it is ready).
    report = sync_directory(second, tmp_path / "out")
    assert sorted(report.created) == ["daily", "daily/broken", "daily/waiting"]
    with second.db.session() as session:
        synced = {e.slug: e for e in list_episodes(session, shows.find_show(session, "daily"))}
        assert synced["waiting"].processing_state == READY and synced["waiting"].status == "published"
        assert synced["broken"].status == "draft"  # processed here, still unpublished
    with services.db.session() as source:
        kept = {e.guid for e in source.query(Episode).filter(Episode.id.in_([waiting, broken]))}
    assert {e.guid for e in synced.values()} == kept


@pytest.mark.slow
@pytest.mark.s3
def test_export_reads_the_media_from_an_s3_store(
    s3_services: Services, sample_mp3: Path, tmp_path: Path
) -> None:
    from podcast_host.export import export_show

    show_id = daily(s3_services)
    stored_episode(s3_services, show_id, sample_mp3, title="Waiting")
    with s3_services.db.session() as session:
        show = shows.find_show(session, "daily")
        shows.set_cover(s3_services, session, show, image("PNG", (10, 200, 10)).getvalue())
        session.commit()
        cover = stored(s3_services.store, show.image_key)
    report = export_show(s3_services, "daily", tmp_path / "out")
    assert (report.episodes, report.path) == (["waiting"], tmp_path / "out" / "daily")
    assert (report.path / "cover.png").read_bytes() == cover
    assert (report.path / "waiting" / "audio.mp3").read_bytes() == sample_mp3.read_bytes()


# --- the sync keys that carry identity over ---------------------------------------------------------------


def show_folder(root: Path, sample_mp3: Path, show_toml: str, episode_toml: str) -> Path:
    episode_dir = root / "daily" / "first"
    episode_dir.mkdir(parents=True, exist_ok=True)
    (root / "daily" / "show.toml").write_text(show_toml, encoding="utf-8")
    (episode_dir / "episode.toml").write_text(episode_toml, encoding="utf-8")
    shutil.copy(sample_mp3, episode_dir / "audio.mp3")
    return episode_dir


PODCAST_GUID = "917393e3-1b1e-5cef-ace4-edaa54e1f810"


def test_sync_keeps_the_guids_it_is_given_and_publishes_kept_audio_as_it_is(
    services: Services, sample_mp3: Path, tmp_path: Path
) -> None:
    show_folder(
        tmp_path,
        sample_mp3,
        f'title = "Daily"\npodcast_guid = "{PODCAST_GUID.upper()}"\n',
        'title = "First"\nguid = "https://old.example.com/?p=17"\nkeep_audio = true\n',
    )
    sync_directory(services, tmp_path)
    with services.db.session() as session:
        show = shows.find_show(session, "daily")
        (first,) = list_episodes(session, show)
        assert show.podcast_guid == PODCAST_GUID  # a UUID, written in lower case
        assert (first.guid, first.keep_audio, first.status) == (
            "https://old.example.com/?p=17",
            True,
            "published",
        )
        assert stored(services.store, first.audio_key) == sample_mp3.read_bytes()
    assert sync_directory(services, tmp_path).unchanged == ["daily", "daily/first"]


def test_sync_refuses_a_changed_guid_and_a_changed_podcast_guid(
    services: Services, sample_mp3: Path, tmp_path: Path
) -> None:
    show_toml = f'title = "Daily"\npodcast_guid = "{PODCAST_GUID}"\n'
    episode_dir = show_folder(
        tmp_path, sample_mp3, show_toml, 'title = "First"\nguid = "one"\nkeep_audio = true\n'
    )
    sync_directory(services, tmp_path)

    (episode_dir / "episode.toml").write_text('title = "Renamed"\nguid = "two"\n', encoding="utf-8")
    with pytest.raises(Invalid, match="guid differs from the episode's 'one'"):
        sync_directory(services, tmp_path)

    (episode_dir / "episode.toml").write_text('title = "First"\nguid = "one"\n', encoding="utf-8")
    other = "00000000-0000-5000-8000-000000000000"
    (tmp_path / "daily" / "show.toml").write_text(
        f'title = "Daily"\npodcast_guid = "{other}"\n', encoding="utf-8"
    )
    with pytest.raises(Invalid, match="podcast_guid differs"):
        sync_directory(services, tmp_path)

    with services.db.session() as session:
        show = shows.find_show(session, "daily")
        (first,) = list_episodes(session, show)
        assert (show.podcast_guid, first.guid, first.title) == (PODCAST_GUID, "one", "First")


def test_sync_refuses_to_keep_audio_that_is_not_an_mp3(services: Services, tmp_path: Path) -> None:
    """Only an MP3 can be published byte for byte: refused for a new episode, and for one synced before."""
    from audio_fixtures import make_tone

    episode_dir = tmp_path / "daily" / "first"
    episode_dir.mkdir(parents=True)
    (tmp_path / "daily" / "show.toml").write_text('title = "Daily"\n', encoding="utf-8")
    toml = episode_dir / "episode.toml"
    toml.write_text('title = "First"\nkeep_audio = true\n', encoding="utf-8")
    make_tone(episode_dir / "audio.wav", seconds=1)
    with pytest.raises(Invalid, match="Only an MP3 can be published as it is; this file is wav"):
        sync_directory(services, tmp_path)
    with services.db.session() as session:
        assert list_episodes(session, shows.find_show(session, "daily")) == []

    toml.write_text('title = "First"\n', encoding="utf-8")
    sync_directory(services, tmp_path)
    toml.write_text('title = "First"\nkeep_audio = true\n', encoding="utf-8")
    with pytest.raises(Invalid, match="Only an MP3 can be published as it is"):
        sync_directory(services, tmp_path)
    with services.db.session() as session:
        (first,) = list_episodes(session, shows.find_show(session, "daily"))
        assert (first.keep_audio, first.status) == (False, "published")
