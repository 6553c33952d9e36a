"""`podcast-host serve` under slow and hostile clients: real sockets against a real server process."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import cast

import psutil
import pytest
from conftest import prepare_database
from flask.testing import FlaskClient
from test_serve import Server

MB = 1024 * 1024


def _sqlite_server(tmp_path: Path, **run_server_options: float) -> Server:
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    running = Server(tmp_path / "instance", url)
    prepare_database(url)
    running.start(**run_server_options)
    return running


# Each server below is shared by the module's tests: every test leaves it with its connections closed and
# checks that it still answers, and starting a server costs more than most of these tests.


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server exactly as `podcast-host serve` runs it."""
    running = _sqlite_server(tmp_path_factory.mktemp("serve"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def impatient_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same server with time-outs of one second, so that a test sees them expire."""
    running = _sqlite_server(tmp_path_factory.mktemp("impatient"), header_timeout=1.0, body_timeout=1.0)
    yield running
    running.stop()


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _slowloris(server: Server) -> socket.socket:
    """A request line cut short, the rest never sent."""
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Waiting: ")
    return sock


def _stalled_body(server: Server, path: str, content_type: str) -> socket.socket:
    """Headers announcing a body of a few kB, then ten bytes of it, then silence."""
    sock = _connect(server)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        "Content-Length: 4000\r\n\r\nemail=a%40".encode()
    )
    return sock


def _timed_healthz(server: Server) -> float:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()
    return time.monotonic() - started


def _tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """True when the server ends the connection (EOF or reset) before `within_s`, whatever it says first."""
    sock.settimeout(within_s)
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def test_slow_clients_do_not_keep_others_waiting(server: Server) -> None:
    routes = [
        ("/login", "application/x-www-form-urlencoded"),
        ("/api/v1/shows", "application/json"),
        ("/api/v1/shows/any/episodes", "multipart/form-data; boundary=x"),
        ("/admin/shows/any/cover", "multipart/form-data; boundary=x"),
        ("/admin/preview", "application/x-www-form-urlencoded"),
    ]
    with ExitStack() as held:
        for _ in range(20):
            held.callback(_slowloris(server).close)
        for index in range(10):
            held.callback(_stalled_body(server, *routes[index % len(routes)]).close)
        waits = [_timed_healthz(server) for _ in range(3)]
    assert max(waits) < 2.0, waits


def test_stalled_connections_are_closed_by_the_server(impatient_server: Server) -> None:
    quiet = _connect(impatient_server)
    half_request = _slowloris(impatient_server)
    half_body = _stalled_body(impatient_server, "/login", "application/x-www-form-urlencoded")
    half_upload = _stalled_body(impatient_server, "/api/v1/shows/any/episodes", "multipart/form-data")
    try:
        for sock in (quiet, half_request, half_body, half_upload):
            assert _closed_by_server(sock, within_s=6)
    finally:
        for sock in (quiet, half_request, half_body, half_upload):
            sock.close()
    assert _timed_healthz(impatient_server) < 2.0


def test_a_trickling_request_line_is_closed_by_the_server(impatient_server: Server) -> None:
    """A byte every half second keeps a connection busy but never idle: the deadline is for the whole head."""
    sock = _connect(impatient_server)
    try:
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 20:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.5)
        assert closed or _closed_by_server(sock, within_s=1)
    finally:
        sock.close()


def _send_until_refused(sock: socket.socket, head: bytes, chunks: Iterator[bytes]) -> None:
    """Send a head and as much of a body as the server takes; it may stop reading and close."""
    try:
        sock.sendall(head)
        for chunk in chunks:
            sock.sendall(chunk)
    except OSError:
        pass


def _response_of(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, dict(response.getheaders()), response.read()


BOUNDARY = "podcast-host-test-boundary"
FORMS = {
    "urlencoded": ("application/x-www-form-urlencoded", b"email=", b""),
    "multipart": (
        f"multipart/form-data; boundary={BOUNDARY}",
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="email"; filename="e.bin"\r\n\r\n'.encode(),
        f"\r\n--{BOUNDARY}--\r\n".encode(),
    ),
}


def _form_chunks(prefix: bytes, suffix: bytes, total: int) -> Iterator[bytes]:
    """`total` bytes of one form field, a megabyte at a time, never whole in the test's memory."""
    yield prefix
    for _ in range(total // MB):
        yield b"a" * MB
    yield suffix


def test_a_pipelined_request_still_receiving_its_body_keeps_its_connection(impatient_server: Server) -> None:
    body = b"email=a%40example.com&password=not-the-one"
    sock = _connect(impatient_server)
    # Two requests in one write: the second's head has arrived, its body then trickles in past the head
    # time-out, each piece well within the body time-out.
    sock.sendall(
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:10]
    )
    for start in range(10, len(body), 10):
        time.sleep(0.4)
        sock.sendall(body[start : start + 10])
    received = b""
    sock.settimeout(5)
    while received.count(b"HTTP/1.1 ") < 2:
        piece = sock.recv(65536)
        if not piece:
            break
        received += piece
    sock.close()
    assert received.count(b"HTTP/1.1 ") == 2, received[:300]


def test_a_header_name_with_an_underscore_does_not_reach_the_app() -> None:
    from podcast_host.server.body import RequestBody
    from podcast_host.server.protocol import wsgi_environ

    scope = {
        "method": "GET",
        "path": "/",
        "query_string": b"",
        "http_version": "1.1",
        "headers": [(b"x-forwarded-for", b"10.0.0.1"), (b"x_forwarded_for", b"6.6.6.6")],
    }
    # werkzeug's key for both spellings is the same: `X_Forwarded_For` would extend the real header.
    environ = wsgi_environ(scope, body=cast(RequestBody, None))  # no body is read
    assert environ["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_huge_login_form_is_refused_without_growing_the_server(
    server: Server, form: str, framing: str
) -> None:
    content_type, prefix, suffix = FORMS[form]
    size = 100 * MB
    before = _tree_rss(server.process.pid)
    sock = _connect(server)
    started = time.monotonic()
    head = f"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
    if framing == "chunked":
        frames = (b"%x\r\n%s\r\n" % (len(c), c) for c in _form_chunks(prefix, suffix, size))
        _send_until_refused(sock, f"{head}Transfer-Encoding: chunked\r\n\r\n".encode(), frames)
    else:
        head += f"Content-Length: {len(prefix) + size + len(suffix)}\r\n\r\n"
        _send_until_refused(sock, head.encode(), _form_chunks(prefix, suffix, size))
    status, _, body = _response_of(sock)
    sock.close()
    assert status == 413
    assert json.loads(body)["error"]["code"] == "too_large"
    assert time.monotonic() - started < 10
    assert _tree_rss(server.process.pid) - before < 8 * MB
    assert _timed_healthz(server) < 2.0


def test_the_upload_routes_named_for_the_big_limit_exist(client: FlaskClient) -> None:
    from podcast_host.web import UPLOAD_ENDPOINTS

    assert not UPLOAD_ENDPOINTS - set(client.application.view_functions)
