"""Fixtures that start the real things: SQLite and PostgreSQL, the local store and SeaweedFS, the app.

Which database a test runs on:

- Every test that uses `database_url` (and so `services`, `app`, `client`, `admin_token`, `episode`) runs on
  SQLite.
- A test marked `pytest.mark.postgres` (on itself, or on its module through `pytestmark`) runs twice, on
  SQLite and on PostgreSQL. Mark every test whose outcome may depend on the database: transactions,
  isolation and rollbacks, concurrent writers and races, the claim of a processing run, constraints and
  unique indexes (partial ones are written per dialect), ids never reused, locks, migrations and the schema
  check, queries that the two dialects could answer differently (ordering, paging, time stamps, JSON,
  aggregates, feed stamps). A test that drives routes, permissions, validation or rendering through the ORM
  in the ordinary way runs on SQLite alone. When in doubt, mark it.
- A test marked `pytest.mark.postgres_only` runs on PostgreSQL alone: a race between concurrent transactions
  that SQLite, with its one writer at a time, cannot have.

The schema is migrated once per worker process (prepare_database, which make_services calls): an empty
database gets a copy of a SQLite file that Alembic migrated, or, on PostgreSQL, the statements that Alembic's
migrations ran on an empty schema, replayed. A database that is not empty is brought up to date by the app's
own `db.upgrade()`. `database_url` stays empty until something migrates it, so a test of the migrations (or
of `podcast-host db upgrade`) runs the real ones.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import share_url_builders
from sqlalchemy import Connection, create_engine, event, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext

from podcast_host import create_app
from podcast_host.config import load_settings
from podcast_host.db import Database
from podcast_host.services import Services, build_services

# Every app the tests build shares the URL builders the first one compiled (helpers.share_url_builders).
share_url_builders()

POSTGRES_URL = os.environ.get(
    "PODCAST_HOST_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """SQLite for every test that uses a database; PostgreSQL too for the tests marked `postgres`."""
    if "database_url" in metafunc.fixturenames:
        kinds = ["sqlite"]
        if metafunc.definition.get_closest_marker("postgres_only"):
            kinds = ["postgresql"]
        elif metafunc.definition.get_closest_marker("postgres"):
            kinds = ["sqlite", "postgresql"]
        metafunc.parametrize("database_url", kinds, indirect=True)


# Modules whose tests share one module-scoped setup and run in file order: one xdist worker takes each whole.
_ONE_WORKER_MODULES = {"tests/test_browser.py", "tests/test_listener_browser.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first (marked `slow`, and the modules one worker takes whole), each group in file order:
    the workers then finish on short tests together, instead of one running a long test alone at the end."""
    items.sort(key=lambda item: not _long(item))


def _long(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None or item.nodeid.split("::", 1)[0] in _ONE_WORKER_MODULES


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's `--dist load`, test by test, except that each of _ONE_WORKER_MODULES goes to one worker."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduler(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in _ONE_WORKER_MODULES else nodeid

    return Scheduler(config, log)


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose every setting themselves; a developer's PODCAST_HOST_* must not leak in."""
    for name in list(os.environ):
        if name.startswith("PODCAST_HOST_") and name != "PODCAST_HOST_TEST_POSTGRES":
            monkeypatch.delenv(name)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database: a SQLite file, or a private schema in the machine's PostgreSQL."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    with postgres_schema() as url:
        yield url


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a private, empty schema in the machine's PostgreSQL, dropped afterwards."""
    schema = f"t_{secrets.token_hex(6)}"
    with _postgres_admin().begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        # application_name lets a test find (and kill) exactly this database's connections.
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        with _postgres_admin().begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@functools.cache
def _postgres_admin() -> Engine:
    """One engine per worker process for creating and dropping the tests' schemas."""
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means the same thing here
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not usable ({exc}); `make test` starts it.")
    return admin


# --- the migrated schema, made once per worker ----------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _schema_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where this worker keeps its migrated SQLite file."""
    _Schema.folder = tmp_path_factory.mktemp("schema")


class _Schema:
    """What the migrations made, kept for the rest of the run: a SQLite file, PostgreSQL's statements."""

    folder: Path | None = None
    sqlite_file: Path | None = None
    postgres_statements: list[tuple[str, Any]] | None = None

    @classmethod
    def sqlite(cls) -> Path:
        if cls.sqlite_file is None:
            assert cls.folder is not None, "the session fixture _schema_folder sets the folder"
            path = cls.folder / "migrated.sqlite3"
            migrated = Database(f"sqlite:///{path}")
            migrated.upgrade()
            with migrated.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            migrated.dispose()
            cls.sqlite_file = path
        return cls.sqlite_file

    @classmethod
    def postgres(cls) -> list[tuple[str, Any]]:
        """Every statement but the reads that the migrations ran on an empty schema, in order."""
        if cls.postgres_statements is None:
            schema = f"t_template_{secrets.token_hex(6)}"
            with _postgres_admin().begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            migrated = Database(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
            statements: list[tuple[str, Any]] = []

            def record(
                _conn: Connection,
                _cursor: DBAPICursor,
                statement: str,
                parameters: Any,
                _context: ExecutionContext | None,
                _many: bool,
            ) -> None:
                if not statement.lstrip().upper().startswith("SELECT"):
                    statements.append((statement, parameters))

            event.listen(migrated.engine, "before_cursor_execute", record)
            try:
                migrated.upgrade()
            finally:
                migrated.dispose()
                with _postgres_admin().begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            cls.postgres_statements = statements
        return cls.postgres_statements


def prepare_database(url: str) -> None:
    """Give an empty database the migrated schema the quick way: a SQLite file that does not exist yet
    becomes a copy of the migrated one, an empty PostgreSQL schema gets the migrations' statements replayed.
    A database with tables is left to the app's own `db.upgrade()`."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not Path(path).exists():
            shutil.copyfile(_Schema.sqlite(), path)
        return
    db = Database(url)
    try:
        if db.schema_is_current():
            return
        with db.engine.begin() as conn:
            tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"))
            if tables.scalar():
                return
            for statement, parameters in _Schema.postgres():
                conn.exec_driver_sql(statement, parameters)
    finally:
        db.dispose()


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
    prepare_database(settings.database_url)
    services = build_services(settings)
    services.db.upgrade()
    return services


# --- the app --------------------------------------------------------------------------------------------


@pytest.fixture
def services(tmp_path: Path, database_url: str) -> Iterator[Services]:
    """The app's services on the local store, on SQLite (and on PostgreSQL for tests marked `postgres`)."""
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
def app(services: Services) -> Flask:
    from helpers import share_compiled_templates

    return share_compiled_templates(create_app(services=services))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin_token(services: Services) -> str:
    """An admin (password "correct horse battery", its hash a quick one: browser.add_user) and an API token
    for them."""
    from browser import user_with_token

    return user_with_token(services, "admin@example.com", admin=True)


# What the audio pipeline made of an input, per worker, keyed by everything that decides its output: the
# `episode` fixture's later uses get the same bytes (the MP3 and its low-data file) and result without running
# ffmpeg again.
_pipeline_outputs: dict[tuple[bytes, str], tuple[bytes, bytes | None, Any]] = {}


def _remembering_process(process: Any) -> Any:
    import copy
    import hashlib

    def run(src: Path, dst: Path, probed: Any, settings: Any, tags: Any, *args: Any, **kwargs: Any) -> Any:
        limit = kwargs.get("max_duration_s", args[1] if len(args) > 1 else None)
        low_data = kwargs.get("low_data_dst")
        key = (
            hashlib.sha256(Path(src).read_bytes()).digest(),
            repr((probed, settings, tags, limit, low_data is not None)),
        )
        if key not in _pipeline_outputs:
            result = process(src, dst, probed, settings, tags, *args, **kwargs)
            low_bytes = Path(low_data).read_bytes() if low_data is not None else None
            _pipeline_outputs[key] = (Path(dst).read_bytes(), low_bytes, result)
        data, low_bytes, result = _pipeline_outputs[key]
        Path(dst).write_bytes(data)
        if low_data is not None and low_bytes is not None:
            Path(low_data).write_bytes(low_bytes)
        return copy.deepcopy(result)

    return run


@pytest.fixture
def episode(
    client: Any, admin_token: str, sample_mp3: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The show `daily` with one episode uploaded through the API and processed (inline in tests); the
    upload's answer. The processing job runs whole; only its ffmpeg work is done once per worker and its real
    output reused: the same input, settings and tags give the same MP3 (the pipeline has its own tests)."""
    from helpers import create_show, upload_episode

    from podcast_host import audio

    monkeypatch.setattr(audio, "process", _remembering_process(audio.process))
    create_show(client, admin_token)
    response = upload_episode(client, admin_token, "daily", sample_mp3)
    assert response.status_code == 202, response.get_json()
    return response.get_json()


# --- browsers ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def screenshots(pytestconfig: pytest.Config) -> Iterator[Any]:
    """The screenshots a browser test module takes, listed at the end of the run."""
    from browser import Screenshots

    book = Screenshots(taken=[])
    yield book
    book.report(pytestconfig)


# --- media ----------------------------------------------------------------------------------------------


# Under xdist the controller starts one SeaweedFS for every worker, in the background while they start; its
# endpoint reaches them through a file this variable names (workers inherit the controller's environment).
_SHARED_SEAWEEDFS = "TEST_SHARED_SEAWEEDFS_ENDPOINT"
_SHARED_S3_KEY = pytest.StashKey[tuple[Any, Path]]()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    from s3server import SharedSeaweedS3

    folder = Path(tempfile.mkdtemp(prefix="podcast-host-tests-s3-"))
    shared = SharedSeaweedS3(folder / "endpoint")
    shared.start_in_background(folder)
    os.environ[_SHARED_SEAWEEDFS] = str(shared.endpoint_file)
    config.stash[_SHARED_S3_KEY] = (shared, folder)


def pytest_unconfigure(config: pytest.Config) -> None:
    started = config.stash.get(_SHARED_S3_KEY, None)
    if started is not None:
        shared, folder = started
        shared.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real SeaweedFS S3 server for the whole run, on free loopback ports: the one the xdist controller
    started for all its workers, or this process's own."""
    from s3server import SeaweedS3, SharedSeaweedS3

    endpoint_file = os.environ.get(_SHARED_SEAWEEDFS)
    if endpoint_file:
        yield SharedSeaweedS3.wait(Path(endpoint_file))
        return
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
