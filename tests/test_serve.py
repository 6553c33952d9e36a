"""`podcast-host serve` as a newcomer runs it: a real server process, real HTTP, worker threads."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import prepare_database

from podcast_host.cli import main


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, database_url: str, **env: str) -> None:
        self.port = _free_port()
        # Only the settings given here: a server shared by a module is made before the per-test fixture
        # that clears a developer's PODCAST_HOST_* variables has run.
        inherited = {
            name: value for name, value in os.environ.items() if not name.startswith("PODCAST_HOST_")
        }
        self.env = {
            **inherited,
            "PODCAST_HOST_DATA_DIR": str(data_dir),
            "PODCAST_HOST_DATABASE_URL": database_url,
            "PODCAST_HOST_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            **env,
        }
        self.log = data_dir / "serve.log"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """A `podcast-host` command on this server's instance, as an operator types it beside the running
        server. The command runs in this process with the server's environment: the same code and settings
        as a new `podcast-host` process, without a second of interpreter start-up per command."""
        result = CliRunner().invoke(main, list(args), input=stdin, env=self.env)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    def start(self, **run_server_options: float) -> None:
        """`podcast-host serve`; with options, the same server through run_server (e.g. short time-outs)."""
        command = [sys.executable, "-m", "podcast_host.cli", "serve", "--port", str(self.port)]
        if run_server_options:
            call = f"run_server('127.0.0.1', {self.port}, **{run_server_options!r})"
            command = [sys.executable, "-c", f"from podcast_host.server import run_server; {call}"]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdout=sink,
                stderr=sink,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"serve did not come up:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


SERVE_ENV = {"PODCAST_HOST_MAX_UPLOAD_MB": "5"}


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    """A server of its own, on this test's database (SQLite, and PostgreSQL for tests marked `postgres`)."""
    running = Server(tmp_path / "instance", database_url, **SERVE_ENV)
    prepare_database(database_url)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server on SQLite for the tests that only send requests and leave nothing another one reads:
    starting a server costs seconds, far more than these tests themselves."""
    folder = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{folder / 'serve.sqlite3'}"
    running = Server(folder / "instance", url, **SERVE_ENV)
    prepare_database(url)
    running.start()
    yield running
    running.stop()


def _multipart(fields: dict[str, str], audio: bytes, filename: str) -> tuple[bytes, str]:
    boundary = "podcast-host-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="{filename}"\r\n'
        "Content-Type: audio/mpeg\r\n\r\n".encode()
        + audio
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.mark.postgres
def test_serve_processes_uploads_in_worker_threads(server: Server, sample_mp3: Path) -> None:
    server.cli("user", "add", "serve@example.com", "--admin")
    token = server.cli("token", "add", "serve@example.com").strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    status, _, _ = server.request(
        "POST",
        "/api/v1/shows",
        json.dumps({"slug": "live", "title": "Live"}),
        {**auth, "Content-Type": "application/json"},
    )
    assert status == 201
    body, content_type = _multipart({"title": "Over the wire"}, sample_mp3.read_bytes(), "wire.mp3")
    status, _, raw = server.request(
        "POST", "/api/v1/shows/live/episodes", body, {**auth, "Content-Type": content_type}
    )
    assert status == 202, raw
    episode = json.loads(raw)
    deadline = time.monotonic() + 60
    while episode["status"] == "processing":
        assert time.monotonic() < deadline, episode
        time.sleep(0.2)
        episode = json.loads(server.request("GET", f"/api/v1/episodes/{episode['id']}", headers=auth)[2])
    assert episode["status"] == "published", episode["error"]

    path = episode["enclosure"]["url"].removeprefix(f"http://127.0.0.1:{server.port}")
    status, headers, data = server.request("GET", path, headers={"Range": "bytes=0-9"})
    assert status == 206 and len(data) == 10
    assert headers["Content-Range"] == f"bytes 0-9/{episode['enclosure']['length']}"
    status, headers, _ = server.request("HEAD", path)
    assert status == 200 and int(headers["Content-Length"]) == episode["enclosure"]["length"]


def test_an_oversize_upload_gets_a_json_413_before_its_body_is_read(shared_server: Server) -> None:
    shared_server.cli("user", "add", "big@example.com", "--admin")
    token = shared_server.cli("token", "add", "big@example.com").strip().splitlines()[-1]
    conn = http.client.HTTPConnection("127.0.0.1", shared_server.port, timeout=30)
    # Announce 500 MB but send only the headers: the answer must come without waiting for the body.
    conn.putrequest("POST", "/api/v1/shows/any/episodes")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(500 * 1024 * 1024))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "too_large"
    conn.close()


@pytest.mark.parametrize("audio_kb", [200, 3000])
def test_a_refused_upload_leaves_its_connection_usable(shared_server: Server, audio_kb: int) -> None:
    """A pooled client (one connection, like requests.Session or a browser) goes on after a 401 upload."""
    body, content_type = _multipart({"title": "No token"}, b"\xff" * (audio_kb * 1024), "x.mp3")
    conn = http.client.HTTPConnection("127.0.0.1", shared_server.port, timeout=30)
    try:
        conn.request("POST", "/api/v1/shows/any/episodes", body, {"Content-Type": content_type})
        refused = conn.getresponse()
        assert refused.status == 401
        refused.read()
        assert refused.getheader("Connection", "").lower() != "close"
        first_socket = conn.sock
        for _ in range(2):
            conn.request("GET", "/healthz")
            answer = conn.getresponse()
            assert answer.status == 200, answer.read()
            answer.read()
        assert conn.sock is first_socket
    finally:
        conn.close()


def test_a_large_unread_body_closes_its_connection_with_the_answer(shared_server: Server) -> None:
    """Reading 400 MB only to drop them costs more than a new connection; the answer says so."""
    conn = http.client.HTTPConnection("127.0.0.1", shared_server.port, timeout=30)
    conn.putrequest("POST", "/api/v1/shows/any/episodes")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(400 * 1024 * 1024))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert response.getheader("Connection") == "close"
    conn.close()


@pytest.mark.parametrize("path", ["/alpha", "/alpha/episode-one", "/admin/shows/alpha"])
def test_redirects_name_the_public_url_whatever_host_the_request_names(
    shared_server: Server, path: str
) -> None:
    server = shared_server
    status, headers, _ = server.request("GET", path, headers={"Host": "evil.example"})
    assert status in (301, 302, 303, 307, 308)
    location = headers["Location"]
    assert location.startswith(f"http://127.0.0.1:{server.port}/") or location.startswith("/"), location
    assert "evil.example" not in location
