"""Every setting and every command is documented: the README is the newcomer's map."""

from __future__ import annotations

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
