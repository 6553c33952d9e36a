"""POST /api/v1/imports and GET /api/v1/imports/<id>: move a show in from another host (docs/migrate.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, jsonify, url_for

from podcast_host import accounts
from podcast_host.errors import NotFound, refusal
from podcast_host.imports.run import start_import
from podcast_host.models import MAX_ID, FeedImport, Show, User
from podcast_host.web.api import bp, current_user
from podcast_host.web.api_bodies import json_body
from podcast_host.web.context import db, services
from podcast_host.web.import_schemas import ImportCreateSchema, ImportSchema
from podcast_host.web.openapi import documented


@bp.post("/imports")
@documented("imports", status=202, body=ImportCreateSchema, response=ImportSchema, errors=(403, 404))
def create_import() -> tuple[Response, int, dict[str, str]]:
    """Import a show from its feed at another host; runs in the background (GET the answer's Location).

    Run it again with the same feed to add new items and retry failed ones. Into an existing show it needs an
    editor's role there; a new show makes you its owner."""
    user = current_user()
    body = json_body(ImportCreateSchema)
    run = start_import(services(), db(), body["url"], body.get("show"), body["keep_audio"], user)
    db().commit()
    return jsonify(import_json(run, user)), 202, {"Location": url_for(".get_import", import_id=run.id)}


@bp.get("/imports/<int:import_id>")
@documented("imports", response=ImportSchema, errors=(404,))
def get_import(import_id: int) -> Response:
    """An import's progress and each item's outcome."""
    user = current_user()
    return jsonify(import_json(import_for(user, import_id), user))


def import_for(user: User, import_id: int) -> FeedImport:
    """Yours, or one into a show you may read; any other is as absent as one that does not exist."""
    run = db().get(FeedImport, import_id) if import_id <= MAX_ID else None
    if run is None or not may_see(user, run):
        raise NotFound(refusal("There is no import %(id)s.", id=import_id))
    return run


def may_see(user: User, run: FeedImport) -> bool:
    if user.is_admin or run.created_by == user.id:
        return True
    show = db().get(Show, run.show_id) if run.show_id else None
    return show is not None and accounts.allows(db(), user, show, "read")


def import_json(run: FeedImport, viewer: User) -> dict[str, Any]:
    """The run as the API and the dashboard show it. The feed's query string (a private feed's token at the
    old host, often) is shown to whoever started the import only."""
    show = db().get(Show, run.show_id) if run.show_id else None
    url = run.source if run.created_by == viewer.id else _host_only(run.source)
    items = [
        {"guid": i.guid, "title": i.title, "state": i.state, "reason": i.reason, "episode_id": i.episode_id}
        for i in run.items
    ]
    counts = {
        state: sum(1 for i in items if i["state"] == state) for state in ("imported", "skipped", "failed")
    }
    return {
        "id": run.id,
        "url": url,
        "show": show.slug if show else run.target_slug,
        "keep_audio": run.keep_audio,
        "state": run.state,
        "error": run.error,
        "notices": (run.notices or "").splitlines(),
        "total_items": run.total_items,
        "done_items": len(items),
        **counts,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "items": items,
    }


def _host_only(url: str) -> str:
    """The old host alone: a private feed's token may sit in its path as well as in its query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/" if parts.netloc else ""
