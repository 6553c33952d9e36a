"""Shows and their episodes: `show …`, `episode …`, `feed`, `sync` and `export`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from podcast_host import accounts, episodes, processing, shows
from podcast_host.cli.common import LazyServices, friendly_errors, pass_services
from podcast_host.errors import Invalid
from podcast_host.feeds.links import feed_url
from podcast_host.models import FAILED, PRIVATE, READY, ROLES
from podcast_host.services import Services


@click.group()
def show() -> None:
    """Shows."""


@show.command("add")
@click.argument("slug")
@click.option("--title", required=True)
@click.option("--language", default="en", show_default=True)
@click.option("--author", default="")
@click.option("--email", default="")
@click.option("--category", default="", help='Apple category, e.g. "News/Politics".')
@click.option("--explicit", is_flag=True)
@click.option(
    "--image", type=click.Path(dir_okay=False, path_type=Path), help="Square JPEG/PNG, 1400–3000 px."
)
@click.option("--description", default="")
@click.option("--owner", default=None, help="Email of the user who owns the show.")
@click.option("--private", is_flag=True, help="No public feed or pages; subscribers get feeds of their own.")
@pass_services
@friendly_errors
def show_add(
    lazy: LazyServices, slug: str, image: Path | None, owner: str | None, private: bool, **fields: Any
) -> None:
    services = lazy.get()
    if private:
        fields["access"] = PRIVATE
    with services.db.session() as session:
        owner_user = accounts.get_user(session, owner) if owner else lazy.user(session)
        created = shows.create_show(
            session, services.settings.public_url, {"slug": slug, **fields}, owner_user
        )
        if image:
            shows.set_cover(services, session, created, image.read_bytes())
        session.commit()
        click.echo(f"Created show {created.slug}: {feed_url(services.settings.public_url, created.slug)}")


@show.command("list")
@pass_services
@friendly_errors
def show_list(lazy: LazyServices) -> None:
    with lazy.get().db.session() as session:
        user = lazy.user(session)
        for item in shows.visible_shows(session, user) if user else shows.list_shows(session):
            click.echo(f"{item.slug}\t{item.title}\t{len(item.episodes)} episode(s)")


@show.command("grant")
@click.argument("show_slug")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@pass_services
@friendly_errors
def show_grant(lazy: LazyServices, show_slug: str, email: str, role: str) -> None:
    with lazy.get().db.session() as session:
        found = shows.find_show(session, show_slug)
        lazy.require(session, found, "manage_members")
        accounts.grant(session, found, accounts.get_user(session, email), role)
        session.commit()
    click.echo(f"{email} is now {role} of {show_slug}.")


@click.group()
def episode() -> None:
    """Episodes."""


@episode.command("add")
@click.argument("show_slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--title", required=True)
@click.option("--notes", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Markdown notes.")
@click.option("--season", type=int)
@click.option("--number", type=int)
@click.option("--type", "episode_type", type=click.Choice(episodes.EPISODE_TYPES), default="full")
@click.option("--publish-at", help="ISO 8601 with offset, e.g. 2026-12-01T08:00:00+01:00.")
@click.option("--draft", is_flag=True)
@click.option("--explicit", is_flag=True)
@click.option("--image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--chapters", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--transcript", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--wait", is_flag=True, help="Block until processing ends; exit non-zero if it failed.")
@pass_services
@friendly_errors
def episode_add(
    lazy: LazyServices,
    show_slug: str,
    file: Path,
    notes: Path | None,
    episode_type: str,
    image: Path | None,
    chapters: Path | None,
    transcript: Path | None,
    wait: bool,
    **fields: Any,
) -> None:
    """Upload an episode; it is published when processed unless --draft or --publish-at."""
    services = lazy.get()
    fields = {k: v for k, v in fields.items() if v not in (None, False)}
    fields["type"] = episode_type
    if notes:
        fields["description"] = notes.read_text(encoding="utf-8")
    embedded = not services.settings.queue_url
    with services.db.session() as session:
        target = shows.find_show(session, show_slug)
        lazy.require(session, target, "edit_episodes")
        created = episodes.create_episode(
            services,
            session,
            target,
            episodes.Upload(file, file.name),
            fields,
            image=_upload(image),
            chapters=_upload(chapters),
            transcript=_upload(transcript),
            enqueue=not embedded,
        )
        episode_id = created.id
    click.echo(f"Episode {episode_id} uploaded; processing…", err=True)
    if embedded:
        state = _process_with_progress(services, episode_id)
    elif wait:
        state = _wait_for(services, episode_id)
    else:
        click.echo(episode_id)
        return
    _report(services, episode_id, state, must_succeed=wait)


def _upload(path: Path | None) -> episodes.Upload | None:
    return episodes.Upload(path, path.name) if path else None


def _process_with_progress(services: Services, episode_id: int) -> str:
    if not sys.stderr.isatty():
        return processing.process_episode(services, episode_id)
    with click.progressbar(length=1000, label="Processing", file=sys.stderr) as bar:
        done = [0]

        def advance(fraction: float) -> None:
            step = int(fraction * 1000) - done[0]
            if step > 0:
                bar.update(step)
                done[0] += step

        state = processing.process_episode(services, episode_id, progress=advance)
        advance(1.0)
    return state


def _wait_for(services: Services, episode_id: int) -> str:
    """Poll the database until a worker finishes the episode."""
    while True:
        with services.db.session() as session:
            current = episodes.get_episode(session, episode_id)
            if current.processing_state in (READY, FAILED):
                return current.processing_state
        time.sleep(1)


def _report(services: Services, episode_id: int, state: str, must_succeed: bool) -> None:
    with services.db.session() as session:
        current = episodes.get_episode(session, episode_id)
        if state == FAILED:
            message = f"Episode {episode_id} failed: {current.error}"
            if must_succeed:
                raise click.ClickException(message)
            click.echo(message, err=True)
        else:
            click.echo(f"Episode {episode_id} is {current.status}: {current.title}", err=True)
    click.echo(episode_id)


@episode.command("list")
@click.argument("show_slug")
@pass_services
@friendly_errors
def episode_list(lazy: LazyServices, show_slug: str) -> None:
    with lazy.get().db.session() as session:
        found = shows.find_show(session, show_slug)
        lazy.require(session, found, "read")
        for item in episodes.list_episodes(session, found):
            when = item.publish_at.isoformat(timespec="minutes") if item.publish_at else "-"
            click.echo(f"{item.id}\t{item.status}\t{when}\t{item.slug}\t{item.title}")


@episode.command("publish")
@click.argument("episode_id", type=int)
@pass_services
@friendly_errors
def episode_publish(lazy: LazyServices, episode_id: int) -> None:
    services = lazy.get()
    with services.db.session() as session:
        item = episodes.get_episode(session, episode_id)
        lazy.require(session, item.show, "edit_episodes")
        episodes.publish_episode(services, session, item)
        session.commit()
        click.echo(f"Episode {episode_id} is {item.status}.")


@episode.command("reprocess")
@click.argument("episode_id", type=int)
@click.option("--wait", is_flag=True)
@pass_services
@friendly_errors
def episode_reprocess(lazy: LazyServices, episode_id: int, wait: bool) -> None:
    services = lazy.get()
    with services.db.session() as session:
        item = episodes.get_episode(session, episode_id)
        lazy.require(session, item.show, "edit_episodes")
        episodes.request_reprocess(services, session, item)
        session.commit()
    state = _wait_for(services, episode_id) if wait or not services.settings.queue_url else None
    if state:
        _report(services, episode_id, state, must_succeed=wait)


@click.command()
@click.argument("show_slug")
@pass_services
@friendly_errors
def feed(lazy: LazyServices, show_slug: str) -> None:
    """Print the show's RSS feed (public: the same with or without --as)."""
    from podcast_host.feeds.syndication import render_feed

    services = lazy.get()
    with services.db.session() as session:
        show = shows.find_show(session, show_slug)
        if show.is_private:
            raise Invalid(
                f"{show.slug} is private: each subscriber has a feed of their own "
                "(podcast-host subscriber add|reissue prints its address)."
            )
        sys.stdout.buffer.write(render_feed(services, session, show).body)


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@pass_services
@friendly_errors
def sync(lazy: LazyServices, directory: Path) -> None:
    """Make the database match a folder of shows and episodes (README.md, "Podcast as code")."""
    from podcast_host.sync import sync_directory

    lazy.as_operator("sync")
    report = sync_directory(lazy.get(), directory, echo=lambda line: click.echo(line, err=True))
    click.echo(report.summary())


@click.command("export")
@click.argument("show_slug")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@pass_services
@friendly_errors
def export(lazy: LazyServices, show_slug: str, directory: Path) -> None:
    """Write a show out as a folder that `sync` reads back, on this instance or another (README.md,
    "Podcast as code")."""
    from podcast_host.export import export_show

    lazy.as_operator("export")
    report = export_show(lazy.get(), show_slug, directory)
    for note in report.notes:
        click.echo(note, err=True)
    click.echo(report.summary())
