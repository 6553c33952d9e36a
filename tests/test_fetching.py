"""Fetching other servers (docs/architecture.md, "Fetching other servers"): only public addresses, checked
after DNS and after every redirect, and every fetch bounded in time and bytes.

The outside internet is faked without mocking anything: a resolver passed in makes names such as
public.example answer with a public-looking address, and a transport passed in routes that address to a real
HTTP server on a free loopback port. That transport refuses every other destination, so no request can leave
the machine even if a check were broken."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from podcast_host import fetching
from podcast_host.config import ConfigError, Settings, load_settings
from podcast_host.errors import Invalid
from podcast_host.fetching import FetchFailed, FetchRefused, FetchTooLarge, Timeouts

# Global addresses (is_global is true for them), never contacted: the transport routes them to local servers.
PUBLIC_ADDRESS = "93.184.216.34"
OTHER_PUBLIC_ADDRESS = "151.101.1.1"
PUBLIC = Settings()
PRIVATE_ALLOWED = Settings(allow_private_urls=True)
FEED = b"<rss version='2.0'><channel><title>Elsewhere</title></channel></rss>"
AUDIO = bytes(range(256)) * 400  # 100 KiB
# Made once: each context reads the whole CA bundle.
CLIENT_TLS = ssl.create_default_context()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Site:
    """A real web server on a free loopback port; what it answers depends on the path (see `_answer`), and
    every request it receives is recorded."""

    tls: ssl.SSLContext | None = None
    requests: list[Seen] = field(default_factory=list)
    # Set at the end of a test: handlers that stall or trickle stop at once.
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def __enter__(self) -> Site:
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.server.shutdown()
        self.server.server_close()


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self._serve(b"")

        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            self._serve(self.rfile.read(int(self.headers.get("Content-Length", 0))))

        def _serve(self, body: bytes) -> None:
            site.requests.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            # The client may hang up (a refusal, a time-out): that is what the test is about.
            with contextlib.suppress(OSError):
                _answer(self, site)

        def log_message(self, *args: Any) -> None:
            """Quiet: the tests read site.requests instead."""

    return Handler


def _answer(handler: BaseHTTPRequestHandler, site: Site) -> None:
    """/feed, /audio: a body; /echo: what the request carried; /status/N; /redirect/N?to=URL; /hops/N: N
    redirects before a body; /big, /big-unannounced: 10,000 bytes with and without Content-Length;
    /stall: headers, then nothing; /trickle-head, /trickle-body: a byte every 50 ms, for ever."""
    parts = urllib.parse.urlsplit(handler.path)
    _, route, *rest = parts.path.split("/") + [""]
    if route == "feed":
        _send(handler, 200, FEED, "application/rss+xml")
    elif route == "audio":
        _send(handler, 200, AUDIO, "audio/mpeg")
    elif route == "echo":
        _send(handler, 200, f"{handler.command} {handler.headers['Host']}".encode(), "text/plain")
    elif route == "status":
        _send(handler, int(rest[0]), b"", "text/plain")
    elif route == "redirect":
        _redirect(handler, int(rest[0]), dict(urllib.parse.parse_qsl(parts.query))["to"])
    elif route == "hops":
        left = int(rest[0])
        _redirect(handler, 302, f"/hops/{left - 1}") if left else _send(handler, 200, FEED, "text/xml")
    elif route == "gzip":
        # 1 MiB of zeros in 1 KiB: counted after decoding, it would pass a 100 KB limit once it had grown.
        import gzip

        handler.send_response(200)
        handler.send_header("Content-Encoding", "gzip")
        body = gzip.compress(b"\0" * 2**20)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    elif route == "big":
        _send(handler, 200, b"x" * 10_000, "text/xml")
    elif route == "big-unannounced":
        # HTTP/1.0 without Content-Length: the body ends when the connection does.
        handler.send_response(200)
        handler.end_headers()
        for _ in range(10):
            handler.wfile.write(b"x" * 1000)
    else:
        _stall(handler, route, site.done)


def _stall(handler: BaseHTTPRequestHandler, route: str, done: threading.Event) -> None:
    out = handler.wfile
    if route == "stall":
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        out.flush()
        done.wait(10)
    elif route == "trickle-head":
        out.write(b"HTTP/1.0 200 OK\r\n")
        while not done.wait(0.05):
            out.write(b"X-Slow: a\r\n")
            out.flush()
    elif route == "trickle-body":
        handler.send_response(200)
        handler.end_headers()
        while not done.wait(0.05):
            out.write(b"x")
            out.flush()


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _redirect(handler: BaseHTTPRequestHandler, status: int, location: str) -> None:
    handler.send_response(status)
    handler.send_header("Location", location)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


class LeftTheMachine(Exception):
    """A request was about to go somewhere the test did not route: a check that should have refused failed."""


class Routing(httpx.BaseTransport):
    """An httpx transport that delivers requests for (address, port) to a local server's port, and refuses
    every other destination. The request keeps its Host header and its TLS server name."""

    def __init__(self, routes: dict[tuple[str, int], int], tls: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self.inner = httpx.HTTPTransport(verify=tls or CLIENT_TLS, retries=0)
        self.delivered: list[tuple[str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        destination = (request.url.host, request.url.port or {"http": 80, "https": 443}[request.url.scheme])
        if destination not in self.routes:
            raise LeftTheMachine(f"a request for {destination} was not routed")
        self.delivered.append(destination)
        request.url = request.url.copy_with(host="127.0.0.1", port=self.routes[destination])
        return self.inner.handle_request(request)

    def close(self) -> None:
        """Kept open across the fetches of a test; the fixture closes it."""

    def shut(self) -> None:
        self.inner.close()


class FakeDNS:
    """A resolver passed to the fetch: names the test chose, and nothing else."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown test name")
        return self.answers[host]


@pytest.fixture
def site() -> Iterator[Site]:
    with Site() as running:
        yield running


@pytest.fixture
def routing(site: Site) -> Iterator[Routing]:
    """public.example (port 80) is served by `site`, and so is 127.0.0.1 on the site's own port (reached only
    when private addresses are allowed)."""
    transport = Routing({(PUBLIC_ADDRESS, 80): site.port, ("127.0.0.1", site.port): site.port})
    yield transport
    transport.shut()


@pytest.fixture
def dns() -> FakeDNS:
    return FakeDNS(
        {
            "public.example": [PUBLIC_ADDRESS],
            "mixed.example": [PUBLIC_ADDRESS, "10.0.0.1"],
            "inside.example": ["127.0.0.1"],
        }
    )


def get(url: str, routing: Routing, dns: FakeDNS, settings: Settings = PUBLIC, **options: Any) -> Any:
    return fetching.fetch_bytes(
        url,
        settings=settings,
        max_bytes=options.pop("max_bytes", 1 << 20),
        resolve=dns,
        transport=routing,
        **options,
    )


# --- what may be fetched ---------------------------------------------------------------------------------


def test_a_public_host_is_fetched_with_its_name_and_our_user_agent(
    site: Site, routing: Routing, dns: FakeDNS
) -> None:
    fetched = get("http://public.example/feed", routing, dns, accept="application/rss+xml")
    assert fetched.body == FEED
    assert (fetched.status, fetched.content_type) == (200, "application/rss+xml")
    assert fetched.final_url == "http://public.example/feed"
    [seen] = site.requests
    assert seen.headers["Host"] == "public.example"
    assert seen.headers["Accept"] == "application/rss+xml"
    assert seen.headers["User-Agent"].startswith("podcast-host/")
    assert seen.headers["User-Agent"].endswith(f"(+{PUBLIC.public_url})")
    assert routing.delivered == [(PUBLIC_ADDRESS, 80)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/feed", "127.0.0.1 is a loopback address; refused."),
        ("http://[::1]:{port}/feed", "::1 is a loopback address; refused."),
        ("http://10.0.0.1/feed", "10.0.0.1 is a private address; refused."),
        ("http://192.168.1.1/feed", "192.168.1.1 is a private address; refused."),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address; refused."),
        ("http://100.64.0.1/feed", "100.64.0.1 is a carrier-grade NAT address; refused."),
        ("http://0.0.0.0:{port}/feed", "0.0.0.0 is an unspecified address; refused."),
        ("http://[::ffff:127.0.0.1]:{port}/feed", "::ffff:127.0.0.1 is a loopback address; refused."),
        ("http://[fc00::1]/feed", "fc00::1 is a private address; refused."),
        ("http://[fe80::1]/feed", "fe80::1 is a link-local address; refused."),
        ("http://224.0.0.1/feed", "224.0.0.1 is a multicast address; refused."),
        ("http://240.0.0.1/feed", "240.0.0.1 is a reserved address; refused."),
        ("http://[fec0::1]/feed", "fec0::1 is a reserved address; refused."),
        ("http://192.0.0.1/feed", "192.0.0.1 is a reserved address; refused."),
        ("http://inside.example/feed", "inside.example resolves to 127.0.0.1, a loopback address; refused."),
    ],
)
def test_addresses_that_are_not_public_are_refused(
    url: str, reason: str, site: Site, routing: Routing, dns: FakeDNS
) -> None:
    with pytest.raises(FetchRefused) as refused:
        get(url.format(port=site.port), routing, dns)
    assert str(refused.value) == reason
    assert isinstance(refused.value, Invalid)
    assert site.requests == [] and routing.delivered == []


def test_a_name_the_system_resolves_to_loopback_is_refused(site: Site, routing: Routing) -> None:
    # The real resolver: localhost is answered by the machine itself.
    with pytest.raises(FetchRefused, match=r"^localhost resolves to .+, a loopback address; refused\.$"):
        fetching.fetch_bytes(
            f"http://localhost:{site.port}/feed", settings=PUBLIC, max_bytes=1000, transport=routing
        )
    # A number that the resolver reads as an IPv4 address (127.0.0.1) is checked after resolution too.
    with pytest.raises(FetchRefused, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        fetching.fetch_bytes(
            f"http://2130706433:{site.port}/", settings=PUBLIC, max_bytes=1000, transport=routing
        )
    assert site.requests == []


def test_one_private_address_among_the_answers_refuses_the_host(
    site: Site, routing: Routing, dns: FakeDNS
) -> None:
    with pytest.raises(FetchRefused) as refused:
        get("http://mixed.example/feed", routing, dns)
    assert str(refused.value) == "mixed.example resolves to 10.0.0.1, a private address; refused."
    assert site.requests == []


def test_the_request_goes_to_the_address_that_was_checked(site: Site, routing: Routing) -> None:
    """DNS rebinding: a name that answers a public address to the check and a private one a moment later
    must not reach the private one. The name is resolved once, and that address is the one connected to."""
    answers = iter([[PUBLIC_ADDRESS], ["127.0.0.1"]])
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    fetched = fetching.fetch_bytes(
        "http://rebind.example/echo", settings=PUBLIC, max_bytes=1000, resolve=rebinding, transport=routing
    )
    assert fetched.body == b"GET rebind.example"
    assert asked == ["rebind.example"]
    assert routing.delivered == [(PUBLIC_ADDRESS, 80)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://public.example/feed.xml", "Only http and https URLs can be fetched, not ftp:."),
        ("file:///etc/passwd", "Only http and https URLs can be fetched, not file:."),
        ("/feed.xml", "Only http and https URLs can be fetched, not a relative URL."),
        (
            "http://user:secret@public.example/feed",
            "The URL for public.example carries a user name or password",
        ),
        ("https://token@public.example/feed", "The URL for public.example carries a user name or password"),
    ],
)
def test_other_schemes_and_credentials_are_refused(
    url: str, reason: str, site: Site, routing: Routing, dns: FakeDNS
) -> None:
    with pytest.raises(FetchRefused) as refused:
        get(url, routing, dns)
    assert str(refused.value).startswith(reason)
    assert "secret" not in str(refused.value)
    assert dns.asked == [] and site.requests == []


def test_a_port_that_cannot_exist_is_refused(routing: Routing, dns: FakeDNS) -> None:
    with pytest.raises(
        FetchRefused, match=r"^The URL for public\.example names port 99999, which does not exist"
    ):
        get("http://public.example:99999/feed", routing, dns)


def test_an_unknown_name_fails_in_one_sentence(routing: Routing, dns: FakeDNS) -> None:
    with pytest.raises(FetchFailed, match=r"^nowhere\.example could not be found \(no DNS answer\)\.$"):
        get("http://nowhere.example/feed", routing, dns)


def test_allow_private_urls_lets_loopback_through(site: Site, routing: Routing) -> None:
    # The production transport: an address in the URL is all there is to resolve, and it is this machine's.
    fetched = fetching.fetch_bytes(
        f"http://127.0.0.1:{site.port}/echo", settings=PRIVATE_ALLOWED, max_bytes=1000
    )
    assert fetched.body == f"GET 127.0.0.1:{site.port}".encode()
    # Schemes and credentials stay refused.
    with pytest.raises(FetchRefused, match="carries a user name or password"):
        fetching.fetch_bytes(
            f"http://a:b@127.0.0.1:{site.port}/", settings=PRIVATE_ALLOWED, max_bytes=1000, transport=routing
        )


def test_allow_private_urls_is_read_like_the_other_switches(tmp_path: Path) -> None:
    data_dir = {"PODCAST_HOST_DATA_DIR": str(tmp_path)}
    assert load_settings(environ=data_dir).allow_private_urls is False
    assert load_settings(environ={**data_dir, "PODCAST_HOST_ALLOW_PRIVATE_URLS": "true"}).allow_private_urls
    with pytest.raises(ConfigError, match="PODCAST_HOST_ALLOW_PRIVATE_URLS must be true or false"):
        load_settings(environ={**data_dir, "PODCAST_HOST_ALLOW_PRIVATE_URLS": "maybe"})


# --- redirects -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_loopback_is_refused(status: int, site: Site, routing: Routing, dns: FakeDNS) -> None:
    target = urllib.parse.quote(f"http://127.0.0.1:{site.port}/feed", safe="")
    with pytest.raises(FetchRefused, match=r"^127\.0\.0\.1 is a loopback address; refused\.$"):
        get(f"http://public.example/redirect/{status}?to={target}", routing, dns)
    assert site.paths() == [f"/redirect/{status}?to={target}"]


def test_a_redirect_to_a_name_resolving_to_a_private_address_is_refused(
    site: Site, routing: Routing, dns: FakeDNS
) -> None:
    with pytest.raises(FetchRefused, match=r"^inside\.example resolves to 127\.0\.0\.1"):
        get("http://public.example/redirect/302?to=http://inside.example/feed", routing, dns)
    with pytest.raises(FetchRefused, match="not file:"):
        get("http://public.example/redirect/302?to=file:///etc/passwd", routing, dns)
    assert len(site.requests) == 2


def test_a_redirect_to_something_that_is_no_url_fails(site: Site, routing: Routing, dns: FakeDNS) -> None:
    with pytest.raises(
        FetchFailed, match=r"^The connection to public\.example broke off or its answer was not valid"
    ):
        get("http://public.example/redirect/302?to=http://[zz]/", routing, dns)


def test_a_host_name_idna_cannot_read_is_refused_not_raised(
    site: Site, routing: Routing, dns: FakeDNS
) -> None:
    with pytest.raises(FetchRefused, match="not a valid name"):
        get("http://xn--/episode.mp3", routing, dns)
    with pytest.raises(FetchFailed, match="not valid"):
        get("http://public.example/redirect/302?to=http://xn--/x", routing, dns)
    assert len(site.requests) == 1


def test_a_compressed_body_is_refused_before_it_is_decoded(routing: Routing, dns: FakeDNS) -> None:
    with pytest.raises(FetchFailed, match=r"^public\.example sent a compressed body \(gzip\)"):
        get("http://public.example/gzip", routing, dns, max_bytes=100_000)


def test_redirects_are_followed_five_times_and_no_more(site: Site, routing: Routing, dns: FakeDNS) -> None:
    fetched = get("http://public.example/hops/5", routing, dns)
    assert fetched.body == FEED and fetched.final_url == "http://public.example/hops/0"
    site.requests.clear()
    with pytest.raises(FetchFailed, match=r"^public\.example redirected more than 5 times; gave up\.$"):
        get("http://public.example/hops/6", routing, dns)
    assert site.paths() == [f"/hops/{n}" for n in range(6, 0, -1)]


def test_a_redirect_to_another_public_host_is_followed_with_that_host_name(
    site: Site, routing: Routing, dns: FakeDNS
) -> None:
    dns.answers["cdn.example"] = [OTHER_PUBLIC_ADDRESS]
    routing.routes[(OTHER_PUBLIC_ADDRESS, 8443)] = site.port
    fetched = get("http://public.example/redirect/301?to=http://cdn.example:8443/echo", routing, dns)
    assert fetched.body == b"GET cdn.example:8443"
    assert fetched.final_url == "http://cdn.example:8443/echo"
    assert routing.delivered == [(PUBLIC_ADDRESS, 80), (OTHER_PUBLIC_ADDRESS, 8443)]


# --- statuses, sizes and time ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410, 500, 503])
def test_an_answer_other_than_2xx_fails_with_its_status(status: int, routing: Routing, dns: FakeDNS) -> None:
    with pytest.raises(FetchFailed) as failed:
        get(f"http://public.example/status/{status}", routing, dns)
    assert failed.value.status == status
    assert str(failed.value).startswith(f"public.example answered {status} ")


def test_a_body_announced_larger_than_the_limit_is_refused_unread(routing: Routing, dns: FakeDNS) -> None:
    with pytest.raises(FetchTooLarge) as refused:
        get("http://public.example/big", routing, dns, max_bytes=9_999)
    assert str(refused.value) == "public.example announced 10000 bytes, more than the 9999 allowed."
    assert get("http://public.example/big", routing, dns, max_bytes=10_000).body == b"x" * 10_000


def test_a_body_without_length_is_cut_at_the_limit(routing: Routing, dns: FakeDNS) -> None:
    with pytest.raises(FetchTooLarge, match="sent more than the 4000 bytes allowed"):
        get("http://public.example/big-unannounced", routing, dns, max_bytes=4000)
    assert len(get("http://public.example/big-unannounced", routing, dns, max_bytes=10_000).body) == 10_000


def test_a_server_that_stops_sending_times_out(routing: Routing, dns: FakeDNS) -> None:
    started = time.monotonic()
    with pytest.raises(
        FetchFailed, match=r"^public\.example stopped answering for more than 0\.3 s; gave up\.$"
    ):
        get(
            "http://public.example/stall", routing, dns, timeouts=Timeouts(connect_s=1, read_s=0.3, total_s=5)
        )
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("path", ["/trickle-head", "/trickle-body"])
def test_a_server_that_trickles_is_stopped_at_the_deadline(path: str, routing: Routing, dns: FakeDNS) -> None:
    """A byte every 50 ms never trips the time-out between bytes; the whole fetch's deadline stops it, also
    where a cut connection would otherwise look like the end of the body."""
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"^public\.example did not finish answering within 0\.5 s"):
        get(
            f"http://public.example{path}",
            routing,
            dns,
            timeouts=Timeouts(connect_s=1, read_s=1, total_s=0.5),
        )
    assert time.monotonic() - started < 2


# --- downloads and forms ---------------------------------------------------------------------------------


def test_a_download_streams_to_the_file(tmp_path: Path, routing: Routing, dns: FakeDNS) -> None:
    dest = tmp_path / "episode.mp3"
    fetched = fetching.download(
        "http://public.example/audio",
        dest,
        settings=PUBLIC,
        max_bytes=len(AUDIO),
        resolve=dns,
        transport=routing,
    )
    assert dest.read_bytes() == AUDIO
    assert (fetched.status, fetched.content_type, fetched.body) == (200, "audio/mpeg", b"")


def test_a_failed_download_leaves_no_file(tmp_path: Path, routing: Routing, dns: FakeDNS) -> None:
    dest = tmp_path / "episode.mp3"
    with pytest.raises(FetchTooLarge):
        fetching.download(
            "http://public.example/big-unannounced",
            dest,
            settings=PUBLIC,
            max_bytes=4000,
            resolve=dns,
            transport=routing,
        )
    assert not dest.exists()


def test_a_form_is_posted_and_its_status_returned(site: Site, routing: Routing, dns: FakeDNS) -> None:
    form = {"hub.mode": "publish", "hub.url": "https://podcasts.example/daily/feed.xml"}
    status = fetching.post_form(
        "http://public.example/echo", form, settings=PUBLIC, resolve=dns, transport=routing
    )
    assert status == 200
    [seen] = site.requests
    assert seen.method == "POST"
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(urllib.parse.parse_qsl(seen.body.decode())) == form
    with pytest.raises(FetchFailed) as failed:
        fetching.post_form(
            "http://public.example/status/429", form, settings=PUBLIC, resolve=dns, transport=routing
        )
    assert failed.value.status == 429
    with pytest.raises(FetchRefused, match=r"^inside\.example resolves to 127\.0\.0\.1"):
        fetching.post_form(
            "http://inside.example/echo", form, settings=PUBLIC, resolve=dns, transport=routing
        )


def test_a_post_redirected_with_307_is_posted_again_and_with_303_becomes_a_get(
    site: Site, routing: Routing, dns: FakeDNS
) -> None:
    form = {"hub.mode": "publish"}
    for status, method in ((307, "POST"), (303, "GET")):
        site.requests.clear()
        url = f"http://public.example/redirect/{status}?to=/echo"
        fetching.post_form(url, form, settings=PUBLIC, resolve=dns, transport=routing)
        assert [(seen.method, seen.body) for seen in site.requests][-1] == (
            method,
            b"hub.mode=publish" if method == "POST" else b"",
        )


# --- https ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test CA and a certificate it signed for secure.example, made with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    ca, ca_key, key, csr, cert = (
        folder / name for name in ("ca.pem", "ca.key", "key.pem", "csr.pem", "cert.pem")
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = ["openssl", "req", *ec, "-x509", "-days", "1", "-keyout", str(ca_key), "-out", str(ca)]
    _openssl(
        run
        + ["-subj", "/CN=Test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
        + ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    )
    _openssl(["openssl", "req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=secure.example"])
    extensions = folder / "leaf.ext"
    extensions.write_text(
        "subjectAltName=DNS:secure.example\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n"
    )
    _openssl(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial"]
        + ["-days", "1", "-out", str(cert), "-extfile", str(extensions)]
    )
    return Certificates(ca=ca, cert=cert, key=key)


def _openssl(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def secure(certificates: Certificates) -> Iterator[tuple[Routing, FakeDNS]]:
    """secure.example and wrong.example both answered, over TLS, by a server whose certificate names only
    secure.example; the client trusts the test CA."""
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(certificates.cert, certificates.key)
    with Site(tls=server_tls) as tls_site:
        routing = Routing(
            {(PUBLIC_ADDRESS, 443): tls_site.port},
            tls=ssl.create_default_context(cafile=str(certificates.ca)),
        )
        yield routing, FakeDNS({"secure.example": [PUBLIC_ADDRESS], "wrong.example": [PUBLIC_ADDRESS]})
        routing.shut()


def test_https_checks_the_certificate_against_the_host_name(secure: tuple[Routing, FakeDNS]) -> None:
    """The connection goes to an address, yet TLS sends the host name and verifies the certificate for it."""
    routing, dns = secure
    fetched = get("https://secure.example/echo", routing, dns)
    assert fetched.body == b"GET secure.example"
    assert fetched.final_url == "https://secure.example/echo"
    with pytest.raises(
        FetchFailed, match=r"^wrong\.example has a TLS certificate that could not be verified"
    ):
        get("https://wrong.example/echo", routing, dns)
