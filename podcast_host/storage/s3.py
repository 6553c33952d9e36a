"""`S3Store`: media in an S3-compatible bucket. The only module that imports boto3 and botocore (about 10 MB
once imported), so it is imported only once an S3 store is built (store_from_url, or S3Store from the
package): reading or building a key, or serving from a folder, never loads it."""

from __future__ import annotations

import errno
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from podcast_host.limits import MIB
from podcast_host.storage.keys import base_url, check_key, media_url_for
from podcast_host.storage.port import MediaStream, StorageError, presign_operation

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

# Response headers a store can be asked to answer a public URL with (S3 response-* overrides).
_RESPONSE_OVERRIDES = {
    "Content-Type": "ResponseContentType",
    "Cache-Control": "ResponseCacheControl",
    "Content-Disposition": "ResponseContentDisposition",
}
PRESIGNED_URL_EXPIRY_S = 3600
# A file no shared cache may keep (its Cache-Control says "private"): a URL that outlives the request it
# answers by no more than this, so that revoking access stops the downloads it allowed within a minute.
PRIVATE_URL_EXPIRY_S = 60
DEFAULT_MULTIPART_THRESHOLD = 16 * MIB
# S3 refuses multipart parts under 5 MiB (except the last one).
_MIN_PART_SIZE = 5 * MIB
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3Store:
    """Media in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, R2), optionally under a key prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        media_url: str | None = None,
        client: S3Client | None = None,
        *,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
    ) -> None:
        if not bucket:
            raise ValueError("An S3 media store needs a bucket name.")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        self.endpoint_url = endpoint_url
        self.region = region
        self.media_url = base_url(media_url)
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

    def open(self, key: str) -> MediaStream:
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
        store answers with them whatever was stored with the object; a CDN URL cannot carry them. A file
        whose Cache-Control is private always gets a presigned URL, valid for PRIVATE_URL_EXPIRY_S: a CDN
        would share it with anyone."""
        operation = presign_operation(method)
        private = (headers or {}).get("Cache-Control", "").startswith("private")
        if self.media_url and not private:
            return media_url_for(self.media_url, self.prefix, key)
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._key(key)}
        for header, value in (headers or {}).items():
            params[_RESPONSE_OVERRIDES[header]] = value
        with self._errors("sign a URL for", key):
            return self._client.generate_presigned_url(
                operation,
                Params=params,
                ExpiresIn=PRIVATE_URL_EXPIRY_S if private else PRESIGNED_URL_EXPIRY_S,
            )

    def local_path(self, key: str) -> Path | None:
        return None

    def check(self) -> None:
        """Raise StorageError unless the bucket answers (timeouts and retries are kept short)."""
        with self._errors("reach"):
            self._client.head_bucket(Bucket=self.bucket)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        """Translate botocore failures: a missing object becomes FileNotFoundError, the rest StorageError."""
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


def _s3_client(endpoint_url: str | None, region: str | None) -> S3Client:
    """One client per store, tuned so an unreachable store fails within seconds instead of minutes."""
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
