"""Fixtures that start the real things: SQLite and PostgreSQL, the local store and SeaweedFS, the app."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from podcast_host import create_app
from podcast_host.config import load_settings
from podcast_host.services import Services, build_services

POSTGRES_URL = os.environ.get(
    "PODCAST_HOST_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose every setting themselves; a developer's PODCAST_HOST_* must not leak in."""
    for name in list(os.environ):
        if name.startswith("PODCAST_HOST_") and name != "PODCAST_HOST_TEST_POSTGRES":
            monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database: a SQLite file, or a private schema in the machine's PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means the same thing here
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not usable ({exc}); `make test` starts it.")
    admin.dispose()
    # application_name lets a test find (and kill) exactly this database's connections.
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}&application_name={schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def make_services(tmp_path: Path, **overrides: Any) -> Services:
    settings = load_settings(
        environ={},
        overrides={
            "data_dir": str(tmp_path / "instance"),
            "testing": True,
            "secret_key": "test-secret",
            **overrides,
        },
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    services = build_services(settings)
    services.db.upgrade()
    return services


@pytest.fixture
def services(tmp_path: Path, database_url: str) -> Iterator[Services]:
    """The app's services on the local store, against SQLite and PostgreSQL in turn."""
    built = make_services(tmp_path, database_url=database_url)
    yield built
    built.close()


@pytest.fixture
def sqlite_services(tmp_path: Path) -> Iterator[Services]:
    """The services on SQLite only, for tests about something other than the database."""
    built = make_services(tmp_path)
    yield built
    built.close()


@pytest.fixture
def app(services: Services):  # type: ignore[no-untyped-def]
    return create_app(services=services)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real SeaweedFS S3 server for the whole run, on free loopback ports."""
    from s3server import SeaweedS3

    with SeaweedS3().start(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3_bucket(seaweedfs: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; boto3's usual credential chain finds the test credentials in the environment."""
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    return seaweedfs.make_bucket()


@pytest.fixture
def s3_services(tmp_path: Path, seaweedfs: Any, s3_bucket: str) -> Iterator[Services]:
    """The services with media on SeaweedFS (and SQLite for metadata)."""
    url = f"s3://{s3_bucket}/media?endpoint_url={seaweedfs.endpoint_url}&region=us-east-1"
    built = make_services(tmp_path, storage_url=url)
    yield built
    built.close()


@pytest.fixture(scope="session")
def sample_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-second stereo MP3 of a generated tone, made once per run."""
    from audio_fixtures import make_tone

    return make_tone(tmp_path_factory.mktemp("audio") / "sample.mp3", seconds=4, frequency=440, level_db=-12)


@pytest.fixture
def admin_token(services: Services) -> str:
    from podcast_host import accounts

    with services.db.session() as session:
        user = accounts.create_user(session, "admin@example.com", "correct horse battery", admin=True)
        _, secret = accounts.create_token(session, user, "tests")
        session.commit()
    return secret
