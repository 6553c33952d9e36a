"""Listener analytics from the command line: `analytics ingest` counts a CDN's or web server's access log."""

from __future__ import annotations

from pathlib import Path

import click

from podcast_host.analytics.logs import FORMATS
from podcast_host.cli.common import LazyServices, friendly_errors, pass_services


@click.group()
def analytics() -> None:
    """Download counts (docs/analytics.md)."""


@analytics.command("ingest")
@click.argument("log_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="How the log is written.")
@pass_services
@friendly_errors
def analytics_ingest(lazy: LazyServices, log_file: Path, fmt: str) -> None:
    """Count the episode downloads in an access log, by the same rules as the app's own media route.

    Running it again on the same file counts nothing more; on a file that grew since, only its new lines.
    """
    lazy.as_operator("analytics ingest")
    # Loaded here: the User-Agent data is for this command, not for every command's start.
    from podcast_host.analytics.ingest import ingest

    result = ingest(lazy.get(), log_file, fmt)
    if result.already:
        click.echo(f"{log_file.name} was counted before: no new whole line to count.")
        return
    for problem in result.errors:
        click.echo(f"line {problem.line_number}: {problem.reason}", err=True)
    if result.error_count > len(result.errors):
        click.echo(f"... and {result.error_count - len(result.errors)} more unreadable lines", err=True)
    click.echo(
        f"{result.lines} lines read, {result.counted_lines} requests for episodes' audio, "
        f"{result.downloads} new downloads."
    )
