"""`LocalStore`: media in a folder, the embedded default; the app serves it itself unless MEDIA_URL is set."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from podcast_host.limits import MIB
from podcast_host.storage.keys import base_url, check_key, media_url_for
from podcast_host.storage.port import StorageError, presign_operation

# Local writes go to this folder of the media root, then are renamed into place: what a crashed process left
# there is found by one listing, never by a walk of the whole media tree.
_PARTIAL_UPLOADS = ".uploads"


class LocalStore:
    """Media in a folder; without media_url the web app serves the files itself (see local_path)."""

    def __init__(self, root: Path, media_url: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.media_url = base_url(media_url)

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
        check_key(key)
        presign_operation(method)
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
        path = (self.root / check_key(key)).resolve()
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
