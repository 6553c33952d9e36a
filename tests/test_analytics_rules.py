"""The counting rules of a download, as pure functions (docs/analytics.md, "The rules")."""

from __future__ import annotations

import pytest

from podcast_host.analytics import rules

SIZE = 1_000_000


@pytest.mark.parametrize(
    ("header", "spans"),
    [
        (None, [(0, SIZE)]),
        ("", [(0, SIZE)]),
        ("bytes=0-99", [(0, 100)]),
        ("bytes=500000-", [(500_000, SIZE)]),
        ("bytes=-1000", [(SIZE - 1000, SIZE)]),
        ("bytes=0-99,50-199", [(0, 200)]),
        ("bytes=0-9,100-109", [(0, 10), (100, 110)]),
        ("bytes=999990-2000000", [(999_990, SIZE)]),
        ("bytes=2000000-", []),
        ("BYTES = 10-19", [(10, 20)]),
        ("items=0-9", [(0, SIZE)]),
        ("bytes=x-y", [(0, SIZE)]),
        ("bytes=-", [(0, SIZE)]),
        ("bytes=0-" + "9" * 5000, [(0, SIZE)]),  # more digits than a number type holds: ignored
        ("bytes=" + "0-0," * 100 + "1-1", [(0, SIZE)]),  # longer than any single range: ignored
    ],
)
def test_a_request_asks_for_the_bytes_its_range_names(
    header: str | None, spans: list[tuple[int, int]]
) -> None:
    assert rules.requested_spans(header, SIZE) == spans


@pytest.mark.parametrize(
    ("header", "probe"),
    [
        ("bytes=0-1", True),
        ("bytes=0-0", True),
        ("bytes=5000-5001", True),
        ("bytes=0-2", False),
        (None, False),
    ],
)
def test_a_two_byte_request_is_a_probe(header: str | None, probe: bool) -> None:
    assert rules.is_probe(header, SIZE) is probe


def test_ranges_add_up_as_the_bytes_they_cover_not_as_their_sum() -> None:
    kept = rules.add_spans([], [(0, 300)])
    kept = rules.add_spans(kept, [(0, 300)])
    assert rules.covered_bytes(kept) == 300
    kept = rules.add_spans(kept, [(200, 500), (900, 1000)])
    assert kept == [(0, 500), (900, 1000)]
    assert rules.covered_bytes(kept) == 600


def test_scattered_pieces_are_bounded() -> None:
    kept = rules.add_spans([], [(n * 10, n * 10 + 2) for n in range(rules.MAX_PIECES)])
    assert len(kept) == rules.MAX_PIECES
    grown = rules.add_spans(kept, [(50_000, 50_010), (0, 5)])
    assert len(grown) == rules.MAX_PIECES
    # A new piece that joins a kept one is still taken.
    assert (0, 5) in grown


@pytest.mark.parametrize(
    ("size", "duration", "threshold"),
    [
        (4_800_000, 600.0, 480_000),  # one minute at the file's average rate
        (240_000, 30.0, 240_000),  # shorter than a minute: the whole file
        (480_000, 60.0, 480_000),
        (1000, None, 1000),  # duration unknown: the whole file
        (0, 10.0, 1),
    ],
)
def test_a_download_is_one_minute_of_audio_or_the_whole_short_file(
    size: int, duration: float | None, threshold: int
) -> None:
    assert rules.download_threshold(size, duration) == threshold


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::10", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::10", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
        ("not an address", "not an address"),
    ],
)
def test_ipv6_listeners_are_grouped_by_their_64(address: str, group: str) -> None:
    assert rules.address_group(address) == group
