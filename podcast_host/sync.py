"""Make the database match a folder of show.toml and episode.toml files (README.md, "Podcast as code")."""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from podcast_host import episodes, processing, shows
from podcast_host.artwork import check_cover
from podcast_host.chapters import parse_chapters
from podcast_host.errors import Invalid, NotFound
from podcast_host.limits import SIDE_FILE_LIMITS, format_size
from podcast_host.models import PENDING, Episode, Show
from podcast_host.notes import MAX_NOTES_CHARS
from podcast_host.services import Services
from podcast_host.storage import MediaStore
from podcast_host.tomlfile import Wording, read_toml
from podcast_host.transcripts import parse_transcript

AUDIO_SUFFIXES = {".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif"}
COVER_NAMES = ("cover.jpg", "cover.jpeg", "cover.png")
# Besides the editable fields: the cover's file name, and the identity a show or episode had elsewhere
# (`podcast_guid`, `guid`, kept when created, never changed), and `keep_audio` (publish the MP3 as it is).
SHOW_KEYS = set(shows.EDITABLE) | {"image", "podcast_guid"}
EPISODE_KEYS = set(episodes.EDITABLE) - {"slug"} | {"image", "guid", "keep_audio"}
# The Podcasting 2.0 values: tables ([license], [update_frequency], [block]) and arrays of tables
# ([[persons]], [[soundbites]], …), whose own keys namespace_fields.py checks. Every other key is one value.
TABLE_KEYS = set(shows.NAMESPACE_CLEANERS) | set(episodes.NAMESPACE_FIELDS)
# UTF-8 takes at most four bytes a character.
NOTES_LIMIT = MAX_NOTES_CHARS * 4
# A show.toml or episode.toml may carry the notes as its description, and little else.
TOML_LIMIT = NOTES_LIMIT + 64 * 1024


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"


def sync_directory(
    services: Services, root: Path, echo: Callable[[str], None] = lambda _: None
) -> SyncReport:
    """Create or update every show and episode found under `root`; unchanged audio is not processed again."""
    report = SyncReport()
    # Every path is checked against the real folder: a link anywhere in it is refused, not followed.
    root = root.resolve()
    plan = _folders(root)
    if not plan:
        raise Invalid(f"No <show>/show.toml found under {root}.")
    for show_folder, episode_folders in plan:
        with services.db.session() as session:
            # A change announces the feed, and a replaced cover is deleted, once this commits.
            show_id = _sync_show(services, session, show_folder, report).id
            session.commit()
        for episode_folder in episode_folders:
            _sync_episode(services, show_id, episode_folder, report, echo)
    return report


@dataclass(frozen=True)
class _Folder:
    """A show or episode folder and its TOML file, parsed once; `image` is the cover it names, if any."""

    path: Path
    values: dict[str, Any]
    image: str | None

    def cover(self) -> Path | None:
        """The cover file, checked again where it is read: a link may have been put in since the plan."""
        return _cover_in(self.path, self.image)


def _folders(root: Path) -> list[tuple[_Folder, list[_Folder]]]:
    """The show folders and their episode folders; every file sync reads is checked before anything changes,
    and both TOML files parsed, so that a link or a hostile file anywhere stops the run before it starts."""
    plan = []
    for show_dir in sorted(p.parent for p in root.glob("*/show.toml")):
        _checked(root, show_dir, is_folder=True)
        show_folder = _folder(show_dir, "show.toml", SHOW_KEYS)
        episode_folders = []
        for episode_dir in sorted(p.parent for p in show_dir.glob("*/episode.toml")):
            _checked(show_dir, episode_dir, is_folder=True)
            episode_folders.append(_folder(episode_dir, "episode.toml", EPISODE_KEYS))
            _first(episode_dir, "notes.md")
            _first(episode_dir, "chapters.json")
            _first(episode_dir, "transcript.vtt", "transcript.srt")
            _audio_in(episode_dir)
        plan.append((show_folder, episode_folders))
    return plan


def _folder(path: Path, toml_name: str, allowed: set[str]) -> _Folder:
    values = _read_toml(path / toml_name, allowed)
    image = values.pop("image", None)
    folder = _Folder(path, values, image)
    folder.cover()  # a bad cover stops the run before it starts, like every other file
    return folder


def _checked(base: Path, path: Path, is_folder: bool = False) -> os.stat_result:
    """The lstat of a regular file (or folder) inside `base`, reached without following any link.

    `sync` reads what an operator points it at, and the operator can read more than the folder: a link to
    /etc/... or to the data dir's secret key would publish that file. Refused in one line naming the path.
    """
    if ".." in path.parts or not path.is_relative_to(base) or path == base:
        raise Invalid(f"{path}: outside {base}; sync reads only files inside the folder it syncs.")
    current = base
    for part in path.relative_to(base).parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            raise Invalid(f"{current}: no such file.") from None
        if stat.S_ISLNK(info.st_mode):
            raise Invalid(
                f"{current}: is a symbolic link; sync reads only regular files, never through links."
            )
    wanted, kind = (stat.S_ISDIR, "folder") if is_folder else (stat.S_ISREG, "regular file")
    if not wanted(info.st_mode):
        raise Invalid(f"{path}: not a {kind}; sync reads only regular files and folders.")
    return info


def _read(path: Path, limit: int) -> bytes:
    """A checked file in its checked folder, read whole only when within `limit` bytes."""
    info = _checked(path.parent, path)
    if info.st_size > limit:
        raise Invalid(f"{path}: larger than {format_size(limit)}; refused before reading it.")
    # O_NOFOLLOW and the fstat close the gap between the check and the open; O_NONBLOCK keeps a pipe put
    # there meanwhile from blocking the open.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        opened = os.fstat(fh.fileno())
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise Invalid(f"{path}: changed while sync read it; run sync again.")
        # Not read(limit + 1): that sets aside the whole limit (20 MB for a cover) before reading.
        data = fh.read(min(info.st_size, limit) + 1)
    if len(data) > limit:
        raise Invalid(f"{path}: larger than {format_size(limit)}; refused before reading it.")
    return data


_TOML_WORDING = Wording(
    too_big="{path}: larger than {size}; refused before reading it.",
    not_toml="{path}: not valid TOML ({reason}).",
    unknown_key="{path}: unknown key {key!r}.",
)


def _read_toml(path: Path, allowed: set[str]) -> dict[str, Any]:
    values = read_toml(path, allowed, TOML_LIMIT, Invalid, _TOML_WORDING, read=_read)
    for key, value in values.items():
        # Every other key is one text, number, boolean or date; str() of a table would pass for a title.
        if key in TABLE_KEYS:
            continue
        if isinstance(value, dict | list) or (key == "image" and not isinstance(value, str)):
            raise Invalid(
                f"{path}: {key} must be a single value{' (a file name)' if key == 'image' else ''}."
            )
    return values


def _sync_show(services: Services, session: Session, folder: _Folder, report: SyncReport) -> Show:
    """The show made to match its folder."""
    values, cover = dict(folder.values), folder.cover()
    guid = _text_or_none(folder.path / "show.toml", "podcast_guid", values.pop("podcast_guid", None))
    slug = _slug_of(folder.path)
    try:
        show = shows.find_show(session, slug)
    except NotFound:
        show = shows.create_show(session, services.settings.public_url, {"slug": slug, **values}, guid=guid)
        if cover:
            shows.set_cover(services, session, show, _read(cover, SIDE_FILE_LIMITS["image"]))
        report.created.append(slug)
        return show
    if guid is not None and shows.check_podcast_guid(guid) != show.podcast_guid:
        raise Invalid(
            f"{folder.path}: podcast_guid differs from the show's {show.podcast_guid}; it never changes."
        )
    wanted = shows.clean_show_fields(values, require_title=True)
    changed = {k: v for k, v in wanted.items() if getattr(show, k) != v}
    if changed:
        # Whoever runs sync owns the folder that describes the show, renames and moves included.
        shows.update_show(services, session, show, changed, may_move=True)
    if cover:
        data = _read(cover, SIDE_FILE_LIMITS["image"])
        if not _same_cover(show.image_key, data):
            shows.set_cover(services, session, show, data)
            changed["image"] = True
    (report.updated if changed else report.unchanged).append(slug)
    return show


def _cover_in(folder: Path, named: str | None) -> Path | None:
    if named is not None:
        path = folder / named
        _checked(folder, path)
        return path
    return _first(folder, *COVER_NAMES)


def _same_cover(image_key: str | None, cover: bytes) -> bool:
    """Cover keys carry a hash of the stored image; a changed source changes the hash of the checked image."""
    if not image_key:
        return False
    digest = hashlib.sha256(check_cover(cover).data).hexdigest()[:12]
    return digest in image_key


def _sync_episode(
    services: Services, show_id: int, planned: _Folder, report: SyncReport, echo: Callable[[str], None]
) -> None:
    folder, values = planned.path, dict(planned.values)
    toml_path = folder / "episode.toml"
    guid = _text_or_none(toml_path, "guid", values.pop("guid", None))
    keep_audio = values.pop("keep_audio", None)
    if keep_audio is not None and not isinstance(keep_audio, bool):
        raise Invalid(f"{toml_path}: keep_audio must be true or false.")
    notes = _first(folder, "notes.md")
    if notes:
        try:
            values["description"] = _read(notes, NOTES_LIMIT).decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(f"{notes}: not UTF-8 text.") from None
    audio_path = _audio_in(folder)
    label = f"{folder.parent.name}/{folder.name}"
    with services.db.session() as session:
        show = session.get(Show, show_id)
        assert show is not None
        existing = _episode_for_folder(session, show, _slug_of(folder))
        if existing is None:
            echo(f"{label}: new episode, processing")
            created = episodes.create_episode(
                services,
                session,
                show,
                episodes.Upload(audio_path, audio_path.name),
                {**values, "slug": _slug_of(folder)},
                image=_optional(planned.cover()),
                chapters=_optional(_first(folder, "chapters.json")),
                transcript=_optional(_first(folder, "transcript.vtt", "transcript.srt")),
                enqueue=False,
                guid=guid,
                keep_audio=bool(keep_audio),
            )
            episode_id = created.id
            report.created.append(label)
        else:
            episode_id = existing.id
            if guid is not None and guid.strip() != existing.guid:
                raise Invalid(
                    f"{toml_path}: guid differs from the episode's {existing.guid!r}; it never changes."
                )
            changed = _update_episode(services, session, existing, values, folder, audio_path, keep_audio)
            (report.updated if changed else report.unchanged).append(label)
            if changed:
                echo(f"{label}: updated ({', '.join(changed)})")
            # An earlier run may have left it pending (the store was down): process it now. A change that
            # needs no new audio was announced with its commit; processing announces new audio itself.
            if (
                not {"audio", "chapters", "keep_audio"} & set(changed)
                and existing.processing_state != PENDING
            ):
                return
    processing.process_episode(services, episode_id)


def _text_or_none(path: Path, key: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{path}: {key} must be text.")
    return value


def _slug_of(folder: Path) -> str:
    """A folder's name as a slug: composed (NFC), as macOS may hand out "é" or "أ" in decomposed form."""
    return unicodedata.normalize("NFC", folder.name)


def _episode_for_folder(session: Session, show: Show, slug: str) -> Episode | None:
    """The episode the folder describes, also when it was renamed since (its old slug is an alias)."""
    try:
        return episodes.find_episode_by_slug(session, show, slug)[0]
    except NotFound:
        return None


def _update_episode(
    services: Services,
    session: Session,
    episode: Episode,
    values: dict[str, Any],
    folder: Path,
    audio_path: Path,
    keep_audio: bool | None,
) -> list[str]:
    """Apply what differs; return the names of what changed ("audio" or "chapters": processed again)."""
    differing = episodes.differing_fields(episode, values)
    changed = list(differing)
    if differing:
        episodes.update_episode(services, session, episode, differing)
    chapters_file = _first(folder, "chapters.json")
    if chapters_file:
        doc = parse_chapters(_read(chapters_file, SIDE_FILE_LIMITS["chapters"]))
        if doc != episode.chapters:
            episode.chapters = doc
            changed.append("chapters")
    # The audio first: it is refused while a run processes the episode, before any other file is stored.
    if episodes.file_sha256(audio_path) != episode.original_sha256:
        upload = episodes.Upload(audio_path, audio_path.name)
        episodes.replace_original(services, session, episode, upload)
        changed.append("audio")
    # After the audio: whether it may be kept as it is depends on the file the episode now has.
    if keep_audio is not None and keep_audio != episode.keep_audio:
        episodes.set_keep_audio(episode, keep_audio)
        changed.append("keep_audio")
    if (
        {"chapters", "keep_audio"} & set(changed)
        and "audio" not in changed
        and episode.processing_state != PENDING
    ):
        # The published MP3 carries the chapters as CHAP frames, which only a new run writes (the GUID
        # stays); that run is sync's own, after the commit. Asked before any file is stored: refused while
        # a run works, it leaves nothing behind.
        episodes.request_reprocess(services, session, episode, enqueue=False)
    transcript_file = _first(folder, "transcript.vtt", "transcript.srt")
    if transcript_file:
        parsed = parse_transcript(
            _read(transcript_file, SIDE_FILE_LIMITS["transcript"]), transcript_file.name
        )
        if _stored_bytes(services.store, episode.transcript_key) != parsed.data:
            episodes.replace_transcript(services, session, episode, parsed)
            changed.append("transcript")
    # Replaced files go once the episode no longer names them, with this commit.
    session.commit()
    return changed


def _stored_bytes(store: MediaStore, key: str | None) -> bytes | None:
    if not key:
        return None
    try:
        with store.open(key) as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _audio_in(folder: Path) -> Path:
    found = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in AUDIO_SUFFIXES and not _is_folder(p)]
    if len(found) != 1:
        raise Invalid(f"{folder}: expected exactly one audio file, found {len(found)}.")
    _checked(folder, found[0])
    return found[0]


def _is_folder(path: Path) -> bool:
    return stat.S_ISDIR(os.lstat(path).st_mode)


def _first(folder: Path, *names: str) -> Path | None:
    """The first of `names` present in the folder, checked: a link or a pipe under that name is refused."""
    path = next((folder / n for n in names if os.path.lexists(folder / n)), None)
    if path is not None:
        _checked(folder, path)
    return path


def _optional(path: Path | None) -> episodes.Upload | None:
    return episodes.Upload(path, path.name) if path else None
