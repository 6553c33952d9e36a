"""The `podcast-host` command line (README.md, "Command line").

User mistakes print one line on stderr and exit non-zero. The commands live in one module per group:
serving.py (serve, worker, db), users.py (user, token), shows.py (show, episode, feed, sync, export),
analytics.py (analytics), imports.py (import), subscribers.py (subscriber).
"""

from __future__ import annotations

import click

from podcast_host.cli.analytics import analytics
from podcast_host.cli.common import LazyServices, friendly_errors, pass_services
from podcast_host.cli.imports import import_feed
from podcast_host.cli.serving import db, serve, worker
from podcast_host.cli.shows import episode, export, feed, show, sync
from podcast_host.cli.subscribers import subscriber
from podcast_host.cli.users import token, user

__all__ = ["LazyServices", "friendly_errors", "main", "pass_services"]


@click.group(invoke_without_command=True)
@click.version_option(package_name="podcast-host")
@click.option(
    "--as", "acting_as", metavar="EMAIL", help="Act as this user, with their roles (default: operator)."
)
@click.pass_context
def main(ctx: click.Context, acting_as: str | None) -> None:
    """Self-hostable podcast host and feed publisher. Without a command: serve."""
    lazy = ctx.ensure_object(LazyServices)
    lazy.acting_as = acting_as
    ctx.call_on_close(lazy.close)
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


for command in (serve, worker, db, user, token, show, episode, feed, sync, export, import_feed, analytics):
    main.add_command(command)
main.add_command(subscriber)
