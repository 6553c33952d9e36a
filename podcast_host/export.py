"""A show written out as a podcast-as-code folder that `sync` reads back (README.md, "Podcast as code").

The folder is what `sync` takes: show.toml and the cover, then one folder per episode with episode.toml, one
audio file and the side files. What makes it a move rather than a copy of the words is what it keeps: the
show's podcast:guid and each episode's guid (apps know them by these), and, for an episode that was
processed, its published MP3 with `keep_audio = true`, so that the instance that syncs it publishes the same
bytes instead of processing them a second time. An episode that has no published MP3 yet (being processed,
or failed) goes out with its original, processed where it is synced.

The rows are read in one short transaction and copied into plain values; the files are then streamed from
the media store (local folder or S3) to disk, one at a time, with no connection held. Everything is written
into a hidden folder beside the destination and renamed into place at the end: a failed export leaves
nothing half-written under the show's name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import tomli_w

from podcast_host import episodes, shows
from podcast_host.errors import Invalid, NotFound
from podcast_host.models import READY, Episode, Show
from podcast_host.services import Services
from podcast_host.storage import MediaStore
from podcast_host.sync import AUDIO_SUFFIXES

# The file name of a stored transcript, by the type it was stored with.
TRANSCRIPT_NAMES = {"text/vtt": "transcript.vtt", "application/x-subrip": "transcript.srt"}


@dataclass
class ExportReport:
    """Where the show went, which episodes went with it, and what the operator should know about them."""

    show: str
    path: Path
    episodes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"Exported {self.show} with {len(self.episodes)} episode(s) to {self.path}"


@dataclass(frozen=True)
class _Media:
    """A stored object and the file name it gets in the folder."""

    key: str
    name: str


@dataclass(frozen=True)
class _EpisodePlan:
    """One episode as plain values, read while the session was open."""

    slug: str
    toml: dict[str, Any]
    notes: str
    chapters: dict[str, Any] | None
    files: tuple[_Media, ...]


@dataclass(frozen=True)
class _ShowPlan:
    slug: str
    toml: dict[str, Any]
    cover: _Media | None
    episodes: tuple[_EpisodePlan, ...]


def export_show(services: Services, slug: str, dest_dir: Path) -> ExportReport:
    """Write the show `slug` to `dest_dir/<slug>/`; refused when that folder exists and is not empty."""
    with services.db.session() as session:
        show = shows.find_show(session, slug)
        report = ExportReport(show.slug, dest_dir / show.slug)
        plan = _plan_show(show, episodes.list_episodes(session, show), report)
    target = report.path
    _refuse_taken(target)
    made_dest = not dest_dir.exists()
    dest_dir.mkdir(parents=True, exist_ok=True)
    # Beside the destination, so that the final rename stays on one filesystem; a fixed ASCII name, since a
    # slug in another script may already be as long as a file name can be.
    work = Path(tempfile.mkdtemp(prefix=".podcast-host-export-", dir=dest_dir))
    try:
        _write_show(services.store, plan, work)
        # rename() takes the place of an empty folder, and fails if one with files appeared meanwhile.
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        if made_dest:
            _remove_if_empty(dest_dir)
        raise
    return report


def _refuse_taken(target: Path) -> None:
    if not os.path.lexists(target):
        return
    if target.is_symlink() or not target.is_dir() or any(target.iterdir()):
        raise Invalid(f"{target} already exists and is not an empty folder; export writes only a new one.")


def _remove_if_empty(folder: Path) -> None:
    # Something else put there meanwhile is not ours to remove.
    with contextlib.suppress(OSError):
        folder.rmdir()


# --- reading the rows ----------------------------------------------------------------------------------


def _plan_show(show: Show, items: list[Episode], report: ExportReport) -> _ShowPlan:
    toml: dict[str, Any] = {}
    for name in shows.EDITABLE:
        value = getattr(show, name)
        if name in shows.NAMESPACE_CLEANERS:
            value = _namespace_toml(value)
        if value is not None and value != "":
            toml[name] = value
    toml["podcast_guid"] = show.podcast_guid
    cover = None
    if show.image_key:
        cover = _Media(show.image_key, f"cover.{_extension(show.image_key, 'jpg')}")
        toml["image"] = cover.name
    plans = []
    # Oldest first, as a reader of the folder expects; sync reads them in the order of their names anyway.
    for item in reversed(items):
        plan = _plan_episode(item, report)
        if plan is not None:
            plans.append(plan)
            report.episodes.append(item.slug)
    return _ShowPlan(show.slug, toml, cover, tuple(plans))


def _plan_episode(episode: Episode, report: ExportReport) -> _EpisodePlan | None:
    audio = _audio_of(episode, report)
    if audio is None:
        return None
    toml = _episode_toml(episode)
    # The published MP3 is kept byte for byte where it is synced; an original keeps the episode's choice.
    toml["keep_audio"] = _published(episode) or episode.keep_audio
    files = [audio]
    if episode.image_key:
        files.append(_Media(episode.image_key, f"cover.{_extension(episode.image_key, 'jpg')}"))
        toml["image"] = files[-1].name
    if episode.transcript_key:
        files.append(_Media(episode.transcript_key, _transcript_name(episode)))
    return _EpisodePlan(episode.slug, toml, episode.description, episode.chapters, tuple(files))


def _published(episode: Episode) -> bool:
    """Whether the episode's MP3 is the one its current original and settings make: processing has ended
    well. A run under way or one that failed may be working on a new original; that one is what goes out."""
    return episode.processing_state == READY and episode.audio_key is not None


def _audio_of(episode: Episode, report: ExportReport) -> _Media | None:
    """The published MP3 when there is one, else the original, which the syncing instance processes."""
    if _published(episode):
        assert episode.audio_key is not None
        return _Media(episode.audio_key, "audio.mp3")
    if episode.original_key:
        report.notes.append(
            f"{episode.slug}: {episode.status}, exported with its original audio; "
            "it is processed where it is synced."
        )
        return _Media(episode.original_key, f"audio.{_original_format(episode)}")
    report.notes.append(f"{episode.slug}: no audio stored, left out.")
    return None


def _episode_toml(episode: Episode) -> dict[str, Any]:
    toml: dict[str, Any] = {"title": episode.title}
    if episode.season is not None:
        toml["season"] = episode.season
    if episode.number is not None:
        toml["number"] = episode.number
    toml["type"] = episode.episode_type
    toml["explicit"] = episode.explicit
    # Processed, not a draft, yet no date: nothing published it (its date was taken away). Synced as it is,
    # it would be published as soon as it is processed there; as a draft it stays unpublished.
    unpublished = _published(episode) and episode.publish_at is None
    toml["draft"] = episode.draft or unpublished
    if episode.publish_at is not None:
        # A TOML offset date-time, in UTC as stored; sync reads it as it reads any publish_at.
        toml["publish_at"] = episode.publish_at
    toml["guid"] = episode.guid
    for name in episodes.NAMESPACE_FIELDS:
        value = _namespace_toml(getattr(episode, name))
        if value is not None:
            toml[name] = value
    return toml


def _namespace_toml(value: Any) -> Any:
    """A Podcasting 2.0 value as show.toml and episode.toml write it: a table, or a list of tables, without
    the keys that hold nothing (TOML has no null; sync reads a key left out as empty). A dtstart becomes a
    TOML date-time."""
    if isinstance(value, list):
        return [_namespace_toml(entry) for entry in value] or None
    if not isinstance(value, dict):
        return value
    table = {key: item for key, item in value.items() if item is not None and item != ""}
    if isinstance(table.get("dtstart"), str):
        table["dtstart"] = datetime.fromisoformat(table["dtstart"].replace("Z", "+00:00"))
    return table


def _transcript_name(episode: Episode) -> str:
    by_type = TRANSCRIPT_NAMES.get(episode.transcript_type or "")
    if by_type:
        return by_type
    assert episode.transcript_key is not None
    return "transcript.srt" if _extension(episode.transcript_key, "vtt") == "srt" else "transcript.vtt"


def _original_format(episode: Episode) -> str:
    """The original's extension, one sync takes as audio: the format its probe found, else its key's."""
    for candidate in ((episode.probe or {}).get("format"), _extension(episode.original_key or "", "")):
        if candidate and f".{candidate}" in AUDIO_SUFFIXES:
            return str(candidate)
    return "mp3"  # sync probes the content, not the name; the name only has to look like audio


def _extension(key: str, default: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return name.rpartition(".")[2].lower() if "." in name else default


# --- writing the folder --------------------------------------------------------------------------------


def _write_show(store: MediaStore, plan: _ShowPlan, work: Path) -> None:
    _write_toml(work / "show.toml", plan.toml)
    if plan.cover:
        _download(store, plan.cover, work, plan.slug)
    for episode in plan.episodes:
        folder = work / episode.slug
        folder.mkdir()
        _write_episode(store, episode, folder, f"{plan.slug}/{episode.slug}")


def _write_episode(store: MediaStore, plan: _EpisodePlan, folder: Path, label: str) -> None:
    _write_toml(folder / "episode.toml", plan.toml)
    if plan.notes:
        (folder / "notes.md").write_text(plan.notes, encoding="utf-8")
    if plan.chapters:
        text = json.dumps(plan.chapters, ensure_ascii=False, indent=2) + "\n"
        (folder / "chapters.json").write_text(text, encoding="utf-8")
    for media in plan.files:
        _download(store, media, folder, label)


def _write_toml(path: Path, values: dict[str, Any]) -> None:
    """The values as TOML; lists of tables (people, places, soundbites, …) as arrays of tables, `[[persons]]`,
    one entry a few lines, as a person would write them."""
    arrays = {
        k: v for k, v in values.items() if isinstance(v, list) and v and all(isinstance(e, dict) for e in v)
    }
    text = tomli_w.dumps({k: v for k, v in values.items() if k not in arrays})
    for name, entries in arrays.items():
        text += "".join(f"\n[[{name}]]\n{tomli_w.dumps(entry)}" for entry in entries)
    path.write_text(text, encoding="utf-8")


def _download(store: MediaStore, media: _Media, folder: Path, label: str) -> None:
    """Stream one stored object to its file; an object gone since the rows were read stops the export."""
    try:
        store.download(media.key, folder / media.name)
    except FileNotFoundError:
        raise NotFound(
            f"{label}: the media store has no {media.key} (replaced or deleted while exporting?); "
            "nothing was exported, run export again."
        ) from None
