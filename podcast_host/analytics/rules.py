"""The counting rules of a download (docs/analytics.md), as pure functions of what a request asked for.

IAB Podcast Measurement Technical Guidelines 2.2: one download per listener (address and User-Agent), episode
and UTC day, once the bytes asked for reach one minute of audio or the whole file when it is shorter; the
ranges of one listener's requests that day add up. Nothing here touches a database or a request object.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

# What of a request's User-Agent is read: matching a longer one costs time that grows with the square of its
# length, and no real client sends one this long.
MAX_USER_AGENT = 512
# A single range is never this long; a longer Range header is taken as one the server ignores.
MAX_RANGE_HEADER = 256
# Answers that hand the listener the audio (or send it where the audio is); anything else never counts.
DELIVERED = frozenset({200, 206, 302})
# A Range asking for this many bytes or fewer is a probe (players ask "bytes=0-1" to learn the size).
PROBE_BYTES = 2
# IAB 2.2: a download is at least one minute of audio.
MINUTE_S = 60
# Stored ranges of one listener-day: past this many separate pieces, further pieces are not kept (a client
# asking for thousands of scattered bytes must not grow a row without bound).
MAX_PIECES = 100
# The daily tally of a private show's downloads per subscriber (its name is the subscriber's id); the show's
# owners alone read it, and the show's report leaves it out.
SUBSCRIBER_TALLY = "subscriber"

Span = tuple[int, int]  # [start, end) in bytes

_RANGE_UNIT = re.compile(r"^\s*bytes\s*=\s*(.+)$", re.IGNORECASE)
# Offsets of up to 18 digits (an exabyte); a longer number makes the Range malformed, so it is ignored.
_RANGE_SPEC = re.compile(r"^\s*(\d{0,18})\s*-\s*(\d{0,18})\s*$")


def address_group(address: str) -> str:
    """A listener's address as counting sees it: IPv4 as it is, IPv6 by its /64 (one household or phone)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))
    return str(ip)


def requested_spans(range_header: str | None, size: int) -> list[Span]:
    """The bytes of a file of `size` bytes one GET asks for: the whole file without Range (or with one the
    server would ignore), else each satisfiable range, clipped to the file."""
    whole = [(0, size)] if size > 0 else []
    if not range_header or len(range_header) > MAX_RANGE_HEADER:
        return whole
    unit = _RANGE_UNIT.match(range_header)
    if unit is None:
        return whole
    spans: list[Span] = []
    for spec in unit.group(1).split(","):
        parsed = _RANGE_SPEC.match(spec)
        if parsed is None:
            return whole  # a malformed Range is ignored by the server, which sends the whole file
        first, last = parsed.groups()
        if first == "" and last == "":
            return whole
        if first == "":  # "-N": the last N bytes
            start, end = max(size - int(last), 0), size
        else:
            start = int(first)
            end = size if last == "" else min(int(last) + 1, size)
        if start < end:
            spans.append((start, end))
    return merge(spans)


def is_probe(range_header: str | None, size: int) -> bool:
    """A request for a couple of bytes only ("bytes=0-1"), made to learn a file's size, never a listen."""
    if not range_header:
        return False
    asked = requested_spans(range_header, size)
    return sum(end - start for start, end in asked) <= PROBE_BYTES


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-overlapping spans covering the same bytes (touching spans join)."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def add_spans(kept: Iterable[Span], new: Iterable[Span]) -> list[Span]:
    """Kept spans with new ones added: at most MAX_PIECES separate pieces (further new ones are dropped)."""
    merged = merge([*kept, *new])
    if len(merged) <= MAX_PIECES:
        return merged
    old = merge(kept)
    for span in merge(new):
        candidate = merge([*old, span])
        if len(candidate) <= MAX_PIECES:
            old = candidate
    return old


def covered_bytes(spans: Iterable[Span]) -> int:
    return sum(end - start for start, end in merge(spans))


def download_threshold(size: int, duration_s: float | None) -> int:
    """Bytes that make a download: one minute of audio at the file's average rate, or the whole file when it
    is shorter than a minute (or its duration is unknown)."""
    if size <= 0:
        return 1
    if not duration_s or duration_s <= MINUTE_S:
        return size
    return min(size, max(1, int(size / duration_s * MINUTE_S)))
