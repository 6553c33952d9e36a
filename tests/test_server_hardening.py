"""`podcast-host serve` against hostile requests: file descriptors, stalled and abandoned downloads, request
framing and head sizes. Real sockets against a real server process (docs/deployment.md, "The web server")."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest
from conftest import prepare_database
from flask.testing import FlaskClient
from helpers import auth
from test_serve import Server

MB = 1024 * 1024
# A show's image is public: a plain file in the local store of the first show is enough.
PUBLIC_FOLDER = "/media/shows/1/image/"
_file_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module, with the show whose images the tests serve. Each test attacks it and then
    checks that it still answers; starting a server per test would cost more than the tests themselves."""
    folder = tmp_path_factory.mktemp("hardening")
    url = f"sqlite:///{folder / 'serve.sqlite3'}"
    running = Server(folder / "instance", url)
    prepare_database(url)
    running.start()
    running.cli("show", "add", "large", "--title", "Large files")
    yield running
    running.stop()


def _public_file(server: Server, size: int) -> tuple[str, bytes]:
    """A public file of `size` bytes, under a name no other test uses; its path and its first megabyte."""
    public = f"{PUBLIC_FOLDER}cover-large-{next(_file_numbers)}.jpg"
    path = Path(server.env["PODCAST_HOST_DATA_DIR"]) / "media" / public.removeprefix("/media/")
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MB)
    with path.open("wb") as sink:
        for _ in range(size // MB):
            sink.write(block)
    return public, block


def _raw(server: Server, data: bytes, within_s: float = 5.0) -> bytes:
    """Send `data` as is and return everything the server answers until it closes (or `within_s`)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=within_s) as sock:
        sock.sendall(data)
        answer = b""
        deadline = time.monotonic() + within_s
        try:
            while time.monotonic() < deadline and (piece := sock.recv(65536)):
                answer += piece
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


def _head_lines(answer: bytes) -> list[str]:
    return answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")


def _timed_get(server: Server, path: str) -> float:
    started = time.monotonic()
    status, _, _ = server.request("GET", path)
    assert status == 200, path
    return time.monotonic() - started


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


# --- multipart forms ----------------------------------------------------------------------------------


def _many_file_parts(count: int) -> tuple[bytes, str]:
    boundary = "many-parts"
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"; filename="a"\r\n\r\nA\r\n'.encode()
        for i in range(count)
    )
    return parts + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _peak_fds_during(server: Server, requests: list[tuple[str, dict[str, str]]], body: bytes) -> int:
    """Send the requests at once; the highest count of the server's open files meanwhile."""
    process = psutil.Process(server.process.pid)
    peak = [process.num_fds()]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.num_fds())
            time.sleep(0.002)

    statuses: list[int] = []

    def send(path: str, headers: dict[str, str]) -> None:
        statuses.append(server.request("POST", path, body, headers)[0])

    watcher = threading.Thread(target=watch)
    senders = [threading.Thread(target=send, args=request) for request in requests]
    watcher.start()
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=30)
    done.set()
    watcher.join()
    assert statuses and all(status in (400, 413) for status in statuses), statuses
    return peak[0]


def test_a_form_of_a_thousand_file_parts_opens_no_files(server: Server) -> None:
    server.cli("user", "add", "parts@example.com", "--admin")
    token = server.cli("token", "add", "parts@example.com").strip().splitlines()[-1]
    created = server.request(
        "POST",
        "/api/v1/shows",
        json.dumps({"slug": "parts", "title": "Parts"}),
        {**auth(token), "Content-Type": "application/json"},
    )
    assert created[0] == 201
    body, content_type = _many_file_parts(1000)
    form = {"Content-Type": content_type}
    before = psutil.Process(server.process.pid).num_fds()
    requests = [("/login", form)] * 3 + [("/api/v1/shows/parts/episodes", {**form, **auth(token)})] * 2
    peak = _peak_fds_during(server, requests, body)
    # Five connections and a few files of the upload route at most, never a file per part.
    assert peak - before < 40, (before, peak)
    assert psutil.Process(server.process.pid).num_fds() - before < 10


# --- downloads ----------------------------------------------------------------------------------------


def test_media_downloads_keep_their_bytes_ranges_and_head(server: Server) -> None:
    public_file, block = _public_file(server, 3 * MB)
    status, headers, data = server.request("GET", public_file)
    assert status == 200 and data == block * 3
    assert int(headers["Content-Length"]) == 3 * MB
    status, headers, data = server.request("GET", public_file, headers={"Range": f"bytes={MB - 5}-{MB + 4}"})
    assert status == 206 and data == block[-5:] + block[:5]
    assert headers["Content-Range"] == f"bytes {MB - 5}-{MB + 4}/{3 * MB}"
    status, headers, data = server.request("GET", public_file, headers={"Range": f"bytes=-{MB + 1}"})
    assert status == 206 and data == block[-1:] + block
    status, headers, data = server.request("HEAD", public_file)
    assert status == 200 and data == b"" and int(headers["Content-Length"]) == 3 * MB


def _stalled_download(server: Server, public_file: str, extra: str = "") -> socket.socket:
    """A GET of a public file whose answer is never read, with a small receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(f"GET {public_file} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
    return sock


def test_stalled_downloads_keep_no_thread(server: Server) -> None:
    """More stalled readers than the app has threads, full answers and byte ranges alike."""
    public_file, _ = _public_file(server, 8 * MB)
    with ExitStack() as held:
        for index in range(10):
            extra = "Range: bytes=100-\r\n" if index % 2 else ""
            held.callback(_stalled_download(server, public_file, extra).close)
        time.sleep(1)
        waits = [_timed_get(server, path) for path in ("/healthz", "/api/v1/openapi.json", "/healthz")]
    assert max(waits) < 2.0, waits


@pytest.mark.slow
def test_an_abandoned_download_stops_reading_the_file(server: Server) -> None:
    public_file, _ = _public_file(server, 128 * MB)
    pid = server.process.pid
    before = _cpu_seconds(pid)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("GET", public_file)
    response = conn.getresponse()
    while response.read(MB):
        pass
    conn.close()
    full = _cpu_seconds(pid) - before

    before = _cpu_seconds(pid)
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(f"GET {public_file} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
    time.sleep(3)
    abandoned = _cpu_seconds(pid) - before
    assert abandoned < max(0.5 * full, 0.2), (abandoned, full)
    assert _timed_get(server, "/healthz") < 2.0


# --- framing and heads --------------------------------------------------------------------------------


def test_a_request_with_both_length_and_chunked_framing_is_refused(server: Server) -> None:
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    answer = _raw(
        server,
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
    )
    lines = _head_lines(answer)
    assert lines[0].startswith("HTTP/1.1 400"), answer[:300]
    assert "connection: close" in [line.lower() for line in lines]
    assert answer.count(b"HTTP/1.1 ") == 1, answer


LARGE_HEAD = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + f"X-Big: {'a' * 8000}\r\n" * 5


@pytest.mark.parametrize(
    ("head", "status", "ending"),
    [
        (f"GET /{'a' * 5000} HTTP/1.1\r\nHost: 127.0.0.1\r\n", 414, "\r\n"),
        (
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"X-{i}: a\r\n" for i in range(100)),
            431,
            "\r\n",
        ),
        (f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'a' * 9000}\r\n", 431, "\r\n"),
        (LARGE_HEAD, 431, "\r\n"),
        (LARGE_HEAD, 431, ""),
    ],
    ids=["long-request-line", "many-fields", "long-field", "large-head", "large-head-unfinished"],
)
def test_oversized_request_heads_are_refused(server: Server, head: str, status: int, ending: str) -> None:
    """Whether the head arrives whole or keeps growing without its blank line."""
    answer = _raw(server, f"{head}{ending}".encode())
    lines = _head_lines(answer)
    assert lines[0].startswith(f"HTTP/1.1 {status}"), answer[:300]
    assert "connection: close" in [line.lower() for line in lines]
    assert _timed_get(server, "/healthz") < 2.0


def test_every_answer_carries_one_date(server: Server) -> None:
    public_file, _ = _public_file(server, MB)
    for path in ("/healthz", public_file):
        answer = _raw(server, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        dates = [line for line in _head_lines(answer) if line.lower().startswith("date:")]
        assert len(dates) == 1, (path, dates)


# --- app answers --------------------------------------------------------------------------------------


def test_deeply_nested_json_is_a_bad_request(client: FlaskClient, admin_token: str) -> None:
    response = client.post(
        "/api/v1/shows",
        data="[" * 100_000,
        headers={**auth(admin_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_a_rewritten_redirect_names_no_other_host_in_its_body(client: FlaskClient, admin_token: str) -> None:
    from helpers import create_show

    create_show(client, admin_token, slug="alpha")
    response = client.get("/admin/shows/alpha", headers={"Host": "evil.example"})
    assert response.status_code in (301, 308), response.status_code
    assert response.headers["Location"].startswith("http://127.0.0.1:8000/")
    assert b"evil.example" not in response.get_data()
