"""Every request the server makes to another server on a user's behalf: feeds, enclosures, images, chapters
and transcripts read from URLs someone gave, and the pings to WebSub hubs
(docs/architecture.md, "Fetching other servers").

A URL from outside may name anything this machine can reach: its own admin ports, the database, a cloud's
metadata service. So every hop of a fetch (the first request and each redirect):

- is http or https, without a user name or password in the URL;
- has its host resolved here, once, and is refused if any answer is not a public address (unless the
  `allow_private_urls` setting says otherwise); the request then goes to that checked address, with the Host
  header and, for https, the TLS server name and certificate check on the original host name, so a DNS answer
  that changes between the check and the connection (DNS rebinding) changes nothing;
- is bounded: a time-out for connecting and for each pause between bytes, a deadline for the whole fetch, and
  a byte count the caller chooses.

httpx is imported on first use, like every library only some jobs need (docs/architecture.md, "Memory").

The package: targets.py decides what may be fetched, exchange.py runs one fetch (its deadline, redirects and
body), errors.py names what went wrong; this module is the API the rest of the app calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from podcast_host.config import Settings
from podcast_host.fetching.errors import FetchFailed, FetchRefused, FetchTooLarge
from podcast_host.fetching.exchange import (
    DOWNLOAD_TIMEOUTS,
    FETCH_TIMEOUTS,
    Fetched,
    Request,
    Timeouts,
    answer,
    chunks,
    fetched,
    request_headers,
)
from podcast_host.fetching.targets import Resolver, resolve_host

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DOWNLOAD_TIMEOUTS",
    "FETCH_TIMEOUTS",
    "FetchFailed",
    "FetchRefused",
    "FetchTooLarge",
    "Fetched",
    "Resolver",
    "Timeouts",
    "download",
    "fetch_bytes",
    "post_form",
    "resolve_host",
]

# --- the API ---------------------------------------------------------------------------------------------


def fetch_bytes(
    url: str,
    *,
    settings: Settings,
    max_bytes: int,
    accept: str | None = None,
    timeouts: Timeouts = FETCH_TIMEOUTS,
    resolve: Resolver = resolve_host,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """GET url into memory, at most max_bytes of body. Raises FetchRefused or FetchFailed (FetchTooLarge)."""
    request = Request("GET", _parsed(url), request_headers(settings, accept))
    with answer(request, settings=settings, timeouts=timeouts, resolve=resolve, transport=transport) as (
        response,
        exchange,
    ):
        body = b"".join(chunks(response, exchange, max_bytes))
        return fetched(response, exchange, body)


def download(
    url: str,
    dest: Path,
    *,
    settings: Settings,
    max_bytes: int,
    accept: str | None = None,
    timeouts: Timeouts = DOWNLOAD_TIMEOUTS,
    resolve: Resolver = resolve_host,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """GET url into the file dest, streamed, at most max_bytes; the Fetched body is empty. A failed download
    leaves no file at dest."""
    request = Request("GET", _parsed(url), request_headers(settings, accept))
    try:
        with (
            answer(request, settings=settings, timeouts=timeouts, resolve=resolve, transport=transport) as (
                response,
                exchange,
            ),
            dest.open("wb") as out,
        ):
            for chunk in chunks(response, exchange, max_bytes):
                out.write(chunk)
            return fetched(response, exchange, b"")
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def post_form(
    url: str,
    data: Mapping[str, str],
    *,
    settings: Settings,
    timeouts: Timeouts = FETCH_TIMEOUTS,
    resolve: Resolver = resolve_host,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """POST data as an HTML form to url; the 2xx status. The answer's body is not read."""
    headers = {**request_headers(settings, None), "Content-Type": "application/x-www-form-urlencoded"}
    request = Request("POST", _parsed(url), headers, urlencode(data).encode("ascii"))
    with answer(request, settings=settings, timeouts=timeouts, resolve=resolve, transport=transport) as (
        response,
        _,
    ):
        return response.status_code


def _parsed(url: str) -> httpx.URL:
    import httpx

    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError, ValueError):
        raise FetchRefused("This is not a URL that can be fetched.") from None
