"""Settings are checked at start-up: unknown or malformed values fail with one clear line."""

from __future__ import annotations

import multiprocessing
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from podcast_host.config import ConfigError, ensure_secret_key, load_settings


def test_defaults_live_under_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(environ={"PODCAST_HOST_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'podcast-host.sqlite3'}"
    assert settings.storage_url == (tmp_path / "media").as_uri()
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.max_upload_mb == 2048 and settings.max_duration_s == 21600
    assert settings.trusted_proxies == 0  # X-Forwarded-* headers are believed only when configured


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('public_url = "https://from-file.example"\nmax_upload_mb = 5\n')
    settings = load_settings(
        environ={"PODCAST_HOST_DATA_DIR": str(tmp_path), "PODCAST_HOST_PUBLIC_URL": "https://pods.example/"}
    )
    assert settings.public_url == "https://pods.example"
    assert settings.max_upload_mb == 5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PODCAST_HOST_PUBLIK_URL", "x", "Unknown setting PODCAST_HOST_PUBLIK_URL"),
        ("PODCAST_HOST_PUBLIC_URL", "pods.example", "must be an absolute http(s) URL"),
        ("PODCAST_HOST_MAX_UPLOAD_MB", "lots", "must be a whole number"),
        ("PODCAST_HOST_MAX_DURATION_S", "-5", "must be positive"),
        ("PODCAST_HOST_DATABASE_URL", "mysql://x", "sqlite:// or postgresql://"),
        ("PODCAST_HOST_QUEUE_URL", "amqp://x", "redis://"),
        ("PODCAST_HOST_WEBSUB_HUBS", "not a url", "must be an absolute http(s) URL"),
        ("PODCAST_HOST_TRUSTED_PROXIES", "-1", "PODCAST_HOST_TRUSTED_PROXIES must be 0 or more"),
        ("PODCAST_HOST_TRUSTED_PROXIES", "yes", "PODCAST_HOST_TRUSTED_PROXIES must be a whole number"),
        ("PODCAST_HOST_COUNT_DOWNLOADS", "maybe", "PODCAST_HOST_COUNT_DOWNLOADS must be true or false"),
        ("PODCAST_HOST_ANALYTICS_FLUSH_S", "0", "PODCAST_HOST_ANALYTICS_FLUSH_S must be positive"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(environ={"PODCAST_HOST_DATA_DIR": str(tmp_path), name: value})


def test_an_empty_setting_keeps_its_default(tmp_path: Path) -> None:
    """An empty variable (a compose file's `${QUEUE_URL:-}`) is no value for a text setting with a default."""
    names = ("DATABASE_URL", "STORAGE_URL", "MEDIA_URL", "QUEUE_URL", "SECRET_KEY")
    environ = {"PODCAST_HOST_DATA_DIR": str(tmp_path)} | {f"PODCAST_HOST_{name}": " " for name in names}
    settings = load_settings(environ=environ)
    assert settings == load_settings(environ={"PODCAST_HOST_DATA_DIR": str(tmp_path)})
    assert settings.secret_key == ""


def test_an_empty_public_url_is_refused(tmp_path: Path) -> None:
    """Left empty by mistake, it would publish feeds whose links point at the local default."""
    with pytest.raises(ConfigError, match="PODCAST_HOST_PUBLIC_URL is empty"):
        load_settings(environ={"PODCAST_HOST_DATA_DIR": str(tmp_path), "PODCAST_HOST_PUBLIC_URL": " "})


def test_unknown_key_in_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('colour = "blue"\n')
    with pytest.raises(ConfigError, match="Unknown setting 'colour'"):
        load_settings(environ={"PODCAST_HOST_DATA_DIR": str(tmp_path)})


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": "/usr/bin:/bin", "PODCAST_HOST_DATA_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", "podcast_host.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PODCAST_HOST_COLOUR": "blue"}, "Unknown setting PODCAST_HOST_COLOUR"),
        ({"PODCAST_HOST_STORAGE_URL": "ftp://files.example/x"}, "PODCAST_HOST_STORAGE_URL"),
        # Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
        ({"PODCAST_HOST_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"}, "does not answer"),
        ({"PODCAST_HOST_GEOIP_DB": "/nonexistent/countries.mmdb"}, "PODCAST_HOST_GEOIP_DB"),
    ],
)
def test_the_cli_reports_configuration_errors_in_one_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = _cli(tmp_path, "show", "list", **env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def _secret_key_of_a_new_process(data_dir: str, start: Any, keys: Any) -> None:
    start.wait(timeout=30)
    keys.put(ensure_secret_key(load_settings(environ={"PODCAST_HOST_DATA_DIR": data_dir})).secret_key)


@pytest.mark.slow
def test_processes_starting_together_share_one_secret_key(tmp_path: Path) -> None:
    """Web processes and workers started at once must all sign with the key that ends up in the file."""
    context = multiprocessing.get_context("fork")
    for round_number in range(30):
        data_dir = tmp_path / f"instance-{round_number}"
        start, keys = context.Barrier(4), context.Queue()
        processes = [
            context.Process(target=_secret_key_of_a_new_process, args=(str(data_dir), start, keys))
            for _ in range(4)
        ]
        for process in processes:
            process.start()
        found = {keys.get(timeout=30) for _ in processes}
        for process in processes:
            process.join(timeout=30)
        stored = (data_dir / "secret_key").read_text(encoding="utf-8").strip()
        assert found == {stored}, round_number
        assert len(stored) >= 48
        assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600


def test_an_empty_secret_key_file_stops_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from podcast_host import config

    monkeypatch.setattr(config, "SECRET_KEY_WAIT_S", 0.05)  # how long it waits for a writer to finish
    (tmp_path / "secret_key").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="secret_key"):
        ensure_secret_key(load_settings(environ={"PODCAST_HOST_DATA_DIR": str(tmp_path)}))
