"""GET /api/v1/openapi.json: a valid OpenAPI 3 document of every route, and the app keeps its promises."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from podcast_host import accounts, audio, create_app, episodes, shows
from podcast_host.services import Services

ROUTES = {
    "/api/v1/shows": {"get", "post"},
    "/api/v1/shows/{slug}": {"get", "patch", "delete"},
    "/api/v1/shows/{slug}/image": {"put"},
    "/api/v1/shows/{slug}/episodes": {"get", "post"},
    "/api/v1/episodes/{episode_id}": {"get", "patch", "delete"},
    "/api/v1/episodes/{episode_id}/publish": {"post"},
    "/api/v1/episodes/{episode_id}/reprocess": {"post"},
    "/api/v1/tokens": {"get", "post"},
    "/api/v1/me/password": {"post"},
    "/api/v1/tokens/{token_id}": {"delete"},
    "/api/v1/shows/{slug}/members": {"get", "post"},
    "/api/v1/shows/{slug}/analytics": {"get"},
    "/api/v1/shows/{slug}/analytics.csv": {"get"},
    "/api/v1/shows/{slug}/analytics/subscribers": {"get"},
    "/api/v1/shows/{slug}/members/{email}": {"delete"},
    "/api/v1/shows/{slug}/subscribers": {"get", "post"},
    "/api/v1/shows/{slug}/subscribers.csv": {"post"},
    "/api/v1/shows/{slug}/subscribers/{subscriber_id}/token": {"post"},
    "/api/v1/shows/{slug}/subscribers/{subscriber_id}": {"delete"},
    "/api/v1/imports": {"post"},
    "/api/v1/imports/{import_id}": {"get"},
    "/api/v1/openapi.json": {"get"},
}
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.content_type == "application/json"
    return response.get_json()


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_the_document_lists_every_route(document: dict[str, Any]) -> None:
    listed = {path: set(item) & METHODS for path, item in document["paths"].items()}
    assert listed == ROUTES


def test_every_flask_route_under_api_is_documented(app: Flask, document: dict[str, Any]) -> None:
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(\w+:)?(\w+)>", r"{\2}", rule.rule)
            assert path in document["paths"], rule.rule


def test_bodies_errors_and_security_are_described(document: dict[str, Any]) -> None:
    bearer = document["components"]["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearerAuth": []}]
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    paths = document["paths"]
    upload = paths["/api/v1/shows/{slug}/episodes"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    fields = document["components"]["schemas"][form]["properties"]
    assert fields["audio"] == {**fields["audio"], "type": "string", "format": "binary"}
    assert {
        "audio",
        "image",
        "chapters",
        "transcript",
        "title",
        "description",
        "season",
        "number",
        "type",
        "publish_at",
        "draft",
    } <= fields.keys()
    assert set(upload["responses"]) >= {"202", "401", "403", "404", "413", "415", "422"}
    assert "application/json" in paths["/api/v1/shows"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in paths["/api/v1/shows/{slug}/image"]["put"]["requestBody"]["content"]
    assert paths["/api/v1/openapi.json"]["get"]["security"] == []
    for path, item in paths.items():
        for method, operation in item.items():
            if method in METHODS and path != "/api/v1/openapi.json":
                assert "401" in operation["responses"], (method, path)
                assert operation["summary"], (method, path)


def test_the_document_follows_the_public_url(tmp_path: Any) -> None:
    from conftest import make_services

    services = make_services(tmp_path, public_url="https://pods.example.org")
    try:
        document = create_app(services=services).test_client().get("/api/v1/openapi.json").get_json()
    finally:
        services.close()
    assert document["servers"] == [{"url": "https://pods.example.org"}]


# --- the app against its document (schemathesis) -------------------------------------------------------

# Rules JSON Schema cannot state (dates from 1970 to 9000, audio mutagen can read, square covers of 1400 to
# 3000 px, a report's first day not after its last and at most 3,660 days, a CSV file of UTF-8 text):
# schema-valid bodies may still get 422/415 here. test_api.py, test_analytics.py and test_subscribers.py
# cover what these routes accept. The show routes stay checked: the document states the rules between a show's
# Podcasting 2.0 fields as anyOf (web/namespace_schemas.py, NAMESPACE_RULES), all but one, a podroll naming
# each show once, which these derandomized examples do not break (test_namespace_input.py covers its refusal).
BEYOND_THE_SCHEMA = {
    "GET /api/v1/shows/{slug}/analytics",
    "GET /api/v1/shows/{slug}/analytics.csv",
    "GET /api/v1/shows/{slug}/analytics/subscribers",
    "PATCH /api/v1/episodes/{episode_id}",
    "POST /api/v1/episodes/{episode_id}/publish",
    "POST /api/v1/shows/{slug}/episodes",
    "PUT /api/v1/shows/{slug}/image",
    "POST /api/v1/shows/{slug}/subscribers.csv",
}


@dataclass
class Fuzz:
    schema: Any
    services: Services
    headers: dict[str, str]
    sample_mp3: Path
    shows: int = 0

    def existing(self) -> dict[str, Any]:
        """Path parameters naming a fresh show with one episode, so bodies reach the domain's checks."""
        self.shows += 1
        with self.services.db.session() as session:
            admin = accounts.get_user(session, "fuzz@example.com")
            show = shows.create_show(
                session,
                self.services.settings.public_url,
                {"slug": f"fuzz-{self.shows}", "title": "Fuzz"},
                owner=admin,
            )
            upload = episodes.Upload(self.sample_mp3, "sample.mp3")
            episode = episodes.create_episode(
                self.services, session, show, upload, {"title": "Fuzz"}, enqueue=False
            )
            return {"slug": show.slug, "episode_id": episode.id, "email": admin.email}


def _built_once(build: Callable[..., Any]) -> Callable[..., Any]:
    """Hypothesis' builder of regex strategies, each pattern built once per alphabet and then reused.

    Hypothesis builds a pattern's strategy again for every strategy derived from it (each filter makes one),
    and its own cache keeps 1,024 strategies while the fuzzer makes more: the slug pattern (the letters of
    every script a slug may use) was built some thirty times, at about half a second each. A built strategy
    is immutable, so reusing it draws exactly the same values."""
    built: dict[Any, Any] = {}

    def once(regex: Any, fullmatch: bool, **options: Any) -> Any:
        try:
            key = (type(regex), regex, fullmatch, frozenset(options.items()))
            return built[key]
        except KeyError:
            built[key] = build(regex, fullmatch, **options)
            return built[key]
        except TypeError:  # an option that cannot be a key: built anew, as Hypothesis does
            return build(regex, fullmatch, **options)

    return once


@pytest.fixture(scope="module")
def _regex_strategies_built_once() -> Iterator[None]:
    """Both modes draw from the same patterns: their strategies are built once for the module. Should a
    Hypothesis release move its builder, the fuzzing runs as it did before, only slower."""
    try:
        from hypothesis.strategies._internal import regex

        build = regex.regex_strategy
    except (ImportError, AttributeError):
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(regex, "regex_strategy", _built_once(build))
        yield


@pytest.fixture
def fuzz(
    sqlite_services: Services,
    sample_mp3: Path,
    monkeypatch: pytest.MonkeyPatch,
    _regex_strategies_built_once: None,
) -> Fuzz:
    from conftest import _remembering_process

    # A reprocess request runs the whole job, inline in tests; as for the `episode` fixture, only the
    # ffmpeg work is done once per worker and its real output reused (the pipeline has its own tests).
    monkeypatch.setattr(audio, "process", _remembering_process(audio.process))
    app = create_app(services=sqlite_services)
    with sqlite_services.db.session() as session:
        user = accounts.create_user(session, "fuzz@example.com", None, admin=True)
        _, secret = accounts.create_token(session, user, "fuzz")
        session.commit()
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # Revoking token 1 would revoke the fuzzer's own token and leave nothing else to test.
    schema = loaded.exclude(method="DELETE", path="/api/v1/tokens/{token_id}")
    # An import fetches the address it is given: generated ones would send DNS queries off this machine.
    # tests/test_import.py covers what the route accepts and refuses.
    schema = schema.exclude(method="POST", path="/api/v1/imports")
    return Fuzz(schema, sqlite_services, {"Authorization": f"Bearer {secret}"}, sample_mp3)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_the_app_keeps_the_promises_of_its_document(fuzz: Fuzz, mode: GenerationMode) -> None:
    """No 5xx; every answer's status, type and body is one the document describes; invalid input is refused.

    Positive bodies go to existing shows and episodes and must be accepted; negative ones anywhere.
    """
    failures = []
    for result in fuzz.schema.get_all_operations():
        operation = result.ok()
        known = fuzz.existing() if mode is GenerationMode.POSITIVE else {}
        parameters = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=parameters)
        excluded = [positive_data_acceptance] if operation.label in BEYOND_THE_SCHEMA else []
        try:
            run_examples(strategy, fuzz.headers, excluded)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every operation's failure
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def run_examples(strategy: Any, headers: dict[str, str], excluded: list[Any]) -> None:
    """A bounded, deterministic Hypothesis run (pytest 9.2 breaks schemathesis' own pytest plugin)."""

    @given(case=strategy)
    @settings(
        max_examples=20,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    run()
