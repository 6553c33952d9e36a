"""Media keys: how a stored object is named, read back, and served (type, download name, MEDIA_URL address).

Pure string work: nothing here touches a store, so building or reading a key loads no store's library.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

MEDIA_KINDS = ("original", "audio", "image", "transcript", "chapters")
# The extension of an episode's low-data audio file, beside its "mp3".
LOW_DATA_EXTENSION = "opus"
# The only types media is ever served as, by kind and by the extension the server itself chose (the probed
# format, "mp3", the cover's format...). An uploader's file name never picks a type: anything else, such as a
# key stored before the server named originals itself, goes out as bytes (docs/architecture.md, Media access).
SERVED_TYPES: dict[str, dict[str, str]] = {
    "original": {
        "mp3": "audio/mpeg",
        "m4a": "audio/mp4",
        "aac": "audio/aac",
        "wav": "audio/wav",
        "flac": "audio/flac",
        "ogg": "audio/ogg",
        "opus": "audio/ogg",
        "aiff": "audio/aiff",
    },
    # The published MP3, and its low-data version in Ogg Opus (docs/audio-pipeline.md, "The low-data file").
    "audio": {"mp3": "audio/mpeg", LOW_DATA_EXTENSION: "audio/ogg"},
    "image": {"jpg": "image/jpeg", "png": "image/png"},
    "transcript": {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"},
    "chapters": {"json": "application/json"},
}
UNKNOWN_TYPE = "application/octet-stream"
# File systems cap a name at 255 bytes; leave room for the extension and a safety margin.
_MAX_NAME_BYTES = 200
# \w is Unicode-aware, so Arabic or accented names stay readable; everything else becomes "_".
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.-]+")


def media_key(show_id: int, kind: str, name: str, episode_id: int | None = None) -> str:
    """Build the object key of one media file, e.g. "shows/12/episodes/345/audio/episode.mp3"."""
    if kind not in MEDIA_KINDS:
        raise ValueError(f"Unknown media kind {kind!r}; expected one of {', '.join(MEDIA_KINDS)}.")
    parts = ["shows", _id_segment("show", show_id)]
    if episode_id is not None:
        parts += ["episodes", _id_segment("episode", episode_id)]
    return "/".join([*parts, kind, safe_name(name)])


@dataclass(frozen=True)
class MediaKey:
    show_id: int
    episode_id: int | None
    kind: str


def parse_media_key(key: str) -> MediaKey:
    """Read back what `media_key` put into a key; ValueError for anything it could not have built."""
    parts = check_key(key).split("/")
    if len(parts) == 4 and parts[0] == "shows" and parts[2] in MEDIA_KINDS:
        return MediaKey(int(_digits(parts[1])), None, parts[2])
    if len(parts) == 6 and parts[0] == "shows" and parts[2] == "episodes" and parts[4] in MEDIA_KINDS:
        return MediaKey(int(_digits(parts[1])), int(_digits(parts[3])), parts[4])
    raise ValueError(f"{key!r} is not a media key.")


def served_type(key: str) -> str:
    """The Content-Type a stored object is served with: from its kind and our own extensions only."""
    return SERVED_TYPES[parse_media_key(key).kind].get(_extension(key), UNKNOWN_TYPE)


def original_download_name(key: str) -> str:
    """The name an original is downloaded as: ours, never the uploader's (which stays in the database)."""
    extension = _extension(key)
    return f"original.{extension if extension in SERVED_TYPES['original'] else 'bin'}"


def _extension(key: str) -> str:
    return key.rsplit("/", 1)[-1].rpartition(".")[2].lower()


def unguessable_name(stem: str, extension: str) -> str:
    """A stored file's name with a random part: behind a CDN or a public bucket it cannot be guessed, and a
    replacement never overwrites a file that apps may still be downloading."""
    return f"{stem}-{secrets.token_hex(8)}.{extension}"


def _digits(text: str) -> str:
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"{text!r} is not an id.")
    return text


def safe_name(name: str) -> str:
    """Reduce an uploaded file name to a safe basename: no folders, no hidden or dash-leading names."""
    if "\x00" in name:
        raise ValueError("A file name must not contain NUL characters.")
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    # Leading "-" would read as an option to ffmpeg and friends; leading "." hides the file.
    base = _UNSAFE_NAME_CHARS.sub("_", base).lstrip("._-").rstrip("._")
    if not base:
        raise ValueError(f"The file name {name!r} has nothing usable left once made safe.")
    return _shorten(base)


def _shorten(name: str) -> str:
    """Cut an over-long name to _MAX_NAME_BYTES of UTF-8, keeping a short extension."""
    if len(name.encode()) <= _MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not (dot and stem and len(ext) <= 16):
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    return stem.encode()[: _MAX_NAME_BYTES - len(suffix.encode())].decode(errors="ignore") + suffix


def _id_segment(what: str, value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"A {what} id must be a positive integer, not {value!r}.")
    return str(value)


def check_key(key: str) -> str:
    """Refuse keys that could escape the store's root or prefix (defense in depth: media_key makes none)."""
    parts = key.split("/")
    if not key or "\x00" in key or "\\" in key or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"Refusing the unsafe media key {key!r}.")
    return key


def base_url(media_url: str | None) -> str | None:
    """Validate a public base URL (CDN, public bucket) and drop its trailing slash."""
    if not media_url:
        return None
    parts = urlsplit(media_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"The media URL {media_url!r} must be an absolute http(s) URL.")
    return media_url.rstrip("/")


def media_url_for(media_url: str, prefix: str, key: str) -> str:
    """Where MEDIA_URL serves a key. MEDIA_URL fronts the bucket's (or folder's) root, so a store's key prefix
    is part of the path: the one place feed links and /media redirects are both built (docs/deployment.md)."""
    name = f"{prefix}/{check_key(key)}" if prefix else check_key(key)
    return f"{media_url.rstrip('/')}/{quote(name, safe='/')}"
