"""Uploaded files: checked, probed and put in the media store under names no one can guess.

Shared by creating an episode and replacing its files (episodes.py) and a show's cover (shows.py). Nothing
here writes to the database; each object stored for a row is deleted again when the session's transaction
ends without a commit, as no committed row names it then (docs/architecture.md, "Transactions and what
follows them").
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from podcast_host import audio
from podcast_host.artwork import Artwork, ArtworkError, check_cover
from podcast_host.db import after_rollback
from podcast_host.errors import Invalid, Unavailable, UnsupportedMedia, refusal
from podcast_host.limits import MIB, SIDE_FILE_LIMITS, format_size
from podcast_host.models import Episode, Show
from podcast_host.notes import clean_text
from podcast_host.storage import MediaStore, StorageError, delete_objects, media_key, unguessable_name


@dataclass(frozen=True)
class Upload:
    """A file the producer sent, already on local disk."""

    path: Path
    filename: str

    def read(self, field: str | None = None) -> bytes:
        """The whole file; with `field`, refused (422) when over that side file's size limit."""
        limit = SIDE_FILE_LIMITS.get(field or "")
        if limit is not None and self.path.stat().st_size > limit:
            raise Invalid(_too_large(field or "", limit), field=field)
        return self.path.read_bytes()


def _too_large(field: str, limit: int) -> str:
    """One whole sentence for each side file, so that every language names the file in its own words; the
    limits are whole MiB, written in MB as limits.format_size writes them."""
    size = limit // MIB
    if limit % MIB:
        return f"The {field} file is larger than {format_size(limit)}."
    sentences = {
        "image": refusal("The image file is larger than %(size)s MB.", size=size),
        "chapters": refusal("The chapters file is larger than %(size)s MB.", size=size),
        "transcript": refusal("The transcript file is larger than %(size)s MB.", size=size),
    }
    return sentences.get(field) or f"The {field} file is larger than {format_size(limit)}."


def probe_upload(upload: Upload, max_duration_s: float) -> audio.ProbeResult:
    if upload.path.stat().st_size == 0:
        raise Invalid(refusal("The audio file is empty (0 bytes)."), field="audio")
    # The refusals themselves are handed on (not str(exc)), so that the dashboard can show them translated.
    try:
        return audio.probe(upload.path, max_duration_s)
    except audio.UnsupportedAudio as exc:
        raise UnsupportedMedia(exc.args[0]) from None
    except audio.InvalidAudio as exc:
        raise Invalid(exc.args[0], field="audio") from None


def probe_json(probed: audio.ProbeResult) -> dict[str, str | float | None]:
    return {
        "format": probed.format,
        "mime_type": probed.mime_type,
        "duration_s": probed.duration_s,
        "channels": probed.channels,
        "sample_rate": probed.sample_rate,
        "bitrate": probed.bitrate,
    }


def check_image(image: Upload | None) -> Artwork | None:
    if image is None:
        return None
    try:
        return check_cover(image.read("image"))
    except ArtworkError as exc:
        raise Invalid(exc.args[0], field="image") from None


def put_file(
    store: MediaStore,
    session: Session,
    show: Show,
    episode: Episode,
    kind: str,
    upload: Upload,
    content_type: str,
    extension: str,
) -> str:
    # The server names the file from what the probe found: a name the uploader chose ("notes.html") would
    # pick how it is served. Their name is kept only as the episode's original_filename.
    key = media_key(show.id, kind, unguessable_name(kind, extension), episode.id)
    return _stored(store, session, key, lambda: store.put_file(key, upload.path, content_type))


def original_label(filename: str | None) -> str:
    """The uploader's file name, for people to read; it never names or types a stored object."""
    return clean_text(Path(filename or "audio").name)[:500]


def put_bytes(
    store: MediaStore,
    session: Session,
    show: Show,
    episode: Episode,
    kind: str,
    stem: str,
    extension: str,
    data: bytes,
    content_type: str,
) -> str:
    # A draft's transcript or image must not be found by guessing its name behind a CDN or a public bucket.
    key = media_key(show.id, kind, unguessable_name(stem, extension), episode.id)
    return store_bytes(store, session, key, data, content_type)


def store_bytes(store: MediaStore, session: Session, key: str, data: bytes, content_type: str) -> str:
    """Store `data` under `key` for a row this transaction writes; deleted again unless it commits."""
    return _stored(store, session, key, lambda: store.put_bytes(key, data, content_type))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stored(store: MediaStore, session: Session, key: str, put: Callable[[], None]) -> str:
    """Run the store's `put` of `key`: an unreachable store is Unavailable. A refused or failed change
    (rolled back, or never committed) deletes the object again: no committed row names it."""
    try:
        put()
    except StorageError as exc:
        # The reason is the store's own, in English (a connection refused, a full disk).
        raise Unavailable(
            refusal("The media store did not take the file: %(reason)s", reason=str(exc))
        ) from None
    after_rollback(session, functools.partial(delete_objects, store, [key]), key=("delete", key))
    return key
