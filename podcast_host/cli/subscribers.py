"""A private show's subscribers: `subscriber add`, `list`, `revoke`, `reissue` and `import`
(docs/private-feeds.md)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.orm import Session

from podcast_host import shows, subscribers
from podcast_host.cli.common import LazyServices, friendly_errors, pass_services
from podcast_host.feeds.links import Links
from podcast_host.models import Show
from podcast_host.services import Services

# Checked when the command runs with --as.
PERMISSION = subscribers.PERMISSION


@click.group()
def subscriber() -> None:
    """Subscribers of private shows: each has a feed URL of their own."""


@subscriber.command("add")
@click.argument("show_slug")
@click.argument("email")
@click.option("--name", default="", help="How you know them; never shown to listeners.")
@pass_services
@friendly_errors
def subscriber_add(lazy: LazyServices, show_slug: str, email: str, name: str) -> None:
    """Add a subscriber; their feed URL is printed once, on the last line."""
    services = lazy.get()
    with services.db.session() as session:
        show = _show(lazy, session, show_slug)
        added, token = subscribers.add_subscriber(session, show, email, name)
        session.commit()
        click.echo(f"Subscriber {added.id} added: {added.email}", err=True)
        click.echo(_feed(services, show, token))


@subscriber.command("list")
@click.argument("show_slug")
@pass_services
@friendly_errors
def subscriber_list(lazy: LazyServices, show_slug: str) -> None:
    """Id, email, name, revoked (yes/no) and creation time of every subscriber."""
    with lazy.get().db.session() as session:
        show = _show(lazy, session, show_slug)
        for item in subscribers.list_subscribers(session, show):
            revoked = "revoked" if item.revoked_at else "active"
            created = item.created_at.isoformat(timespec="minutes")
            click.echo(f"{item.id}\t{item.email}\t{item.name}\t{revoked}\t{created}")


@subscriber.command("revoke")
@click.argument("show_slug")
@click.argument("subscriber_id", type=int)
@pass_services
@friendly_errors
def subscriber_revoke(lazy: LazyServices, show_slug: str, subscriber_id: int) -> None:
    """Revoke a subscriber: their feed URL stops working at once."""
    with lazy.get().db.session() as session:
        show = _show(lazy, session, show_slug)
        subscribers.revoke(session, subscribers.get_subscriber(session, show, subscriber_id))
        session.commit()
    click.echo(f"Subscriber {subscriber_id} is revoked.")


@subscriber.command("reissue")
@click.argument("show_slug")
@click.argument("subscriber_id", type=int)
@pass_services
@friendly_errors
def subscriber_reissue(lazy: LazyServices, show_slug: str, subscriber_id: int) -> None:
    """Give a subscriber a new feed URL (printed on the last line); the old one stops working at once."""
    services = lazy.get()
    with services.db.session() as session:
        show = _show(lazy, session, show_slug)
        token = subscribers.reissue(session, subscribers.get_subscriber(session, show, subscriber_id))
        session.commit()
        click.echo(_feed(services, show, token))


@subscriber.command("import")
@click.argument("show_slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_services
@friendly_errors
def subscriber_import(lazy: LazyServices, show_slug: str, file: Path) -> None:
    """Add subscribers from a CSV of `email,name` rows (a header row is optional).

    Prints each added subscriber's address and feed URL, and each refused line on stderr; good rows are kept
    either way, and the command exits 1 when any line was refused."""
    services = lazy.get()
    if file.stat().st_size > subscribers.MAX_CSV_BYTES:
        raise click.ClickException(f"{file}: larger than {subscribers.MAX_CSV_BYTES // 2**20} MB.")
    with services.db.session() as session:
        show = _show(lazy, session, show_slug)
        report = subscribers.import_csv(session, show, file.read_bytes())
        session.commit()
        for added, token in report.added:
            click.echo(f"{added.email}\t{_feed(services, show, token)}")
    for line, message in report.refused:
        click.echo(f"{file.name}:{line}: {message}", err=True)
    if report.refused:
        raise click.ClickException(
            f"{len(report.refused)} line(s) refused; {len(report.added)} subscriber(s) added."
        )


def _show(lazy: LazyServices, session: Session, slug: str) -> Show:
    found = shows.find_show(session, slug)
    lazy.require(session, found, PERMISSION)
    return found


def _feed(services: Services, show: Show, token: str) -> str:
    """The subscriber's own feed: the show's feed with their token."""
    return Links(services.settings).subscriber_feed(show, token)
