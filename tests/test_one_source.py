"""Each fact is stated once: where a second place must agree with it (a schema, a CLI choice, a column, the
OpenAPI document), it is checked here against the first, so that the two cannot drift apart silently."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from marshmallow import Schema, validate

from podcast_host import accounts, episodes, errors, shows, sync
from podcast_host.audio import EncodeSettings
from podcast_host.cli import main
from podcast_host.config import ConfigError, load_settings
from podcast_host.errors import Invalid
from podcast_host.jobs import Retry
from podcast_host.limits import KIB, MIB, format_size
from podcast_host.models import (
    EPISODE_STATUSES,
    FAILED,
    MAX_ID,
    PENDING,
    PROCESSING,
    READY,
    ROLES,
    ApiToken,
    Episode,
    Show,
    User,
    utcnow,
)
from podcast_host.notes import MAX_NOTES_CHARS
from podcast_host.slugs import MAX_SLUG_LENGTH, check_slug
from podcast_host.tomlfile import Wording, read_toml
from podcast_host.web import schemas
from podcast_host.web.errors import HTTP_CODES, STATUS
from podcast_host.web.openapi import ERRORS

PACKAGE = Path(__file__).resolve().parent.parent / "podcast_host"


def _sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}


@pytest.mark.parametrize(
    ("literal", "home"),
    [
        (r"2\s*\*\*\s*31", "model_base.py"),
        (re.escape('"owner", "editor", "viewer"'), "models.py"),
        (re.escape("[a-z]{2,3}(-[A-Za-z]{2}|-[0-9]{3})?"), "shows.py"),
        (r"tomllib\.loads", "tomlfile.py"),
        (r"def _size\b|//\s*\(1024 \* 1024\)", "nowhere"),
    ],
)
def test_a_fact_is_written_in_one_module(literal: str, home: str) -> None:
    found = sorted(name for name, text in _sources().items() if re.search(literal, text))
    assert found == ([] if home == "nowhere" else [home])


# --- roles --------------------------------------------------------------------------------------------------


def _grant_role_choices() -> list[str]:
    group = main.commands["show"]
    assert isinstance(group, click.Group)
    grant = group.commands["grant"]
    role = next(p for p in grant.params if p.name == "role")
    assert isinstance(role.type, click.Choice)
    return list(role.type.choices)


def test_the_roles_are_the_models_roles_everywhere() -> None:
    assert _grant_role_choices() == list(ROLES)
    assert set(accounts.PERMISSIONS) == set(ROLES)
    for schema in (schemas.MemberGrantSchema, schemas.MemberSchema, schemas.InvitationSchema):
        assert _one_of(schema, "role") == list(ROLES)


def _validators(schema: type[Schema], name: str) -> list[Any]:
    return list(schema().fields[name].validators)


def _one_of(schema: type[Schema], name: str) -> list[Any]:
    return [list(v.choices) for v in _validators(schema, name) if isinstance(v, validate.OneOf)][0]


def _max_length(schema: type[Schema], name: str) -> int | None:
    return next((v.max for v in _validators(schema, name) if isinstance(v, validate.Length)), None)


# --- ids ----------------------------------------------------------------------------------------------------


def test_ids_stop_where_the_integer_columns_do() -> None:
    assert MAX_ID == 2**31 - 1
    for model in (User, ApiToken, Show, Episode):
        assert str(model.__table__.c.id.type) == "INTEGER"


@pytest.mark.postgres
def test_the_domain_refuses_an_id_past_the_largest(services: Any) -> None:
    """SQLite finds no such row anyway; PostgreSQL would refuse the number itself without the check."""
    with services.db.session() as session:
        with pytest.raises(errors.NotFound):
            episodes.get_episode(session, MAX_ID + 1)
        user = accounts.create_user(session, "someone@example.com", "correct horse battery")
        with pytest.raises(errors.NotFound):
            accounts.revoke_token(session, user, MAX_ID + 1)


# --- what the API checks, the domain checks alike -----------------------------------------------------------


def _domain_accepts_language(value: str) -> bool:
    try:
        shows.clean_show_fields({"language": value}, require_title=False)
    except Invalid:
        return False
    return True


@pytest.mark.parametrize(
    "language",
    [
        "en",
        "ar",
        "ast",
        "pt-BR",
        "en-us",
        "es-419",
        "",
        "EN",
        "english",
        "e",
        "en_US",
        "en-",
        "zh-Hant",
        "abcd",
    ],
)
def test_the_api_refuses_a_language_exactly_when_the_domain_does(language: str) -> None:
    api_accepts = not schemas.ShowPatchSchema().validate({"language": language})
    assert api_accepts == _domain_accepts_language(language)


def _domain_accepts_slug(value: str) -> bool:
    try:
        check_slug(value)
    except Invalid:
        return False
    return True


@pytest.mark.parametrize(
    "slug",
    ["my-show", "a", "1-2-3", "a" * MAX_SLUG_LENGTH, "a" * (MAX_SLUG_LENGTH + 1), "", "My-Show", "my--show"]
    + ["-my", "my-", "my_show", "émission", "my show"],
)
def test_the_api_refuses_a_slug_exactly_when_the_domain_does(slug: str) -> None:
    api_accepts = not schemas.ShowPatchSchema().validate({"slug": slug})
    assert api_accepts == _domain_accepts_slug(slug)


def test_the_schemas_keep_the_domains_text_limits() -> None:
    show_schemas: list[type[Schema]] = [schemas.ShowCreateSchema, schemas.ShowPatchSchema]
    for show_schema in show_schemas:
        for name, limit in shows.TEXT_LIMITS.items():
            # A category is one of Apple's names, a time zone one of the IANA names: each checked by its list.
            if name in show_schema().fields and name not in ("category", "time_zone"):
                assert _max_length(show_schema, name) == limit, name
    episode_schemas: list[type[Schema]] = [schemas.EpisodeUploadSchema, schemas.EpisodePatchSchema]
    for episode_schema in episode_schemas:
        assert _max_length(episode_schema, "title") == shows.TEXT_LIMITS["title"]
        assert _max_length(episode_schema, "description") == MAX_NOTES_CHARS
    assert _max_length(schemas.TokenCreateSchema, "name") == accounts.MAX_TOKEN_NAME_LENGTH
    assert _max_length(schemas.MemberGrantSchema, "email") == accounts.MAX_EMAIL_LENGTH
    assert _max_length(schemas.ShowPatchSchema, "slug") == MAX_SLUG_LENGTH
    zones = _validators(schemas.ShowPatchSchema, "time_zone")[0]
    assert set(zones.choices) == shows.time_zones()
    language = _validators(schemas.ShowPatchSchema, "language")[0]
    assert language.regex.pattern == shows.LANGUAGE_PATTERN
    assert _one_of(schemas.EpisodeSchema, "type") == list(episodes.EPISODE_TYPES)


@pytest.mark.parametrize(
    ("number", "accepted"),
    [(0, True), (episodes.MAX_NUMBER, True), (episodes.MAX_NUMBER + 1, False), (-1, False)],
)
def test_season_numbers_end_where_the_domain_ends_them(number: int, accepted: bool) -> None:
    api_accepts = not schemas.EpisodePatchSchema().validate({"season": number})
    try:
        episodes.clean_episode_fields({"season": number}, creating=False)
        domain_accepts = True
    except Invalid:
        domain_accepts = False
    assert api_accepts == domain_accepts == accepted


def _column_length(model: Any, name: str) -> int | None:
    """The length of a String column; None for TEXT."""
    return getattr(model.__table__.c[name].type, "length", None)


def test_what_the_domain_accepts_fits_its_column() -> None:
    for name, limit in shows.TEXT_LIMITS.items():
        length = _column_length(Show, name)
        assert length is None or length >= limit, name
    assert _column_length(Episode, "title") == shows.TEXT_LIMITS["title"]
    assert _column_length(User, "email") == accounts.MAX_EMAIL_LENGTH
    assert _column_length(ApiToken, "name") == accounts.MAX_TOKEN_NAME_LENGTH


def test_the_documented_defaults_are_the_pipelines() -> None:
    defaults = EncodeSettings()
    described = {
        name: str(field.metadata.get("description"))
        for name, field in schemas.ShowPatchSchema().fields.items()
    }
    assert f"{defaults.target_lufs_stereo:g} LUFS" in described["target_lufs_stereo"]
    assert f"{defaults.target_lufs_mono:g} LUFS" in described["target_lufs_mono"]
    assert f"null: {defaults.bitrate_stereo_kbps}." in described["bitrate_stereo_kbps"]
    assert f"null: {defaults.bitrate_mono_kbps}." in described["bitrate_mono_kbps"]


def test_the_api_lists_exactly_the_statuses_an_episode_can_have() -> None:
    now = utcnow()
    found = set()
    for state in (PENDING, PROCESSING, FAILED, READY):
        for draft in (True, False):
            for publish_at in (None, now - timedelta(days=1), now + timedelta(days=1)):
                found.add(Episode(processing_state=state, draft=draft, publish_at=publish_at).status_at(now))
    assert found == set(EPISODE_STATUSES)
    assert _one_of(schemas.EpisodeSchema, "status") == list(EPISODE_STATUSES)


# --- errors and statuses ------------------------------------------------------------------------------------


def test_each_domain_error_status_is_described_by_the_document() -> None:
    for cls, status in STATUS.items():
        assert status in ERRORS, cls


def test_http_errors_share_the_code_of_the_domain_error_with_their_status() -> None:
    for cls, status in STATUS.items():
        assert HTTP_CODES.get(status, cls.code) == cls.code


# --- retries ------------------------------------------------------------------------------------------------


def test_the_queue_waits_twice_as_long_before_each_retry() -> None:
    retry = Retry()
    assert [retry.delay_s(n) for n in range(1, retry.attempts)] == [2.0, 4.0, 8.0]


# --- sizes --------------------------------------------------------------------------------------------------


def test_sizes_are_written_one_way() -> None:
    assert format_size(5 * MIB) == "5 MB"
    assert format_size(sync.TOML_LIMIT) == "320 KB"
    assert format_size(128 * KIB) == "128 KB"


# --- the TOML reader of config.toml and sync's show.toml / episode.toml -------------------------------------


def _read_config(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "config.toml").write_bytes(data)
    load_settings(environ={}, overrides={"data_dir": str(tmp_path)})


def _read_show_toml(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "show.toml").write_bytes(data)
    sync._read_toml(tmp_path / "show.toml", sync.SHOW_KEYS)


CALLERS: dict[str, tuple[Callable[[Path, bytes], None], type[Exception], int, dict[str, str]]] = {
    "config.toml": (
        _read_config,
        ConfigError,
        MIB,
        {
            "unknown": "Unknown setting 'colour' in config.toml.",
            "too big": "config.toml in the data dir is larger than 1 MB.",
            "not toml": "config.toml in the data dir is not valid TOML: ",
        },
    ),
    "show.toml": (
        _read_show_toml,
        Invalid,
        sync.TOML_LIMIT,
        {
            "unknown": "show.toml: unknown key 'colour'.",
            "too big": "show.toml: larger than 320 KB; refused before reading it.",
            "not toml": "show.toml: not valid TOML (",
        },
    ),
}


@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize(
    "case",
    ["unknown", "too big", "not toml", "not UTF-8", "nested too deeply", "an integer of 5,000 digits"],
)
def test_both_toml_files_are_refused_alike_in_their_own_words(tmp_path: Path, caller: str, case: str) -> None:
    read, error, limit, words = CALLERS[caller]
    data = {
        "unknown": b'colour = "blue"\n',
        "too big": b"# " + b"x" * limit + b"\n",
        "not toml": b"title = \n",
        "not UTF-8": b'title = "\xff"\n',
        "nested too deeply": b"title = " + b"[" * 100_000,
        "an integer of 5,000 digits": b"title = 1" + b"0" * 5_000,
    }[case]
    with pytest.raises(error) as refused:
        read(tmp_path, data)
    message = str(refused.value)
    assert len(message.splitlines()) == 1 and len(message) < 500
    assert words.get(case, words["not toml"]) in message


def test_the_reader_returns_the_known_keys(tmp_path: Path) -> None:
    path = tmp_path / "any.toml"
    path.write_text('title = "T"\nexplicit = true\n', encoding="utf-8")
    wording = Wording(too_big="{name}: {size}", not_toml="{name}: {reason}", unknown_key="{name}: {key!r}")
    assert read_toml(path, {"title", "explicit", "other"}, 100, ValueError, wording) == {
        "title": "T",
        "explicit": True,
    }
    with pytest.raises(ValueError, match=r"^any\.toml: 'explicit'$"):
        read_toml(path, {"title"}, 100, ValueError, wording)
    path.write_text("# " + "x" * KIB, encoding="utf-8")
    with pytest.raises(ValueError, match=r"^any\.toml: 1 KB$"):
        read_toml(path, {"title"}, KIB, ValueError, wording)
