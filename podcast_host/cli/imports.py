"""`podcast-host import`: move a show in from another host's feed (docs/migrate.md)."""

from __future__ import annotations

from pathlib import Path

import click

from podcast_host.cli.common import LazyServices, friendly_errors, pass_services
from podcast_host.errors import Invalid


@click.command("import")
@click.argument("source")
@click.option(
    "--show", "show_slug", metavar="SLUG", help="Import into this show (made when it does not exist)."
)
@click.option(
    "--keep-audio", is_flag=True, help="Publish MP3 enclosures byte for byte instead of processing them."
)
@pass_services
@friendly_errors
def import_feed(lazy: LazyServices, source: str, show_slug: str | None, keep_audio: bool) -> None:
    """Import a show from its RSS feed (URL or FILE); run it again to pick up new items and retry failed ones.

    Exits 1 when any item failed; the summary names each and why."""
    from podcast_host.imports.run import run_import, start_import
    from podcast_host.imports.show import MAX_FEED_BYTES

    lazy.as_operator("import")
    services = lazy.get()
    feed_bytes = None
    if not source.startswith(("http://", "https://")):
        path = Path(source)
        if not path.is_file():
            raise Invalid(f"{source}: no such file, and not an http(s) URL.")
        if path.stat().st_size > MAX_FEED_BYTES:
            raise Invalid(f"{source}: larger than a feed may be ({MAX_FEED_BYTES // 2**20} MB).")
        feed_bytes = path.read_bytes()
        source = str(path.resolve())
    with services.db.session() as session:
        run = start_import(services, session, source, show_slug, keep_audio, None, queued=False)
        session.commit()
        import_id = run.id
    done = run_import(
        services,
        import_id,
        process_inline=True,
        feed_bytes=feed_bytes,
        echo=lambda line: click.echo(line, err=True),
    )
    if done.state == "failed":
        raise click.ClickException(done.error or "The import failed.")
    _summary(lazy, import_id)


def _summary(lazy: LazyServices, import_id: int) -> None:
    from podcast_host.models import FeedImport, Show

    with lazy.get().db.session() as session:
        run = session.get(FeedImport, import_id)
        assert run is not None and run.show_id is not None
        counts = {
            state: sum(1 for i in run.items if i.state == state)
            for state in ("imported", "skipped", "failed")
        }
        for notice in (run.notices or "").splitlines():
            click.echo(f"notice: {notice}", err=True)
        failed = [i for i in run.items if i.state == "failed"]
        for item in failed:
            click.echo(f"failed: {item.title or item.guid}: {item.reason}", err=True)
        show = session.get(Show, run.show_id)
        slug = show.slug if show else None
        click.echo(
            f"{counts['imported']} imported, {counts['skipped']} skipped, {counts['failed']} failed"
            + (f" (show {slug})" if slug else "")
        )
    if failed:
        raise SystemExit(1)
