"""Refresh the podcast namespace lists vendored in podcast_host/data/podcast_namespace from GitHub.

Run by hand, never by the tests: `python scripts/refresh_namespace_data.py [--ref main]`. It asks GitHub which
commit the ref names now, downloads the three lists and the licence, checks each still reads as the checker
expects, and only then writes them and the commit line of README.md. Review the diff and run
tests/test_namespace_fields.py before committing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from refresh_opawg import fetch  # beside this script: one way to ask GitHub

REPOSITORY = "Podcastindex-org/podcast-namespace"
API = f"https://api.github.com/repos/{REPOSITORY}/commits/"
RAW = f"https://raw.githubusercontent.com/{REPOSITORY}/"
# Where each vendored file lives in the namespace's repository.
FILES = {
    "taxonomy.json": "taxonomy.json",
    "serviceslugs.txt": "serviceslugs.txt",
    "licenses.json": "docs/examples/license/licenses.json",
    "COPYING.txt": "COPYING.txt",
}
TARGET = Path(__file__).resolve().parent.parent / "podcast_host" / "data" / "podcast_namespace"


def check(name: str, body: bytes) -> None:
    """Refuse a file whose shape changed: the checker would then read it wrongly."""
    if name == "taxonomy.json":
        entries = json.loads(body)
        if not entries or not all({"group", "role"} <= set(entry) for entry in entries):
            raise SystemExit("taxonomy.json: every entry should have a group and a role")
    elif name == "licenses.json":
        entries = json.loads(body)
        if not entries or not all({"shortname", "link"} <= set(entry) for entry in entries):
            raise SystemExit("licenses.json: every entry should have a shortname and a link")
    elif name == "serviceslugs.txt":
        slugs = body.decode("utf-8").split()
        if len(slugs) < 10 or not all(re.fullmatch(r"[a-z0-9.-]+", slug) for slug in slugs):
            raise SystemExit("serviceslugs.txt: expected one lower-case platform name per line")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ref", default="main", help="branch, tag or commit of the namespace repository")
    options = parser.parse_args()
    commit = json.loads(fetch(API + options.ref, accept="application/vnd.github+json"))
    sha, date = commit["sha"], commit["commit"]["committer"]["date"][:10]
    bodies = {name: fetch(f"{RAW}{sha}/{path}") for name, path in FILES.items()}
    for name, body in bodies.items():
        check(name, body)
    for name, body in bodies.items():
        (TARGET / name).write_bytes(body)
    readme = TARGET / "README.md"
    text = re.sub(r"commit\s+[0-9a-f]{40} \([0-9-]+\)", f"commit\n{sha} ({date})", readme.read_text("utf-8"))
    readme.write_text(text, encoding="utf-8")
    print(f"namespace lists taken from {REPOSITORY}@{sha} ({date})", file=sys.stderr)


if __name__ == "__main__":
    main()
