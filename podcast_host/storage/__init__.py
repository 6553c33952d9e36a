"""The media store: where originals, published audio, images, transcripts and chapters live.

`MediaStore` is the whole interface; `LocalStore` (a folder, the embedded default) and `S3Store` (any
S3-compatible service) implement it. Keys are built only by `media_key`.

- keys.py: media keys (built, read back, refused when unsafe), the types media is served as, safe and
  unguessable file names, MEDIA_URL addresses.
- port.py: StorageError, the MediaStore protocol, best-effort deletes, and the storage URL: the store it
  names (store_from_url) and the key prefix it sets (key_prefix).
- local.py: LocalStore, media in a folder.
- s3.py: S3Store and its boto3 client, the only module that imports boto3. It is imported only once an S3
  store is built or S3Store is asked for: reading or building a key, or serving from a folder, never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from podcast_host.limits import MIB
from podcast_host.storage.keys import (
    LOW_DATA_EXTENSION,
    MEDIA_KINDS,
    SERVED_TYPES,
    UNKNOWN_TYPE,
    MediaKey,
    media_key,
    media_url_for,
    original_download_name,
    parse_media_key,
    safe_name,
    served_type,
    unguessable_name,
)
from podcast_host.storage.local import LocalStore
from podcast_host.storage.port import (
    MediaStore,
    StorageError,
    delete_objects,
    key_prefix,
    store_from_url,
)

if TYPE_CHECKING:
    from podcast_host.storage.s3 import DEFAULT_MULTIPART_THRESHOLD, PRESIGNED_URL_EXPIRY_S, S3Store

# Names of s3.py, which loads boto3: imported when first asked for, not with the package.
_S3_NAMES = ("S3Store", "DEFAULT_MULTIPART_THRESHOLD", "PRESIGNED_URL_EXPIRY_S")

__all__ = [
    "LOW_DATA_EXTENSION",
    "DEFAULT_MULTIPART_THRESHOLD",
    "MEDIA_KINDS",
    "MIB",
    "PRESIGNED_URL_EXPIRY_S",
    "SERVED_TYPES",
    "UNKNOWN_TYPE",
    "LocalStore",
    "MediaKey",
    "MediaStore",
    "S3Store",
    "StorageError",
    "delete_objects",
    "key_prefix",
    "media_key",
    "media_url_for",
    "original_download_name",
    "parse_media_key",
    "safe_name",
    "served_type",
    "store_from_url",
    "unguessable_name",
]


def __getattr__(name: str) -> object:
    if name in _S3_NAMES:
        from podcast_host.storage import s3

        value = getattr(s3, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
