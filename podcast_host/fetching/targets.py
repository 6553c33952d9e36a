"""What may be fetched: the URL's scheme, host and port, and every address its host resolves to, checked
before any connection (see __init__.py for the rules)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from podcast_host.config import Settings
from podcast_host.fetching.errors import FetchFailed, FetchRefused

if TYPE_CHECKING:
    import httpx

# A host name and port -> the addresses to connect to; `resolve_host` is the real one, tests pass their own.
Resolver = Callable[[str, int], list[str]]


SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Carrier-grade NAT (RFC 6598): inside a provider's network, never on the internet.
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
# Ranges some Python versions still call global: IPv6 site-local (deprecated, still routed inside some
# networks) and the IETF protocol assignments, whose only public addresses are .9 and .10.
UNROUTED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "fec0::/10",
        "192.0.0.0/29",
        "192.0.0.8/32",
        "192.0.0.11/32",
        "192.0.0.12/30",
        "192.0.0.16/28",
        "192.0.0.32/27",
        "192.0.0.64/26",
        "192.0.0.128/25",
    )
)
# NAT64's well-known prefix (RFC 6052) carries an IPv4 address in its last 32 bits.
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# --- what may be fetched ---------------------------------------------------------------------------------


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for host, in its order of preference, each once (without an
    IPv6 zone, which a URL cannot carry)."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]).split("%")[0] for *_, sockaddr in answers))


def address_refusal(address: Address) -> str | None:
    """Why the server must not connect to address ("a loopback address"), or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if address.ipv4_mapped is not None or address in NAT64_PREFIX:
            # Only the IPv4 address inside counts: that is where the packets go.
            return address_refusal(embedded) if embedded is not None else None
        if embedded is not None and (reason := address_refusal(embedded)):
            return reason
    return _kind_refused(address)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _kind_refused(address: Address) -> str | None:
    # Most specific first: 127.0.0.1 is also private, 169.254.169.254 also private.
    checks: list[tuple[bool, str]] = [
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address in SHARED_ADDRESS_SPACE, "a carrier-grade NAT address"),
        (any(address in network for network in UNROUTED), "a reserved address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    ]
    return next((reason for refused, reason in checks if refused), None)


@dataclass(frozen=True)
class Target:
    """One hop: its URL, the host as people read it, and the checked addresses to connect to."""

    url: httpx.URL
    host: str
    addresses: list[str]


def checked_target(url: httpx.URL, settings: Settings, resolve: Resolver) -> Target:
    if url.scheme not in SCHEMES:
        shown = f"{url.scheme}:" if url.scheme else "a relative URL"
        raise FetchRefused(f"Only http and https URLs can be fetched, not {shown}.")
    try:
        # A host IDNA cannot decode ("xn--") raises here, outside httpx's own error classes.
        host = url.host
        url.raw_host.decode("ascii")
    except (UnicodeError, ValueError):
        raise FetchRefused("The URL's host name is not a valid name.") from None
    if not host:
        raise FetchRefused("The URL names no host.")
    if url.userinfo:
        raise FetchRefused(f"The URL for {host} carries a user name or password; refused.")
    port = url.port or DEFAULT_PORTS[url.scheme]
    if not 0 < port < 65536:
        raise FetchRefused(f"The URL for {host} names port {port}, which does not exist.")
    ascii_host = url.raw_host.decode("ascii")
    addresses = _addresses(ascii_host, port, host, resolve)
    if not settings.allow_private_urls:
        _refuse_private(host, ascii_host, addresses)
    return Target(url=url, host=host, addresses=addresses)


def _addresses(ascii_host: str, port: int, host: str, resolve: Resolver) -> list[str]:
    with suppress(ValueError):
        ipaddress.ip_address(ascii_host)
        return [ascii_host]  # an address in the URL itself: nothing to resolve
    try:
        addresses = resolve(ascii_host, port)
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        raise FetchFailed(f"{host} could not be found (no DNS answer).")
    return addresses


def _refuse_private(host: str, ascii_host: str, addresses: list[str]) -> None:
    """Refuse when ANY answer is not public: a host that resolves to one public and one private address
    could otherwise be reached on the private one."""
    for text in addresses:
        try:
            reason = address_refusal(ipaddress.ip_address(text))
        except ValueError:
            reason = "not an address"
        if reason is None:
            continue
        if text == ascii_host:
            raise FetchRefused(f"{host} is {reason}; refused.")
        raise FetchRefused(f"{host} resolves to {text}, {reason}; refused.")
