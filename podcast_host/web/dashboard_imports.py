"""Moving a show in and out from the dashboard (docs/migrate.md): start an import from another host's feed,
follow its progress and read how to finish the move (the run itself is podcast_host/imports/); download a show
as a .zip of the folder `podcast-host export` writes."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from flask import Response as FlaskResponse
from flask import redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response as BaseResponse

from podcast_host.errors import Conflict, Forbidden, Invalid, NotFound
from podcast_host.export import export_show
from podcast_host.feeds.links import Links
from podcast_host.imports.run import start_import
from podcast_host.models import Show
from podcast_host.web.api_imports import import_for, import_json
from podcast_host.web.context import db, services
from podcast_host.web.dashboard import bp
from podcast_host.web.dashboard_access import show_for, signed_in_user
from podcast_host.web.dashboard_forms import form_errors
from podcast_host.web.errors import status_of

Page = tuple[str, int]
# How many items an import's page lists: failures first, then the latest others.
SHOWN_FAILURES = 500
SHOWN_OTHERS = 50


@bp.get("/imports/new")
def new_import() -> str:
    return _form_page()[0]


@bp.post("/imports")
def create_import() -> BaseResponse | Page:
    url = request.form.get("url", "").strip()
    show = request.form.get("show", "").strip() or None
    keep_audio = request.form.get("keep_audio") == "true"
    try:
        run = start_import(services(), db(), url, show, keep_audio, signed_in_user())
        import_id = run.id
        db().commit()
    except (Invalid, Forbidden, NotFound, Conflict) as exc:
        db().rollback()
        return _form_page(form_errors(exc, "url"), status_of(exc))
    return redirect(url_for("dashboard.import_progress", import_id=import_id), code=303)


@bp.get("/imports/<int:import_id>")
def import_progress(import_id: int) -> str:
    me = signed_in_user()
    run = import_for(me, import_id)
    show = db().get(Show, run.show_id) if run.show_id else None
    shown = import_json(run, me)
    # A long feed's page stays short while it refreshes: every failure, and the latest of the rest.
    failed = [item for item in shown["items"] if item["state"] == "failed"][:SHOWN_FAILURES]
    others = [item for item in shown["items"] if item["state"] != "failed"][-SHOWN_OTHERS:]
    return render_template(
        "admin/import.html",
        run=shown,
        failed_items=failed,
        other_items=others,
        show=show,
        new_feed_url=Links(services().settings).feed(show) if show else None,
        working=run.state in ("queued", "running"),
    )


def _form_page(errors: dict[str, str] | None = None, status: int = 200) -> Page:
    page = render_template("admin/import_new.html", values=request.form.to_dict(), errors=errors or {})
    return page, status


@bp.get("/shows/<slug>/export.zip")
def export_zip(slug: str) -> FlaskResponse:
    """The show as a .zip of the folder `podcast-host export` writes; the owner's (it holds drafts and the
    original uploads). Built in a temporary folder of the data folder (where space for media was planned,
    not the system's /tmp, often in memory) that goes once the answer is sent."""
    show = show_for(slug, "move_show")
    scratch = services().settings.data_dir / "tmp" / "exports"
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="export-", dir=scratch))
    try:
        report = export_show(services(), show.slug, work / "folder")
        archive = work / "show.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
            for path in sorted(report.path.rglob("*")):
                if path.is_file():
                    # MP3s and images are compressed already: stored as they are, which is much faster.
                    kind = zipfile.ZIP_STORED if path.suffix.lower() in _COMPRESSED else zipfile.ZIP_DEFLATED
                    out.write(path, path.relative_to(report.path.parent).as_posix(), compress_type=kind)
        handle = archive.open("rb")
    finally:
        # An open file stays readable once its folder is gone (the server runs on POSIX systems).
        shutil.rmtree(work, ignore_errors=True)
    # The dashboard marks every answer no-store; the archive is no exception.
    return send_file(handle, mimetype="application/zip", as_attachment=True, download_name=f"{show.slug}.zip")


_COMPRESSED = frozenset({".mp3", ".m4a", ".aac", ".ogg", ".opus", ".flac", ".jpg", ".jpeg", ".png"})
