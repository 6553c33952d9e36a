"""Moving a show in from another host (docs/migrate.md).

- reader.py: another host's RSS feed read into plain values (defusedxml: no entity expansion).
- run.py: an import run: the show, then each item's episode, recorded item by item; safe to run again.
"""

from __future__ import annotations

from pathlib import Path

from podcast_host.config import Settings


def imports_dir(settings: Settings) -> Path:
    """Where runs keep the files they download, in the data folder (where space was planned), apart from the
    processing jobs' folder, whose sweeper would take a folder that a long download leaves untouched."""
    folder = settings.data_dir / "tmp" / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
