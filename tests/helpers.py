"""Small helpers shared by test modules."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from werkzeug.routing.rules import Rule
from werkzeug.test import TestResponse

from podcast_host.services import Services


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class _CompiledTemplates(BytecodeCache):
    """Templates compiled once per process and shared by every app the tests build. Each test builds its
    own app, and Jinja compiles a template again for each app that renders it, a tenth of a second for the
    dashboard's pages. Jinja keys the code by template name and checks it against the source, so a changed
    template is compiled afresh."""

    def __init__(self) -> None:
        self.code: dict[tuple[str, tuple[str, ...]], bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self.code.get(self._key(bucket))
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[self._key(bucket)] = bucket.bytecode_to_string()

    @staticmethod
    def _key(bucket: Bucket) -> tuple[str, tuple[str, ...]]:
        # The extensions decide what code a template compiles to: an app with others would not share it.
        return bucket.key, tuple(sorted(bucket.environment.extensions))


_compiled_templates = _CompiledTemplates()


def share_compiled_templates(app: Flask) -> Flask:
    """`app`, rendering with the templates other apps of this process compiled already."""
    app.jinja_env.bytecode_cache = _compiled_templates
    return app


def share_url_builders() -> None:
    """Let every app this process builds use the URL builders the first one compiled.

    Each test builds its own app, and werkzeug compiles a builder for each URL rule (Python code it makes with
    `ast` and `compile()`), two per rule: about 30 ms of every test's set-up. A builder takes its rule as an
    argument and is made from the rule's text, parts and defaults alone, so the code compiled for one app's
    rule serves the same rule of any other. A werkzeug without this method is left as it is."""
    original = getattr(Rule, "_compile_builder", None)
    if original is None or original is _shared_builder[0]:
        return
    compiled: dict[tuple[Any, ...], Any] = {}

    def compile_builder(rule: Rule, append_unknown: bool = True) -> Any:
        defaults = repr(sorted((rule.defaults or {}).items()))
        key = (rule.rule, tuple(rule._trace), defaults, append_unknown)
        builder = compiled.get(key)
        if builder is None:
            builder = compiled[key] = original(rule, append_unknown)
        return builder

    _shared_builder[0] = compile_builder
    Rule._compile_builder = compile_builder


_shared_builder: list[Any] = [None]  # the compile_builder in place, so that a second call adds no layer


def create_show(client: FlaskClient, token: str, slug: str = "daily", **fields: Any) -> dict[str, Any]:
    body = {
        "slug": slug,
        "title": "The Daily Test",
        "language": "en",
        "author": "Tester",
        "email": "t@example.com",
        "category": "News/Politics",
        **fields,
    }
    response = client.post("/api/v1/shows", json=body, headers=auth(token))
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def upload_episode(
    client: FlaskClient, token: str, show: str, audio: Path, filename: str | None = None, **fields: Any
) -> TestResponse:
    data: dict[str, Any] = {"title": "Episode one", **fields}
    with audio.open("rb") as fh:
        data["audio"] = (fh, filename or audio.name)
        return client.post(
            f"/api/v1/shows/{show}/episodes",
            data=data,
            headers=auth(token),
            content_type="multipart/form-data",
        )


def user_token(services: Services, email: str) -> str:
    """A new user (not an admin) and an API token for them."""
    from podcast_host import accounts

    with services.db.session() as session:
        user = accounts.create_user(session, email, None)
        _, secret = accounts.create_token(session, user, "tests")
        session.commit()
    return secret


def accept_invitation(services: Services, accept_url: str, email: str) -> None:
    """Accept an invitation through its link's secret as the user `email`, as the link's page does."""
    from podcast_host import accounts, invitations

    with services.db.session() as session:
        invitation = invitations.invitation_for_secret(session, accept_url.rsplit("/", 1)[1])
        invitations.accept_invitation(session, invitation, accounts.get_user(session, email))
        session.commit()


def stored_episode(services: Services, show_id: int, audio_file: Path, **fields: Any) -> int:
    """An episode created through the domain and committed, its processing not queued; its id."""
    from podcast_host import episodes
    from podcast_host.models import Show

    with services.db.session() as session:
        show = session.get(Show, show_id)
        assert show is not None
        created = episodes.create_episode(
            services,
            session,
            show,
            episodes.Upload(audio_file, "a.mp3"),
            {"title": "T", **fields},
            enqueue=False,
        )
        return int(created.id)


def redis_url(database: int) -> str:
    """Redis database `database`, a different one in each xdist worker: tests that run side by side must
    not flush each other's queue. Modules pass different even or odd numbers (15, 14) to stay apart."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    assert database - 2 * worker >= 0, "Redis has databases 0 to 15"
    return f"redis://127.0.0.1:6379/{database - 2 * worker}"
