"""Podcast as code (SPEC §8): make the database match a folder of show.toml and episode.toml files."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from podcast_host import episodes, processing, shows
from podcast_host.artwork import check_cover
from podcast_host.chapters import parse_chapters
from podcast_host.errors import Invalid, NotFound
from podcast_host.models import PENDING, Episode, Show
from podcast_host.transcripts import parse_transcript

AUDIO_SUFFIXES = {".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif"}
COVER_NAMES = ("cover.jpg", "cover.jpeg", "cover.png")
SHOW_KEYS = set(shows.EDITABLE) | {"image"}
EPISODE_KEYS = set(episodes.EDITABLE) - {"slug"} | {"image"}


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"


def sync_directory(services: Any, root: Path, echo: Callable[[str], None] = lambda _: None) -> SyncReport:
    """Create or update every show and episode found under `root`; unchanged audio is not processed again."""
    report = SyncReport()
    show_dirs = sorted(p.parent for p in root.glob("*/show.toml"))
    if not show_dirs:
        raise Invalid(f"No <show>/show.toml found under {root}.")
    for show_dir in show_dirs:
        with services.db.session() as session:
            show = _sync_show(services, session, show_dir, report)
            session.commit()
            show_id = show.id
        if show_dir.name in report.updated:
            services.queue.enqueue("feed_changed", show_id)
        for episode_dir in sorted(p.parent for p in show_dir.glob("*/episode.toml")):
            _sync_episode(services, show_id, episode_dir, report, echo)
    return report


def _read_toml(path: Path, allowed: set[str]) -> dict[str, Any]:
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"{path}: not valid TOML ({exc}).") from None
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise Invalid(f"{path}: unknown key {unknown[0]!r}.")
    return values


def _sync_show(services: Any, session: Session, show_dir: Path, report: SyncReport) -> Show:
    values = _read_toml(show_dir / "show.toml", SHOW_KEYS)
    cover = _cover_in(show_dir, values.pop("image", None))
    slug = show_dir.name
    try:
        show = shows.find_show(session, slug)
    except NotFound:
        show = shows.create_show(session, services.settings.public_url, {"slug": slug, **values})
        if cover:
            shows.set_cover(services, session, show, cover.read_bytes())
        report.created.append(slug)
        return show
    wanted = shows.clean_show_fields(values, require_title=True)
    changed = {k: v for k, v in wanted.items() if getattr(show, k) != v}
    if changed:
        shows.update_show(session, show, changed)
    if cover and not _same_cover(show.image_key, cover):
        shows.set_cover(services, session, show, cover.read_bytes())
        changed["image"] = True
    (report.updated if changed else report.unchanged).append(slug)
    return show


def _cover_in(folder: Path, named: str | None) -> Path | None:
    if named:
        path = (folder / named).resolve()
        if folder.resolve() not in path.parents or not path.is_file():
            raise Invalid(f"{folder}: image {named!r} is not a file in this folder.")
        return path
    return next((folder / n for n in COVER_NAMES if (folder / n).is_file()), None)


def _same_cover(image_key: str | None, cover: Path) -> bool:
    """Cover keys carry a hash of the stored image; a changed source changes the hash of the checked image."""
    if not image_key:
        return False
    digest = hashlib.sha256(check_cover(cover.read_bytes()).data).hexdigest()[:12]
    return digest in image_key


def _sync_episode(
    services: Any, show_id: int, folder: Path, report: SyncReport, echo: Callable[[str], None]
) -> None:
    values = _read_toml(folder / "episode.toml", EPISODE_KEYS)
    named_image = values.pop("image", None)
    if (folder / "notes.md").is_file():
        values["description"] = (folder / "notes.md").read_text(encoding="utf-8")
    audio_path = _audio_in(folder)
    label = f"{folder.parent.name}/{folder.name}"
    with services.db.session() as session:
        show = session.get(Show, show_id)
        assert show is not None
        existing = _episode_for_folder(session, show, folder.name)
        if existing is None:
            echo(f"{label}: new episode, processing")
            created = episodes.create_episode(
                services,
                session,
                show,
                episodes.Upload(audio_path, audio_path.name),
                {**values, "slug": folder.name},
                image=_optional(_cover_in(folder, named_image)),
                chapters=_optional(_first(folder, "chapters.json")),
                transcript=_optional(_first(folder, "transcript.vtt", "transcript.srt")),
                enqueue=False,
            )
            episode_id = created.id
            report.created.append(label)
        else:
            episode_id = existing.id
            changed = _update_episode(services, session, existing, values, folder, audio_path)
            (report.updated if changed else report.unchanged).append(label)
            if changed:
                echo(f"{label}: updated ({', '.join(changed)})")
            # An earlier run may have left it pending (the store was down): process it now.
            if "audio" not in changed and existing.processing_state != PENDING:
                if changed:
                    # Processing announces new audio itself; a metadata change must be announced here.
                    services.queue.enqueue("feed_changed", show_id)
                return
    processing.process_episode(services, episode_id)


def _episode_for_folder(session: Session, show: Show, slug: str) -> Episode | None:
    """The episode the folder describes, also when it was renamed since (its old slug is an alias)."""
    try:
        return episodes.find_episode_by_slug(session, show, slug)[0]
    except NotFound:
        return None


def _update_episode(
    services: Any, session: Session, episode: Episode, values: dict[str, Any], folder: Path, audio_path: Path
) -> list[str]:
    """Apply what differs; return the names of what changed ("audio" when it must be processed again)."""
    differing = episodes.differing_fields(episode, values)
    changed = list(differing)
    if differing:
        episodes.update_episode(session, episode, differing)
    chapters_file = _first(folder, "chapters.json")
    if chapters_file:
        doc = parse_chapters(chapters_file.read_bytes())
        if doc != episode.chapters:
            episode.chapters = doc
            changed.append("chapters")
    transcript_file = _first(folder, "transcript.vtt", "transcript.srt")
    if transcript_file:
        parsed = parse_transcript(transcript_file.read_bytes(), transcript_file.name)
        if _stored_bytes(services, episode.transcript_key) != parsed.data:
            episodes.replace_transcript(services, session, episode, parsed)
            changed.append("transcript")
    old_original = None
    if episodes.file_sha256(audio_path) != episode.original_sha256:
        upload = episodes.Upload(audio_path, audio_path.name)
        old_original = episodes.replace_original(services, session, episode, upload)
        changed.append("audio")
    session.commit()
    if old_original:
        services.store.delete(old_original)
    return changed


def _stored_bytes(services: Any, key: str | None) -> bytes | None:
    if not key:
        return None
    try:
        with services.store.open(key) as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _audio_in(folder: Path) -> Path:
    found = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()]
    if len(found) != 1:
        raise Invalid(f"{folder}: expected exactly one audio file, found {len(found)}.")
    return found[0]


def _first(folder: Path, *names: str) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _optional(path: Path | None) -> episodes.Upload | None:
    return episodes.Upload(path, path.name) if path else None
