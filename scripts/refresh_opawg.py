"""Refresh the OPAWG user-agent patterns vendored in podcast_host/analytics/data/opawg from GitHub.

Run by hand, never by the tests: `python scripts/refresh_opawg.py [--ref master]`. It asks GitHub which commit
the ref names now, downloads that commit's pattern files and LICENSE, checks each file reads as OPAWG
patterns, and only then writes them and a README.md naming the commit. Review the diff and run
tests/test_analytics_clients.py before committing: the examples in the new files are checked there.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

REPOSITORY = "opawg/user-agents-v2"
API = f"https://api.github.com/repos/{REPOSITORY}/commits/"
RAW = f"https://raw.githubusercontent.com/{REPOSITORY}/"
# The files classify reads, in the OPAWG README's matching order; devices last.
PATTERN_FILES = ("bots", "apps", "libraries", "browsers", "devices")
TARGET = Path(__file__).resolve().parent.parent / "podcast_host" / "analytics" / "data" / "opawg"
TIMEOUT = 30


def fetch(url: str, accept: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "podcast-host refresh_opawg"})
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        body: bytes = response.read()
        return body


def resolve(ref: str) -> tuple[str, str]:
    """The commit a branch, tag or commit id names now, and its date."""
    commit = json.loads(fetch(API + ref, accept="application/vnd.github+json"))
    return commit["sha"], commit["commit"]["committer"]["date"]


def check_patterns(name: str, body: bytes) -> None:
    """Refuse a file that is not an OPAWG patterns file, before anything is overwritten."""
    entries = json.loads(body).get("entries")
    if not isinstance(entries, list) or not entries:
        raise SystemExit(f"{name}.json has no entries: not an OPAWG patterns file")
    for entry in entries:
        if not isinstance(entry.get("name"), str) or not isinstance(entry.get("pattern"), str):
            raise SystemExit(f"{name}.json has an entry without a name or pattern: {entry!r}")


def readme(commit: str, date: str) -> str:
    files = ", ".join(f"`src/{name}.json`" for name in PATTERN_FILES)
    return f"""# OPAWG user-agent patterns

Vendored, unchanged, from https://github.com/{REPOSITORY} (MIT licence, see LICENSE), commit
`{commit}` of {date}:
https://github.com/{REPOSITORY}/tree/{commit}

Files: {files} and `LICENSE`.
`podcast_host/analytics/clients.py` matches User-Agents against them as the OPAWG README describes.

To refresh: `python scripts/refresh_opawg.py` takes the current `master` (or `--ref REF`), rewrites these
files and this README; then run `pytest tests/test_analytics_clients.py` and review the diff.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="master", help="branch, tag or commit of opawg/user-agents-v2")
    parser.add_argument(
        "--target", type=Path, default=TARGET, help="folder to write (default: the vendored one)"
    )
    args = parser.parse_args(argv)

    commit, date = resolve(args.ref)
    downloads = {}
    for name in PATTERN_FILES:
        body = fetch(f"{RAW}{commit}/src/{name}.json")
        check_patterns(name, body)
        downloads[f"{name}.json"] = body
    downloads["LICENSE"] = fetch(f"{RAW}{commit}/LICENSE")

    args.target.mkdir(parents=True, exist_ok=True)
    for filename, body in downloads.items():
        (args.target / filename).write_bytes(body)
    (args.target / "README.md").write_text(readme(commit, date), encoding="utf-8")
    print(f"OPAWG patterns of {commit} ({date}) written to {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
