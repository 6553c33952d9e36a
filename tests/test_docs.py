"""Every setting and every command is documented: the README is the newcomer's map."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import click

from podcast_host.cli import main
from podcast_host.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "README.md").read_text(encoding="utf-8") + "".join(
    p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))
)


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for field in fields(Settings):
        if field.name in ("testing", "extra"):
            continue
        assert f"`{ENV_PREFIX}{field.name.upper()}`" in readme, field.name


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_command_is_documented() -> None:
    commands = _commands(main)
    assert "episode add" in commands and "serve" in commands
    for command in commands:
        assert f"podcast-host {command}" in DOCS or f"`{command}`" in DOCS, command


# The contract lives in this repository: README.md and docs/. A citation of a document kept elsewhere (an
# upper-case file name, alone or with ".md" or a "§" section) points a newcomer at nothing. The brackets
# keep this file from matching its own pattern.
OUTSIDE_CITATION = re.compile(r"\b(?:S[P]EC|F[A]CTS)\b")
CITED_DOC = re.compile(r"(?<![\w/.-])(docs/[\w.-]+\.md|README\.md)((?:(?:,| and) \"[^\"\n]+\")*)")
QUOTED = re.compile(r"\"([^\"\n]+)\"")
HEADING = re.compile(r"^#+ +(.+?) *$", re.MULTILINE)
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)  # shell comments there are not headings


def _project_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile"]
    for folder in ("podcast_host", "scripts", "tests", "templates", "docs"):
        for path in sorted((ROOT / folder).rglob("*")):
            parts = path.relative_to(ROOT).parts
            if path.is_file() and "node_modules" not in parts and "__pycache__" not in parts:
                files.append(path)
    return files


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # images and other binary files


def test_no_citation_of_documents_outside_the_repository() -> None:
    found = []
    for path in _project_files():
        text = _text(path)
        for number, line in enumerate((text or "").splitlines(), 1):
            if OUTSIDE_CITATION.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "cite README.md or docs/*.md instead:\n" + "\n".join(found)


def test_cited_docs_pages_and_sections_exist() -> None:
    sources = [
        *(ROOT / "podcast_host").rglob("*.py"),
        *(ROOT / "scripts").glob("*.py"),
        *(ROOT / "tests").glob("*.py"),
    ]
    cited = 0
    for source in sorted(sources):
        for match in CITED_DOC.finditer(source.read_text(encoding="utf-8")):
            where = f"{source.relative_to(ROOT)} cites {match.group(0)}"
            page = ROOT / match.group(1)
            assert page.is_file(), where
            headings = set(HEADING.findall(FENCED.sub("", page.read_text(encoding="utf-8"))))
            for section in QUOTED.findall(match.group(2)):
                cited += 1
                assert section in headings, f"{where}: no heading {section!r} in {match.group(1)}"
    assert cited > 20  # the pattern still finds the citations that name a section
