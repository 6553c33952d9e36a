"""The media store port: the `MediaStore` interface, its errors, and the store a storage URL names.

A storage URL is file:///abs/path (`LocalStore`, local.py) or s3://BUCKET[/PREFIX]?options (`S3Store`,
s3.py). Each store's module is imported only when a URL names it, so a folder never loads boto3.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from podcast_host.storage.keys import check_key

# AWS bucket naming rules (3-63 chars, lowercase letters, digits, dots, hyphens).
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_URL_OPTIONS = ("endpoint_url", "region")

log = logging.getLogger(__name__)


class StorageError(Exception):
    """The media store could not be reached or refused the operation; str() is a human sentence."""


class MediaStream(Protocol):
    """An object opened for reading: a file in a folder, or an S3 response's streaming body."""

    def read(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> None: ...


@runtime_checkable
class MediaStore(Protocol):
    """Where media objects live. A missing object raises FileNotFoundError; a failing store StorageError."""

    def put_file(self, key: str, path: Path, content_type: str) -> None: ...
    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...
    def open(self, key: str) -> MediaStream: ...
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


def presign_operation(method: str) -> str:
    """The S3 operation a public URL is signed for; enclosures are only ever read."""
    operations = {"GET": "get_object", "HEAD": "head_object"}
    if method not in operations:
        raise ValueError(f"Public media URLs are for GET or HEAD, not {method!r}.")
    return operations[method]


# --- configuration ------------------------------------------------------------------------------------------


def store_from_url(storage_url: str, media_url: str | None = None) -> MediaStore:
    """Build the store named by PODCAST_HOST_STORAGE_URL: file:///abs/path or s3://BUCKET[/PREFIX]?options."""
    parts = urlsplit(storage_url)
    if parts.username or parts.password:
        # Do not echo the URL: it holds a secret.
        raise ValueError("The storage URL must not carry credentials; S3 ones come from boto3's usual chain.")
    if parts.scheme == "file":
        from podcast_host.storage.local import LocalStore  # local.py imports this module

        return LocalStore(_file_root(parts, storage_url), media_url)
    if parts.scheme == "s3":
        # boto3 and botocore (about 10 MB once imported) load here, with the first S3 store.
        from podcast_host.storage.s3 import S3Store

        options = _s3_options(parts, storage_url)
        return S3Store(
            options["bucket"],
            options["prefix"],
            endpoint_url=options.get("endpoint_url"),
            region=options.get("region"),
            media_url=media_url,
        )
    raise ValueError(
        f"Unsupported storage URL {storage_url!r}: use file:///absolute/path or "
        "s3://BUCKET[/PREFIX]?endpoint_url=…&region=…."
    )


@lru_cache(maxsize=8)
def key_prefix(storage_url: str) -> str:
    """The prefix a storage URL puts before every key: s3://BUCKET/PREFIX gives PREFIX, a folder none."""
    parts = urlsplit(storage_url)
    return _s3_options(parts, storage_url)["prefix"] if parts.scheme == "s3" else ""


def _file_root(parts: SplitResult, url: str) -> Path:
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ValueError(
            f"The storage URL {url!r} needs an absolute path, e.g. file:///srv/podcast-host/media."
        )
    if parts.query or parts.fragment:
        raise ValueError(f"The storage URL {url!r} takes no options.")
    return Path(unquote(parts.path))


def _s3_options(parts: SplitResult, url: str) -> dict[str, str]:
    """bucket and prefix, and the endpoint_url and region the query names."""
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
            check_key(prefix)
        except ValueError:
            raise ValueError(f"The storage URL {url!r} has an unsafe key prefix {prefix!r}.") from None
    return {"bucket": bucket, "prefix": prefix, **_s3_query(parts.query, url)}


def _s3_query(query: str, url: str) -> dict[str, str]:
    options: dict[str, str] = {}
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
