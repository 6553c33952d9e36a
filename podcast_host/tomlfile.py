"""TOML files that may name only known keys: the data dir's config.toml (README.md, "Configuration") and
sync's show.toml and episode.toml (README.md, "Podcast as code").

One reader for both: a byte limit, a parser that cannot crash the caller, unknown keys refused. Each caller
keeps its own error class and wording, so a refusal reads as it always did.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podcast_host.limits import format_size


@dataclass(frozen=True)
class Wording:
    """A caller's refusals; each is formatted with `path`, `name` (the file's name) and its own detail:
    `size` (the limit, "320 KB"), `reason` (the parser's first line) or `key` (the first unknown key)."""

    too_big: str
    not_toml: str
    unknown_key: str


def read_toml(
    path: Path,
    allowed: Collection[str],
    limit: int,
    error: Callable[[str], Exception],
    wording: Wording,
    read: Callable[[Path, int], bytes] | None = None,
) -> dict[str, Any]:
    """The file's top-level table: at most `limit` bytes of UTF-8 TOML naming only `allowed` keys.

    `read(path, limit)` gives the file's bytes (sync's reader checks every link on the way and refuses a
    file over the limit itself); by default the file is opened plainly and read no further than the limit.
    """
    data = (read or _read_at_most)(path, limit)
    if len(data) > limit:
        raise error(wording.too_big.format(path=path, name=path.name, size=format_size(limit)))
    try:
        values = tomllib.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        # TOMLDecodeError and UnicodeDecodeError are ValueErrors, as is an integer of too many digits;
        # tomllib recurses once per nested array or table.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else _first_line(exc)
        raise error(wording.not_toml.format(path=path, name=path.name, reason=reason)) from None
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise error(wording.unknown_key.format(path=path, name=path.name, key=unknown[0]))
    return values


def _read_at_most(path: Path, limit: int) -> bytes:
    """The file's bytes, one past `limit` at most: enough to tell that it is too big."""
    with path.open("rb") as fh:
        # Not read(limit + 1), which sets the whole limit aside before reading.
        return fh.read(min(os.fstat(fh.fileno()).st_size, limit) + 1)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
