"""The `podcast-host` command line (README.md, "Command line").

User mistakes print one line on stderr and exit non-zero.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from podcast_host import accounts, episodes, notes, processing, shows
from podcast_host.config import ConfigError
from podcast_host.db import DatabaseUnavailable
from podcast_host.errors import PodcastHostError
from podcast_host.feeds.links import feed_url
from podcast_host.jobs import RetryLater
from podcast_host.models import FAILED, READY, Show, User
from podcast_host.services import Services, build_services
from podcast_host.storage import StorageError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn the app's typed errors into one clear line and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (PodcastHostError, ConfigError, DatabaseUnavailable, StorageError) as exc:
            raise click.ClickException(str(exc)) from None
        except RetryLater as exc:
            raise click.ClickException(
                f"The media store did not answer ({exc}); the episode waits: run "
                "`podcast-host episode reprocess ID` (or `sync` again) once the store is back."
            ) from None
        except OSError as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None

    return wrapper  # type: ignore[return-value]


class LazyServices:
    """Services built on first use, so `--help` works without a database."""

    def __init__(self) -> None:
        self._services: Services | None = None
        # Email given with --as: commands then check that user's role, like the API does for a token.
        self.acting_as: str | None = None

    def get(self) -> Services:
        if self._services is None:
            self._services = build_services()
            if self._services.db.url.startswith("sqlite"):
                self._services.settings.data_dir.mkdir(parents=True, exist_ok=True)
                self._services.db.upgrade()
            else:
                self._services.db.check()
        return self._services

    def user(self, session: Session) -> User | None:
        """The user the command acts for, or None for the operator (full rights, like an admin)."""
        return accounts.get_user(session, self.acting_as) if self.acting_as else None

    def require(self, session: Session, show: Show, permission: str) -> None:
        if self.acting_as:
            accounts.require(session, self.user(session), show, permission)

    def as_operator(self, command: str) -> None:
        """Refuse --as on a command only the operator runs: ignoring it would act with full rights instead."""
        if self.acting_as:
            raise click.ClickException(f"`{command}` acts as the operator: run it without --as.")

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None


pass_services = click.make_pass_decorator(LazyServices, ensure=True)


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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Request threads per process.")
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=int,
    help="Web processes (with a queue URL; the embedded setup runs one).",
)
@pass_services
@friendly_errors
def serve(lazy: LazyServices, host: str, port: int, threads: int, processes: int) -> None:
    """Serve the pages, feeds, media and API with a production server (uvicorn, the app on a thread pool)."""
    from podcast_host.server import run_server

    lazy.as_operator("serve")
    services = lazy.get()
    if not services.settings.queue_url and processes != 1:
        raise click.ClickException(
            "--processes needs PODCAST_HOST_QUEUE_URL: embedded jobs run in one process."
        )
    lazy.close()
    click.echo(f"Serving on http://{host}:{port} (public URL {services.settings.public_url})", err=True)
    run_server(host, port, threads=threads, processes=processes)


@main.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@pass_services
@friendly_errors
def worker(lazy: LazyServices, burst: bool) -> None:
    """Run jobs from the Redis queue (PODCAST_HOST_QUEUE_URL)."""
    import threading

    from rq import Worker

    from podcast_host.jobs import RedisQueue

    lazy.as_operator("worker")
    services = lazy.get()
    if not isinstance(services.queue, RedisQueue):
        raise click.ClickException(
            "`worker` needs PODCAST_HOST_QUEUE_URL (redis://…); `serve` runs jobs itself."
        )
    recovered = processing.recover_unfinished(services, include_fresh=False)
    if recovered:
        click.echo(f"Re-queued {recovered} stalled episode(s).", err=True)
    if not burst:
        # Every worker also re-queues episodes whose worker died (killed machine, OOM) while it runs.
        processing.watch_for_stalled_runs(services, threading.Event())
    Worker([services.queue.rq_queue], connection=services.queue.connection).work(burst=burst)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_services
@friendly_errors
def db_upgrade(lazy: LazyServices) -> None:
    """Apply every pending migration."""
    lazy.as_operator("db upgrade")
    services = build_services()
    try:
        services.settings.data_dir.mkdir(parents=True, exist_ok=True)
        services.db.upgrade()
        with services.db.session() as session:
            notes.backfill_missing_html(session)  # notes HTML of rows saved before it was stored
    finally:
        services.close()
    click.echo("Database is up to date.", err=True)


@main.group()
def user() -> None:
    """Producer accounts."""


@user.command("add")
@click.argument("email")
@click.option("--admin", is_flag=True, help="May do everything on every show.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_services
@friendly_errors
def user_add(lazy: LazyServices, email: str, admin: bool, password_stdin: bool) -> None:
    lazy.as_operator("user add")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with lazy.get().db.session() as session:
        created = accounts.create_user(session, email, password, admin=admin)
        session.commit()
        click.echo(f"Created user {created.email}{' (admin)' if admin else ''}.")


@user.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_services
@friendly_errors
def user_password(lazy: LazyServices, email: str, password_stdin: bool) -> None:
    """Set a user's password; every dashboard session of theirs ends (their API tokens keep working)."""
    lazy.as_operator("user password")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True)
    with lazy.get().db.session() as session:
        # The operator is trusted: unlike the API, the command says plainly when there is no such user.
        found = accounts.get_user(session, email)
        accounts.set_password(session, found, password)
        session.commit()
        click.echo(f"New password set for {found.email}; their dashboard sessions have ended.")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("add")
@click.argument("email")
@click.option("--name", default="", help="A label to recognize the token by.")
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, accounts.MAX_TOKEN_DAYS),
    help="Refuse the token after this many days (default: never).",
)
@click.option("--read-only", is_flag=True, help="The token may only read (GET and HEAD requests).")
@pass_services
@friendly_errors
def token_add(
    lazy: LazyServices, email: str, name: str, expires_in_days: int | None, read_only: bool
) -> None:
    """Create an API token; it is printed once, alone on the last line. With --as, only for that user."""
    if lazy.acting_as and email.strip().lower() != lazy.acting_as.strip().lower():
        raise click.ClickException(
            f"With --as, `token add` makes tokens for {lazy.acting_as} only; "
            f"run it without --as to make one for {email}."
        )
    with lazy.get().db.session() as session:
        token, secret = accounts.create_token(
            session, accounts.get_user(session, email), name, expires_in_days, read_only
        )
        session.commit()
        scope = "read-only" if read_only else "read and write"
        until = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
    click.echo(f"Token for {email}, {scope}, {until} (store it now; it is not shown again):", err=True)
    click.echo(secret)


@main.group()
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
@pass_services
@friendly_errors
def show_add(lazy: LazyServices, slug: str, image: Path | None, owner: str | None, **fields: Any) -> None:
    services = lazy.get()
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
@click.argument("role", type=click.Choice(["owner", "editor", "viewer"]))
@pass_services
@friendly_errors
def show_grant(lazy: LazyServices, show_slug: str, email: str, role: str) -> None:
    with lazy.get().db.session() as session:
        found = shows.find_show(session, show_slug)
        lazy.require(session, found, "manage_members")
        accounts.grant(session, found, accounts.get_user(session, email), role)
        session.commit()
    click.echo(f"{email} is now {role} of {show_slug}.")


@main.group()
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
        episodes.publish_episode(session, item)
        session.commit()
        services.queue.enqueue("feed_changed", item.show_id)
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
    state = _wait_for(services, episode_id) if wait or not services.settings.queue_url else None
    if state:
        _report(services, episode_id, state, must_succeed=wait)


@main.command()
@click.argument("show_slug")
@pass_services
@friendly_errors
def feed(lazy: LazyServices, show_slug: str) -> None:
    """Print the show's RSS feed (public: the same with or without --as)."""
    from podcast_host.feeds.syndication import render_feed

    services = lazy.get()
    with services.db.session() as session:
        sys.stdout.buffer.write(render_feed(services, session, shows.find_show(session, show_slug)).body)


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@pass_services
@friendly_errors
def sync(lazy: LazyServices, directory: Path) -> None:
    """Make the database match a folder of shows and episodes (README.md, "Podcast as code")."""
    from podcast_host.sync import sync_directory

    lazy.as_operator("sync")
    report = sync_directory(lazy.get(), directory, echo=lambda line: click.echo(line, err=True))
    click.echo(report.summary())


if __name__ == "__main__":
    main()
