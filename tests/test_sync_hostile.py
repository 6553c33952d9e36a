"""`sync DIR` on a folder someone else prepared: it reads regular files inside DIR only, each within its size
limit, and refuses anything else in one line with nothing created (README.md, "Podcast as code")."""

from __future__ import annotations

import os
import shutil
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import audio_fixtures as fx
import pytest
from click.testing import CliRunner

from podcast_host.cli import main
from podcast_host.errors import Invalid
from podcast_host.limits import SIDE_FILE_LIMITS
from podcast_host.models import Episode, Show
from podcast_host.services import Services
from podcast_host.sync import NOTES_LIMIT, sync_directory

SECRET = "s3cr3t-the-operator-can-read"
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello and welcome.\n"
CHAPTERS = '{"chapters": [{"startTime": 0, "title": "Intro"}]}'


def folder(root: Path, sample_mp3: Path) -> Path:
    """root/daily/{show.toml, cover.jpg} and root/daily/first/{episode.toml, audio.mp3, side files}."""
    episode = root / "daily" / "first"
    episode.mkdir(parents=True)
    (root / "daily" / "show.toml").write_text('title = "The Daily Test"\n', encoding="utf-8")
    (episode / "episode.toml").write_text('title = "First"\n', encoding="utf-8")
    (episode / "notes.md").write_text("Our *first* episode.\n", encoding="utf-8")
    (episode / "chapters.json").write_text(CHAPTERS, encoding="utf-8")
    (episode / "transcript.vtt").write_text(VTT, encoding="utf-8")
    shutil.copy(sample_mp3, episode / "audio.mp3")
    return root


@pytest.fixture(scope="module")
def cover(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.write_jpeg(tmp_path_factory.mktemp("art") / "cover.jpg", size=1400)


def outside(tmp_path: Path, name: str, cover: Path) -> Path:
    """A file beside the synced folder, as /etc/... or the data dir's secret_key would be."""
    target = tmp_path / "elsewhere" / name
    target.parent.mkdir(exist_ok=True)
    if name.endswith(".jpg"):
        shutil.copy(cover, target)
    elif name.endswith(".mp3"):
        fx.make_tone(target, seconds=2)
    elif name.endswith(".json"):
        target.write_text(CHAPTERS.replace("Intro", SECRET), encoding="utf-8")
    elif name.endswith(".vtt"):
        target.write_text(VTT.replace("Hello", SECRET), encoding="utf-8")
    else:
        target.write_text(f'title = "{SECRET}"\n' if name.endswith(".toml") else SECRET, encoding="utf-8")
    return target


def link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.symlink_to(target)


def nothing_stored(services: Services) -> None:
    with services.db.session() as session:
        assert session.query(Show).count() == 0
        assert session.query(Episode).count() == 0


# Each entry: the path made a link, relative to the synced folder, and the file it points to.
LINKED_FILES = {
    "show.toml": ("daily/show.toml", "show.toml"),
    "the show's cover": ("daily/cover.jpg", "cover.jpg"),
    "episode.toml": ("daily/first/episode.toml", "episode.toml"),
    "notes.md": ("daily/first/notes.md", "secret_key"),
    "chapters.json": ("daily/first/chapters.json", "chapters.json"),
    "transcript.vtt": ("daily/first/transcript.vtt", "transcript.vtt"),
    "the audio": ("daily/first/audio.mp3", "audio.mp3"),
    "the episode's cover": ("daily/first/cover.jpg", "cover.jpg"),
}


@pytest.mark.parametrize("case", sorted(LINKED_FILES))
def test_a_linked_file_is_refused_and_nothing_is_created(
    services: Services, sample_mp3: Path, tmp_path: Path, cover: Path, case: str
) -> None:
    root = folder(tmp_path / "shows", sample_mp3)
    relative, target = LINKED_FILES[case]
    link(root / relative, outside(tmp_path, target, cover))
    with pytest.raises(Invalid) as refused:
        sync_directory(services, root)
    assert relative in str(refused.value) and "link" in str(refused.value)
    nothing_stored(services)


def test_a_cover_named_in_the_toml_may_not_be_a_link_either(
    services: Services, sample_mp3: Path, tmp_path: Path, cover: Path
) -> None:
    """Even one that points inside the folder: what sync reads is what the folder holds, nothing else."""
    root = folder(tmp_path / "shows", sample_mp3)
    episode = root / "daily" / "first"
    shutil.copy(cover, root / "daily" / "art.jpg")
    (episode / "art").mkdir()
    (episode / "art" / "cover.jpg").symlink_to(root / "daily" / "art.jpg")
    (episode / "episode.toml").write_text('title = "First"\nimage = "art/cover.jpg"\n', encoding="utf-8")
    with pytest.raises(Invalid, match="link"):
        sync_directory(services, root)
    nothing_stored(services)


@pytest.mark.parametrize("named", ["../cover.jpg", "../../elsewhere/cover.jpg", "ABSOLUTE", ""])
def test_a_cover_named_outside_its_folder_is_refused(
    services: Services, sample_mp3: Path, tmp_path: Path, cover: Path, named: str
) -> None:
    root = folder(tmp_path / "shows", sample_mp3)
    shutil.copy(cover, root / "daily" / "cover.jpg")
    elsewhere = outside(tmp_path, "cover.jpg", cover)
    named = str(elsewhere) if named == "ABSOLUTE" else named
    toml = root / "daily" / "first" / "episode.toml"
    toml.write_text(f'title = "First"\nimage = "{named}"\n', encoding="utf-8")
    with pytest.raises(Invalid, match="sync reads only files inside the folder it syncs"):
        sync_directory(services, root)
    nothing_stored(services)


def test_each_toml_file_is_read_once(
    services: Services, sample_mp3: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podcast_host import sync

    root = folder(tmp_path / "shows", sample_mp3)
    read: list[str] = []
    read_toml = sync._read_toml

    def counted(path: Path, allowed: set[str]) -> dict:
        read.append(path.relative_to(root).as_posix())
        return read_toml(path, allowed)

    monkeypatch.setattr(sync, "_read_toml", counted)
    sync_directory(services, root)
    assert sorted(read) == ["daily/first/episode.toml", "daily/show.toml"]


@pytest.mark.parametrize("linked", ["daily", "daily/first"])
def test_a_linked_show_or_episode_folder_is_refused(
    services: Services, sample_mp3: Path, tmp_path: Path, linked: str
) -> None:
    root = folder(tmp_path / "shows", sample_mp3)
    elsewhere = folder(tmp_path / "elsewhere", sample_mp3)
    (elsewhere / "daily" / "first" / "notes.md").write_text(SECRET, encoding="utf-8")
    link(root / linked, elsewhere / linked)
    with pytest.raises(Invalid, match="link") as refused:
        sync_directory(services, root)
    assert linked in str(refused.value)
    nothing_stored(services)


def test_a_link_put_in_after_a_first_sync_is_refused_too(
    services: Services, sample_mp3: Path, tmp_path: Path, cover: Path
) -> None:
    root = folder(tmp_path / "shows", sample_mp3)
    sync_directory(services, root)
    link(root / "daily" / "first" / "notes.md", outside(tmp_path, "secret_key", cover))
    with pytest.raises(Invalid, match="notes.md"):
        sync_directory(services, root)
    with services.db.session() as session:
        (episode,) = session.query(Episode).all()
        assert SECRET not in (episode.description or "")


def test_a_named_pipe_is_refused_instead_of_waiting_forever(
    sqlite_services: Services, sample_mp3: Path, tmp_path: Path
) -> None:
    root = folder(tmp_path / "shows", sample_mp3)
    notes = root / "daily" / "first" / "notes.md"
    notes.unlink()
    os.mkfifo(notes)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            sync_directory(sqlite_services, root)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():
        # Unblock the reader so that the thread ends, then fail.
        with open(notes, "w", encoding="utf-8"):
            pass
        worker.join(20)
        pytest.fail("sync waited on a named pipe")
    assert isinstance(outcome[0], Invalid) and "notes.md" in str(outcome[0])
    nothing_stored(sqlite_services)


def test_the_cli_refuses_a_link_in_one_line(
    services: Services, sample_mp3: Path, tmp_path: Path, cover: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("PODCAST_HOST_DATABASE_URL", services.settings.database_url)
    root = folder(tmp_path / "shows", sample_mp3)
    link(root / "daily" / "first" / "notes.md", outside(tmp_path, "secret_key", cover))
    result = CliRunner().invoke(main, ["sync", str(root)])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "notes.md" in lines[0] and "Traceback" not in result.output
    nothing_stored(services)


# --- sizes ------------------------------------------------------------------------------------------------


def sparse(path: Path, size: int) -> None:
    """A file that claims `size` bytes of zeros without taking the disk space."""
    path.unlink(missing_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)


OVERSIZED: dict[str, tuple[str, Callable[[], int]]] = {
    "chapters.json": ("daily/first/chapters.json", lambda: SIDE_FILE_LIMITS["chapters"]),
    "transcript.vtt": ("daily/first/transcript.vtt", lambda: SIDE_FILE_LIMITS["transcript"]),
    "notes.md": ("daily/first/notes.md", lambda: NOTES_LIMIT),
    "the show's cover": ("daily/cover.jpg", lambda: SIDE_FILE_LIMITS["image"]),
}


def test_side_files_of_an_existing_episode_are_checked_for_size_before_they_are_read(
    services: Services, sample_mp3: Path, tmp_path: Path, cover: Path
) -> None:
    root = folder(tmp_path / "shows", sample_mp3)
    shutil.copy(cover, root / "daily" / "cover.jpg")
    sync_directory(services, root)
    for relative, limit in OVERSIZED.values():
        path = root / relative
        kept = path.read_bytes()
        sparse(path, 64 * 1024 * 1024)
        assert limit() < 64 * 1024 * 1024
        tracemalloc.start()
        try:
            with pytest.raises(Invalid, match="larger than") as refused:
                sync_directory(services, root)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert relative in str(refused.value)
        assert peak < 8 * 1024 * 1024, f"{relative}: {peak} bytes held while refusing it"
        path.write_bytes(kept)
    assert sync_directory(services, root).updated == []


# --- hostile TOML -------------------------------------------------------------------------------------------

HOSTILE_TOML = {
    "100,000 nested arrays": "title = " + "[" * 100_000,
    "100,000 nested tables": "title = " + "{a = " * 100_000,
    "an integer of 5,000 digits": "title = 1" + "0" * 5_000,
    "an image that is a number": 'title = "T"\nimage = 5',
    "a title that is a table": "[title]\na = 1",
    "bytes that are not UTF-8": b'title = "\xff\xfe"',
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TOML))
@pytest.mark.parametrize("name", ["show.toml", "episode.toml"])
def test_hostile_toml_is_refused_in_one_line(
    sqlite_services: Services,
    sample_mp3: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    name: str,
) -> None:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(sqlite_services.settings.data_dir))
    monkeypatch.setenv("PODCAST_HOST_DATABASE_URL", sqlite_services.settings.database_url)
    root = folder(tmp_path / "shows", sample_mp3)
    path = root / "daily" / name if name == "show.toml" else root / "daily" / "first" / name
    content = HOSTILE_TOML[case]
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(main, ["sync", str(root)])
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.output, result.output
    assert len(lines[0]) < 500
    with sqlite_services.db.session() as session:
        assert session.query(Episode).count() == 0
