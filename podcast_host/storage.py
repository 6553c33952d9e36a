"""The media store port: where originals, published audio, images, transcripts and chapters live.

`MediaStore` is the whole interface; `LocalStore` (a folder, the embedded default) and `S3Store` (any
S3-compatible service) implement it. Keys are built only by `media_key`. The only module that imports boto3,
and only once an S3 store is built: reading or building a key, or serving from a folder, never loads it.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import SplitResult, parse_qs, quote, unquote, urlsplit

MEDIA_KINDS = ("original", "audio", "image", "transcript", "chapters")
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
    "audio": {"mp3": "audio/mpeg"},
    "image": {"jpg": "image/jpeg", "png": "image/png"},
    "transcript": {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"},
    "chapters": {"json": "application/json"},
}
UNKNOWN_TYPE = "application/octet-stream"
# Response headers a store can be asked to answer a public URL with (S3 response-* overrides).
_RESPONSE_OVERRIDES = {
    "Content-Type": "ResponseContentType",
    "Cache-Control": "ResponseCacheControl",
    "Content-Disposition": "ResponseContentDisposition",
}
PRESIGNED_URL_EXPIRY_S = 3600
MIB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 16 * MIB
# S3 refuses multipart parts under 5 MiB (except the last one).
_MIN_PART_SIZE = 5 * MIB
# File systems cap a name at 255 bytes; leave room for the extension and a safety margin.
_MAX_NAME_BYTES = 200
# \w is Unicode-aware, so Arabic or accented names stay readable; everything else becomes "_".
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.-]+")
# AWS bucket naming rules (3-63 chars, lowercase letters, digits, dots, hyphens).
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_URL_OPTIONS = ("endpoint_url", "region")
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
# Local writes go to this folder of the media root, then are renamed into place: what a crashed process left
# there is found by one listing, never by a walk of the whole media tree.
_PARTIAL_UPLOADS = ".uploads"

log = logging.getLogger(__name__)


class StorageError(Exception):
    """The media store could not be reached or refused the operation; str() is a human sentence."""


@runtime_checkable
class MediaStore(Protocol):
    """Where media objects live. A missing object raises FileNotFoundError; a failing store StorageError."""

    def put_file(self, key: str, path: Path, content_type: str) -> None: ...
    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...
    def open(self, key: str) -> BinaryIO: ...
    def download(self, key: str, dest: Path) -> None: ...
    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def public_url(
        self, key: str, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> str | None: ...
    def local_path(self, key: str) -> Path | None: ...
    def check(self) -> None: ...


def delete_objects(store: MediaStore, keys: Iterable[str | None]) -> None:
    """Delete stored objects best-effort, once nothing names them: a leftover object harms no one, a crash
    after the commit would."""
    for key in filter(None, keys):
        try:
            store.delete(key)
        except (StorageError, FileNotFoundError) as exc:
            log.warning("could not delete %s; it is left behind: %s", key, exc)


# --- keys ---------------------------------------------------------------------------------------------------


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
    parts = _check_key(key).split("/")
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


def _check_key(key: str) -> str:
    """Refuse keys that could escape the store's root or prefix (defense in depth: media_key makes none)."""
    parts = key.split("/")
    if not key or "\x00" in key or "\\" in key or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"Refusing the unsafe media key {key!r}.")
    return key


def _base_url(media_url: str | None) -> str | None:
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
    name = f"{prefix}/{_check_key(key)}" if prefix else _check_key(key)
    return f"{media_url.rstrip('/')}/{quote(name, safe='/')}"


@lru_cache(maxsize=8)
def key_prefix(storage_url: str) -> str:
    """The prefix a storage URL puts before every key: s3://BUCKET/PREFIX gives PREFIX, a folder none."""
    parts = urlsplit(storage_url)
    return _s3_options(parts, storage_url)["prefix"] if parts.scheme == "s3" else ""


def _presign_operation(method: str) -> str:
    """The S3 operation a public URL is signed for; enclosures are only ever read."""
    operations = {"GET": "get_object", "HEAD": "head_object"}
    if method not in operations:
        raise ValueError(f"Public media URLs are for GET or HEAD, not {method!r}.")
    return operations[method]


# --- local folder -------------------------------------------------------------------------------------------


class LocalStore:
    """Media in a folder; without media_url the web app serves the files itself (see local_path)."""

    def __init__(self, root: Path, media_url: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.media_url = _base_url(media_url)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Copy a file in atomically; content_type is not kept (the web layer guesses it from the name)."""
        with open(path, "rb") as src, self._atomic_writer(key) as dest:
            shutil.copyfileobj(src, dest, MIB)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        with self._atomic_writer(key) as dest:
            dest.write(data)

    def open(self, key: str) -> BinaryIO:
        return open(self._existing(key), "rb")

    def download(self, key: str, dest: Path) -> None:
        shutil.copyfile(self._existing(key), dest)

    def size(self, key: str) -> int:
        return self._existing(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        with _local_errors(f"delete {key!r}"):
            self._path(key).unlink(missing_ok=True)

    def public_url(
        self, key: str, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> str | None:
        """The MEDIA_URL address of key, if any; whoever serves the folder there chooses the headers."""
        _check_key(key)
        _presign_operation(method)
        return media_url_for(self.media_url, "", key) if self.media_url else None

    def local_path(self, key: str) -> Path | None:
        """Where key's file lives (it may not exist: check is_file()), for send_file with byte ranges."""
        return self._path(key)

    def check(self) -> None:
        """Make sure the media folder exists and is writable (it is created on first start)."""
        with _local_errors(f"create {str(self.root)!r}"):
            self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"The media folder {self.root} is not writable.")

    def _path(self, key: str) -> Path:
        path = (self.root / _check_key(key)).resolve()
        # A symlink inside the root must not lead outside it.
        if not path.is_relative_to(self.root):
            raise ValueError(f"Refusing the media key {key!r}: it leads outside the media folder.")
        return path

    def _existing(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(errno.ENOENT, "No such object in the media store", key)
        return path

    @contextmanager
    def _atomic_writer(self, key: str) -> Iterator[BinaryIO]:
        """Write to a temporary file under the media root, then rename it into place: never half a file."""
        path = self._path(key)
        with _local_errors(f"store {key!r}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.root / _PARTIAL_UPLOADS
            partial.mkdir(exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=partial, prefix=".upload-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as tmp:
                    yield tmp
                    tmp.flush()
                    os.fsync(tmp.fileno())
                os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; a web server in front may need to read it
                os.replace(tmp_name, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise

    def sweep_partial_uploads(self, older_than_s: float) -> int:
        """Delete the temporary files of writes a crashed process never finished; return how many."""
        cutoff = time.time() - older_than_s
        removed = 0
        partial = self.root / _PARTIAL_UPLOADS
        for path in partial.iterdir() if partial.is_dir() else ():
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue  # renamed into place or removed meanwhile
        return removed


@contextmanager
def _local_errors(action: str) -> Iterator[None]:
    """Turn disk failures (full, read-only, permissions) into StorageError; FileNotFoundError stays."""
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StorageError(f"The media folder could not {action}: {exc.strerror or exc}.") from exc


# --- S3-compatible object store -----------------------------------------------------------------------------


class S3Store:
    """Media in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, R2), optionally under a key prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        media_url: str | None = None,
        client=None,
        *,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
    ) -> None:
        if not bucket:
            raise ValueError("An S3 media store needs a bucket name.")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            _check_key(self.prefix)
        self.endpoint_url = endpoint_url
        self.region = region
        self.media_url = _base_url(media_url)
        # boto3 and botocore (about 10 MB once imported) load here, with the first S3 store.
        from boto3.s3.transfer import TransferConfig

        self._client = client if client is not None else _s3_client(endpoint_url, region)
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=max(multipart_threshold, _MIN_PART_SIZE),
            max_concurrency=4,
        )

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Upload a file; large ones go up in parts (multipart) above the threshold."""
        name = self._key(key)
        with self._errors("upload", key):
            self._client.upload_file(
                str(path), self.bucket, name, ExtraArgs={"ContentType": content_type}, Config=self._transfer
            )

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        name = self._key(key)
        with self._errors("upload", key):
            self._client.put_object(Bucket=self.bucket, Key=name, Body=data, ContentType=content_type)

    def open(self, key: str) -> BinaryIO:
        """A streaming read handle (botocore's StreamingBody: read(n), iteration, close())."""
        name = self._key(key)
        with self._errors("read", key):
            return self._client.get_object(Bucket=self.bucket, Key=name)["Body"]

    def download(self, key: str, dest: Path) -> None:
        name = self._key(key)
        with self._errors("download", key):
            self._client.download_file(self.bucket, name, str(dest), Config=self._transfer)

    def size(self, key: str) -> int:
        name = self._key(key)
        with self._errors("look up", key):
            return self._client.head_object(Bucket=self.bucket, Key=name)["ContentLength"]

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        name = self._key(key)
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=name)

    def public_url(
        self, key: str, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> str | None:
        """The CDN URL when media_url is set (it fronts the whole bucket), else a presigned URL valid for 1 h.

        SigV4 signs the HTTP method, so answer a HEAD request with a URL presigned for method="HEAD".
        `headers` (Content-Type, Cache-Control, Content-Disposition) are signed into a presigned URL, so the
        store answers with them whatever was stored with the object; a CDN URL cannot carry them."""
        operation = _presign_operation(method)
        if self.media_url:
            return media_url_for(self.media_url, self.prefix, key)
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._key(key)}
        for header, value in (headers or {}).items():
            params[_RESPONSE_OVERRIDES[header]] = value
        with self._errors("sign a URL for", key):
            return self._client.generate_presigned_url(
                operation, Params=params, ExpiresIn=PRESIGNED_URL_EXPIRY_S
            )

    def local_path(self, key: str) -> Path | None:
        return None

    def check(self) -> None:
        """Raise StorageError unless the bucket answers (timeouts and retries are kept short)."""
        with self._errors("reach"):
            self._client.head_bucket(Bucket=self.bucket)

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        """Translate botocore failures: a missing object becomes FileNotFoundError, the rest StorageError."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"bucket {self.bucket!r}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")
        what = f"{key!r} ({where})" if key is not None else where
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "unknown"))
            if key is not None and code in _MISSING_CODES:
                raise FileNotFoundError(errno.ENOENT, "No such object in the media store", key) from None
            if key is None and code in _MISSING_CODES | {"NoSuchBucket"}:
                raise StorageError(f"The media store has no {where}.") from exc
            message = error.get("Message") or code
            raise StorageError(f"The media store refused to {action} {what}: {message} ({code}).") from exc
        except (BotoCoreError, Boto3Error) as exc:
            raise StorageError(f"Could not {action} {what}: {exc}") from exc


def _s3_client(endpoint_url: str | None, region: str | None):
    """One client per store, tuned so an unreachable store fails within seconds instead of minutes."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(
        connect_timeout=2,
        read_timeout=20,
        retries={"total_max_attempts": 3, "mode": "standard"},
        signature_version="s3v4",
        # Self-hosted stores (SeaweedFS, MinIO) rarely have wildcard DNS for virtual-host bucket names.
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    try:
        session = boto3.session.Session()
        return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
    except BotoCoreError as exc:  # e.g. an invalid region name
        raise ValueError(f"Cannot set up the S3 client: {exc}") from exc


# --- configuration ------------------------------------------------------------------------------------------


def store_from_url(storage_url: str, media_url: str | None = None) -> MediaStore:
    """Build the store named by PODCAST_HOST_STORAGE_URL: file:///abs/path or s3://BUCKET[/PREFIX]?options."""
    parts = urlsplit(storage_url)
    if parts.username or parts.password:
        # Do not echo the URL: it holds a secret.
        raise ValueError("The storage URL must not carry credentials; S3 ones come from boto3's usual chain.")
    if parts.scheme == "file":
        return LocalStore(_file_root(parts, storage_url), media_url)
    if parts.scheme == "s3":
        return S3Store(**_s3_options(parts, storage_url), media_url=media_url)
    raise ValueError(
        f"Unsupported storage URL {storage_url!r}: use file:///absolute/path or "
        "s3://BUCKET[/PREFIX]?endpoint_url=…&region=…."
    )


def _file_root(parts: SplitResult, url: str) -> Path:
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ValueError(
            f"The storage URL {url!r} needs an absolute path, e.g. file:///srv/podcast-host/media."
        )
    if parts.query or parts.fragment:
        raise ValueError(f"The storage URL {url!r} takes no options.")
    return Path(unquote(parts.path))


def _s3_options(parts: SplitResult, url: str) -> dict:
    bucket = parts.netloc
    if not bucket:
        raise ValueError(f"The storage URL {url!r} names no bucket: use s3://BUCKET[/PREFIX].")
    if not _BUCKET_NAME.fullmatch(bucket):
        raise ValueError(f"The storage URL {url!r} names an invalid S3 bucket {bucket!r}.")
    if parts.fragment:
        raise ValueError(f"The storage URL {url!r} must not have a #fragment.")
    prefix = unquote(parts.path).strip("/")
    if prefix:
        try:
            _check_key(prefix)
        except ValueError:
            raise ValueError(f"The storage URL {url!r} has an unsafe key prefix {prefix!r}.") from None
    return {"bucket": bucket, "prefix": prefix, **_s3_query(parts.query, url)}


def _s3_query(query: str, url: str) -> dict:
    options = {}
    for name, values in parse_qs(query, keep_blank_values=True).items():
        if name not in _S3_URL_OPTIONS:
            raise ValueError(
                f"The storage URL {url!r} has an unknown option {name!r}; "
                f"known options: {', '.join(_S3_URL_OPTIONS)}."
            )
        if len(values) != 1 or not values[0]:
            raise ValueError(f"The storage URL {url!r} needs exactly one non-empty value for {name!r}.")
        options[name] = values[0]
    if "endpoint_url" in options:
        endpoint = urlsplit(options["endpoint_url"])
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise ValueError(f"The storage URL {url!r} has an endpoint_url that is not an http(s) URL.")
    return options
