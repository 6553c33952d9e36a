"""One fetch under way: its deadline, its requests and redirects, each hop pinned to the addresses targets.py
checked, and the answer's body read within the caller's limits (see __init__.py)."""

from __future__ import annotations

import http.cookiejar
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

from podcast_host.config import Settings
from podcast_host.fetching.errors import FetchFailed, FetchTooLarge
from podcast_host.fetching.targets import Resolver, Target, checked_target

if TYPE_CHECKING:
    import urllib.request

    import httpx

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Timeouts:
    """How long a fetch may take, in seconds: to connect, between two bytes, and in all (redirects
    included)."""

    connect_s: float = 10.0
    read_s: float = 30.0
    total_s: float = 120.0


FETCH_TIMEOUTS = Timeouts()
# An enclosure may be hundreds of megabytes from a slow host.
DOWNLOAD_TIMEOUTS = Timeouts(total_s=1800.0)


@dataclass(frozen=True)
class Fetched:
    """A 2xx answer, after redirects: where it came from, its status and type, and its body (empty when it
    went to a file)."""

    final_url: str
    status: int
    content_type: str
    body: bytes


# --- the deadline ----------------------------------------------------------------------------------------


class _Deadline:
    """The whole fetch's time limit. httpx bounds each connect and each read, not their sum (a server could
    send a byte every 29 seconds for ever), so at the limit a timer shuts the fetch's connections down, which
    ends a read that is waiting at once. It learns each connection through httpx's `trace` extension and keeps
    its own handle of the socket, so it never touches one that httpx has closed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def remaining(self) -> float:
        return max(0.0, self._ends - time.monotonic())

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpx's `trace` callback: watch every connection this fetch opens."""
        if event != "connection.connect_tcp.complete":
            return
        sock = info["return_value"].get_extra_info("socket")
        if not isinstance(sock, socket.socket):
            return
        # A second handle of the same connection: shutting it down ends the connection for httpx too.
        watched = socket.socket(fileno=os.dup(sock.fileno()))
        with self._lock:
            self._sockets.append(watched)
            if self.expired:
                _shut_down(watched)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# --- one fetch -------------------------------------------------------------------------------------------


@dataclass
class Request:
    """What a fetch sends; a redirect may turn a POST into a GET without its body."""

    method: str
    url: httpx.URL
    headers: dict[str, str]
    body: bytes | None = None


@dataclass
class _Exchange:
    """A fetch under way: where it is and what bounds it, for the error that ends it."""

    timeouts: Timeouts
    deadline: _Deadline
    host: str = ""
    url: str = ""


@cache
def _version() -> str:
    try:
        return metadata.version("podcast-host")
    except metadata.PackageNotFoundError:
        return "0"


@cache
def _tls_context() -> ssl.SSLContext:
    """One TLS client context per process (certificates and host names checked): making one reads the whole
    CA bundle, a tenth of a second."""
    import httpx

    return httpx.create_ssl_context()


def request_headers(settings: Settings, accept: str | None) -> dict[str, str]:
    return {
        "User-Agent": f"podcast-host/{_version()} (+{settings.public_url})",
        "Accept": accept or "*/*",
        # Bodies are counted as they arrive; compressed ones could grow a thousandfold past the count.
        "Accept-Encoding": "identity",
    }


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A fetch keeps no cookies: the connection goes to an address that other hosts may share."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


@contextmanager
def answer(
    request: Request,
    *,
    settings: Settings,
    timeouts: Timeouts,
    resolve: Resolver,
    transport: httpx.BaseTransport | None,
) -> Iterator[tuple[httpx.Response, _Exchange]]:
    """The 2xx answer to request after redirects, its body not read yet; every failure as FetchFailed."""
    import httpx

    with _Deadline(timeouts.total_s) as deadline:
        exchange = _Exchange(timeouts=timeouts, deadline=deadline)
        client = httpx.Client(
            transport=transport or httpx.HTTPTransport(verify=_tls_context(), retries=0),
            follow_redirects=False,
            # No proxy from the environment: the request must go to the address checked here.
            trust_env=False,
            cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
        )
        try:
            with client, _followed(client, request, exchange, settings, resolve) as response:
                if not 200 <= response.status_code < 300:
                    status = f"{response.status_code} {response.reason_phrase}".strip()
                    raise FetchFailed(f"{exchange.host} answered {status}.", status=response.status_code)
                yield response, exchange
        except httpx.HTTPError as exc:
            raise _failure(exc, exchange) from None
        except (UnicodeError, ValueError):
            # A Location whose host httpx cannot encode, or a header it cannot read.
            raise FetchFailed(
                f"{exchange.host or 'The server'} answered with an address or header that is not valid."
            ) from None


@contextmanager
def _followed(
    client: httpx.Client, request: Request, exchange: _Exchange, settings: Settings, resolve: Resolver
) -> Iterator[httpx.Response]:
    """Send request and follow its redirects ourselves, checking every hop as the first."""
    for _ in range(MAX_REDIRECTS + 1):
        target = checked_target(request.url, settings, resolve)
        exchange.host, exchange.url = target.host, str(target.url)
        response = _send(client, request, target, exchange)
        location = response.headers.get("location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            try:
                yield response
            finally:
                response.close()
            return
        response.close()
        request = _redirected(request, target.url.join(location), response.status_code)
    raise FetchFailed(f"{exchange.host} redirected more than {MAX_REDIRECTS} times; gave up.")


def _redirected(request: Request, url: httpx.URL, status: int) -> Request:
    """The next hop's request: 307 and 308 repeat it; 301, 302 and 303 turn it into a GET, as browsers do."""
    if status in (307, 308) or request.method in ("GET", "HEAD"):
        return Request(request.method, url, request.headers, request.body)
    headers = {name: value for name, value in request.headers.items() if name != "Content-Type"}
    return Request("GET", url, headers)


def _send(client: httpx.Client, request: Request, target: Target, exchange: _Exchange) -> httpx.Response:
    """Send to the checked addresses in turn until one takes the connection."""
    import httpx

    for index, address in enumerate(target.addresses):
        try:
            return client.send(_pinned(client, request, target, address, exchange), stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if index == len(target.addresses) - 1 or exchange.deadline.remaining() <= 0:
                raise
    raise AssertionError("a target always has an address")


def _pinned(
    client: httpx.Client, request: Request, target: Target, address: str, exchange: _Exchange
) -> httpx.Request:
    """The request sent to address itself, carrying the host name for the server (Host) and for TLS."""
    import httpx

    _check_deadline(exchange)
    left = exchange.deadline.remaining()
    timeout = httpx.Timeout(
        min(exchange.timeouts.read_s, left), connect=min(exchange.timeouts.connect_s, left)
    )
    extensions: dict[str, Any] = {"trace": exchange.deadline.trace}
    if target.url.scheme == "https":
        extensions["sni_hostname"] = target.url.raw_host.decode("ascii")
    return client.build_request(
        request.method,
        target.url.copy_with(host=address),
        headers={**request.headers, "Host": target.url.netloc.decode("ascii")},
        content=request.body,
        timeout=timeout,
        extensions=extensions,
    )


def _check_deadline(exchange: _Exchange) -> None:
    if exchange.deadline.expired or exchange.deadline.remaining() <= 0:
        raise _too_slow(exchange)


def _too_slow(exchange: _Exchange) -> FetchFailed:
    return FetchFailed(
        f"{exchange.host} did not finish answering within {exchange.deadline.seconds:g} s; gave up."
    )


def _failure(exc: httpx.HTTPError, exchange: _Exchange) -> FetchFailed:
    import httpx

    host, timeouts = exchange.host, exchange.timeouts
    if exchange.deadline.expired:
        return _too_slow(exchange)
    if isinstance(exc, httpx.ConnectTimeout):
        return FetchFailed(f"{host} did not take the connection within {timeouts.connect_s:g} s.")
    if isinstance(exc, httpx.TimeoutException):
        return FetchFailed(f"{host} stopped answering for more than {timeouts.read_s:g} s; gave up.")
    if _caused_by(exc, ssl.SSLCertVerificationError):
        return FetchFailed(f"{host} has a TLS certificate that could not be verified; refused.")
    if isinstance(exc, httpx.ConnectError):
        return FetchFailed(f"{host} could not be reached.")
    return FetchFailed(f"The connection to {host} broke off or its answer was not valid HTTP.")


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def chunks(response: httpx.Response, exchange: _Exchange, max_bytes: int) -> Iterator[bytes]:
    """The body as it arrives, refused as soon as it is announced or found larger than max_bytes."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # Asked for identity; a compressed body would be counted after it had grown, a thousandfold or more.
        raise FetchFailed(f"{exchange.host} sent a compressed body ({encoding[:40]}) although asked not to.")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchTooLarge(f"{exchange.host} announced {declared} bytes, more than the {max_bytes} allowed.")
    received = 0
    # Raw bytes: httpx would otherwise decode whatever Content-Encoding a server claims, before the count.
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > max_bytes:
            raise FetchTooLarge(f"{exchange.host} sent more than the {max_bytes} bytes allowed; stopped.")
        yield chunk
    # A body that ends with the connection would look complete when the deadline cut it short.
    if exchange.deadline.expired:
        raise _too_slow(exchange)


def fetched(response: httpx.Response, exchange: _Exchange, body: bytes) -> Fetched:
    """The answer as the caller sees it: the last hop's URL with its host name, not the address used."""
    return Fetched(
        final_url=exchange.url,
        status=response.status_code,
        content_type=response.headers.get("content-type", ""),
        body=body,
    )
