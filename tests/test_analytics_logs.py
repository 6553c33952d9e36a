"""Access logs read into requests: Apache/nginx combined, CloudFront standard logs, S3 server access logs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podcast_host.analytics.logs import FORMATS, LoggedRequest, LogLineError, read_log

EPISODE = "/media/shows/1/episodes/2/audio-abc.mp3"
OVERCAST = "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)"


def _requests(items: list[LoggedRequest | LogLineError]) -> list[LoggedRequest]:
    return [item for item in items if isinstance(item, LoggedRequest)]


def _errors(items: list[LoggedRequest | LogLineError]) -> list[LogLineError]:
    return [item for item in items if isinstance(item, LogLineError)]


# --- combined --------------------------------------------------------------------------------

COMBINED = [
    "# nginx access.log, rotated nightly\n",
    f'203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET {EPISODE} HTTP/1.1" 206 1024 "-" "{OVERCAST}"\n',
    "\n",
    "2001:db8:85a3::8a2e:370:7334 - - [10/Oct/2026:21:02:11 +0000] "
    '"GET /media/shows/1/episodes/2/episode%20one.mp3?source=feed&utm=x HTTP/2.0" 200 48213 '
    '"https://example.com/shows/1/" '
    '"Mozilla/5.0 (compatible; \\"Quoted\\" Player/1.0; back\\\\slash)"\n',
    f'198.51.100.20 - jane [10/Oct/2026:21:03:00 +0000] "HEAD {EPISODE} HTTP/1.1" 304 - "-" "-"\n',
    '198.51.100.4 - - [10/Oct/2026:21:04:00 +0000] "-" 400 0 "-" "-"\n',
    '192.0.2.77 - - [01/Jan/2027:02:00:00 +0530] "GET /feed.xml HTTP/1.1" 200 5120 "-" '
    '"Podcast\\x22App\\x22 caf\\xC3\\xA9/2.1 (nginx escapes)"\r\n',
]


def test_combined_lines_are_read() -> None:
    items = list(read_log(COMBINED, "combined"))
    assert len(items) == 5  # the comment and the blank line yield nothing
    overcast, quoted, head, malformed, nginx = items
    assert overcast == LoggedRequest(
        time=datetime(2026, 10, 10, 20, 55, 36, tzinfo=UTC),
        address="203.0.113.9",
        user_agent=OVERCAST,
        method="GET",
        path=EPISODE,
        status=206,
        bytes_sent=1024,
    )
    assert overcast.time.tzinfo == UTC
    assert isinstance(quoted, LoggedRequest)
    assert quoted.address == "2001:db8:85a3::8a2e:370:7334"
    assert quoted.user_agent == 'Mozilla/5.0 (compatible; "Quoted" Player/1.0; back\\slash)'
    assert quoted.path == "/media/shows/1/episodes/2/episode one.mp3"
    assert (quoted.status, quoted.bytes_sent, quoted.range_start, quoted.range_end) == (
        200,
        48213,
        None,
        None,
    )
    assert isinstance(head, LoggedRequest)
    assert (head.method, head.status, head.bytes_sent, head.user_agent) == ("HEAD", 304, 0, "")
    assert isinstance(malformed, LogLineError)
    assert malformed.line_number == 6
    assert "'-'" in malformed.reason
    assert isinstance(nginx, LoggedRequest)
    assert nginx.user_agent == 'Podcast"App" café/2.1 (nginx escapes)'
    # 02:00 at +05:30 on New Year's Day is still the old year in UTC.
    assert nginx.time == datetime(2026, 12, 31, 20, 30, tzinfo=UTC)


def test_a_malformed_line_in_the_middle_leaves_the_others_read() -> None:
    good = f'203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET {EPISODE} HTTP/1.1" 206 1024 "-" "{OVERCAST}"'
    lines = [
        good,
        "this is not an access log line",
        good,
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        good,
    ]
    items = list(read_log(lines, "combined"))
    assert [type(item).__name__ for item in items] == [
        "LoggedRequest",
        "LogLineError",
        "LoggedRequest",
        "LogLineError",
        "LoggedRequest",
    ]
    assert [error.line_number for error in _errors(items)] == [2, 4]
    assert all(error.reason for error in _errors(items))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('203.0.113.9 - - [32/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"', "not a log time"),
        ('203.0.113.9 - - [10/Okt/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"', "not a log time"),
        ('203.0.113.9 - - [10/Oct/2026:13:55:36] "GET / HTTP/1.1" 200 1 "-" "-"', "not a log time"),
        ('203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET" 400 1 "-" "-"', "is not 'METHOD PATH PROTOCOL'"),
        (
            '203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET episode.mp3 HTTP/1.1" 400 1 "-" "-"',
            "names no path",
        ),
        (
            '203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" OK 1 "-" "-"',
            "not a combined log line",
        ),
        (
            '203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1 200 1 "-" "-"',
            "not a combined log line",
        ),
    ],
)
def test_unreadable_combined_lines_say_why(line: str, reason: str) -> None:
    (item,) = read_log([line], "combined")
    assert isinstance(item, LogLineError)
    assert item.line_number == 1
    assert reason in item.reason


@pytest.mark.parametrize(
    ("request_line", "method", "path"),
    [
        ("GET /a%2520b.mp3 HTTP/1.1", "GET", "/a%20b.mp3"),  # decoded once, not twice
        ("GET /episode%3F.mp3?x=%2F HTTP/1.1", "GET", "/episode?.mp3"),  # the query goes before decoding
        ("GET http://cdn.example.com/media/e.mp3?t=1 HTTP/1.1", "GET", "/media/e.mp3"),  # a proxy's request
        ("GET /media/my episode.mp3 HTTP/1.1", "GET", "/media/my episode.mp3"),  # a raw space
        ("GET /media/e.mp3", "GET", "/media/e.mp3"),  # HTTP/0.9
        ("OPTIONS * HTTP/1.1", "OPTIONS", "*"),
        ("get /caf%C3%A9.mp3 HTTP/1.1", "GET", "/café.mp3"),
    ],
)
def test_request_lines(request_line: str, method: str, path: str) -> None:
    (item,) = read_log(
        [f'192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "{request_line}" 200 10 "-" "-"'], "combined"
    )
    assert isinstance(item, LoggedRequest)
    assert (item.method, item.path) == (method, path)


def test_common_format_lines_have_no_user_agent() -> None:
    (item,) = read_log(
        [f'192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET {EPISODE} HTTP/1.0" 200 2326'], "combined"
    )
    assert isinstance(item, LoggedRequest)
    assert (item.user_agent, item.bytes_sent) == ("", 2326)


def test_an_unknown_format_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="Unknown log format 'w3c'"):
        read_log([], "w3c")
    assert FORMATS == ("combined", "cloudfront", "s3")


# --- CloudFront ------------------------------------------------------------------------------

CF_HEADER = (
    "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) "
    "cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol "
    "cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type "
    "cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte "
    "x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end"
)
CF_FIELDS = CF_HEADER.removeprefix("#Fields: ").split(" ")


def _cloudfront(**values: str) -> str:
    """A standard log line: realistic values, with `values` (keyed by field name, - for _) replacing some."""
    row = {
        "date": "2026-10-10",
        "time": "20:55:36",
        "x-edge-location": "CDG50-P2",
        "sc-bytes": "1453",
        "c-ip": "203.0.113.9",
        "cs-method": "GET",
        "cs(Host)": "d111111abcdef8.cloudfront.net",
        "cs-uri-stem": EPISODE,
        "sc-status": "206",
        "cs(Referer)": "-",
        "cs(User-Agent)": "Overcast/3.0%20(+http://overcast.fm/;%20iOS%20podcast%20app)",
        "cs-uri-query": "-",
        "cs(Cookie)": "-",
        "x-edge-result-type": "Hit",
        "x-edge-request-id": "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
        "x-host-header": "media.example.com",
        "cs-protocol": "https",
        "cs-bytes": "312",
        "time-taken": "0.002",
        "x-forwarded-for": "-",
        "ssl-protocol": "TLSv1.3",
        "ssl-cipher": "TLS_AES_128_GCM_SHA256",
        "x-edge-response-result-type": "Hit",
        "cs-protocol-version": "HTTP/2.0",
        "fle-status": "-",
        "fle-encrypted-fields": "-",
        "c-port": "51284",
        "time-to-first-byte": "0.001",
        "x-edge-detailed-result-type": "Hit",
        "sc-content-type": "audio/mpeg",
        "sc-content-len": "1024",
        "sc-range-start": "0",
        "sc-range-end": "1023",
    }
    row.update({name.replace("_", "-"): value for name, value in values.items()})
    return "\t".join(row[name] for name in CF_FIELDS) + "\n"


CLOUDFRONT = [
    "#Version: 1.0\n",
    CF_HEADER + "\n",
    _cloudfront(),
    _cloudfront(
        time="21:00:01",
        c_ip="2a01:e0a:1f:2e0::3",
        sc_status="200",
        sc_bytes="48213544",
        sc_range_start="-",
        sc_range_end="-",
        **{"cs(User-Agent)": "AppleCoreMedia/1.0.0.21A329%20(iPhone;%20U;%20CPU%20OS%2017_0%20like%20Mac)"},
    ),
    "2026-10-10\t21:00:02\tCDG50-P2\tnot enough fields\n",
    _cloudfront(
        time="21:00:03",
        cs_method="HEAD",
        sc_status="000",
        sc_bytes="-",
        cs_uri_stem="/media/shows/1/episodes/2/episode%20one.mp3",
        sc_range_start="-",
        sc_range_end="-",
        **{"cs(User-Agent)": "Pocket%2520Casts"},
    ),
    _cloudfront(time="21:00:04", sc_range_start="1024", sc_range_end="2047", **{"cs(User-Agent)": "-"}),
]


def test_cloudfront_lines_are_read() -> None:
    items = list(read_log(CLOUDFRONT, "cloudfront"))
    assert len(items) == 5
    ranged, whole, broken, head, second_range = items
    assert ranged == LoggedRequest(
        time=datetime(2026, 10, 10, 20, 55, 36, tzinfo=UTC),
        address="203.0.113.9",
        user_agent=OVERCAST,
        method="GET",
        path=EPISODE,
        status=206,
        bytes_sent=1453,
        range_start=0,
        range_end=1023,
    )
    assert isinstance(whole, LoggedRequest)
    assert whole.address == "2a01:e0a:1f:2e0::3"
    assert whole.user_agent == "AppleCoreMedia/1.0.0.21A329 (iPhone; U; CPU OS 17_0 like Mac)"
    assert (whole.status, whole.bytes_sent, whole.range_start, whole.range_end) == (200, 48213544, None, None)
    assert isinstance(broken, LogLineError)
    assert broken.line_number == 5
    assert "4 tab-separated fields where the #Fields header names 33" in broken.reason
    assert isinstance(head, LoggedRequest)
    assert (head.method, head.status, head.bytes_sent) == ("HEAD", 0, 0)
    assert head.path == "/media/shows/1/episodes/2/episode one.mp3"
    assert head.user_agent == "Pocket%20Casts"  # CloudFront's double encoding, decoded once
    assert isinstance(second_range, LoggedRequest)
    assert (second_range.range_start, second_range.range_end, second_range.user_agent) == (1024, 2047, "")


def test_cloudfront_columns_follow_the_fields_header() -> None:
    # Standard logging (v2) lets a distribution pick its fields and their order.
    lines = [
        "#Version: 1.0",
        "#Fields: c-ip date time cs-uri-stem cs-method sc-status cs(User-Agent)",
        "198.51.100.7\t2026-10-11\t00:00:09\t/feed.xml\tGET\t304\tCastro%2F2024.1",
        "#Fields: date time c-ip cs-method cs-uri-stem sc-status",
        "2026-10-11\t00:00:10\t198.51.100.8\tGET\t/feed.xml\t200",
        "#Fields: date time cs-method cs-uri-stem sc-status",
        "2026-10-11\t00:00:11\tGET\t/feed.xml\t200",
    ]
    first, second, third = read_log(lines, "cloudfront")
    assert first == LoggedRequest(
        time=datetime(2026, 10, 11, 0, 0, 9, tzinfo=UTC),
        address="198.51.100.7",
        user_agent="Castro/2024.1",
        method="GET",
        path="/feed.xml",
        status=304,
        bytes_sent=0,
    )
    assert isinstance(second, LoggedRequest)
    assert (second.address, second.user_agent, second.bytes_sent, second.range_start) == (
        "198.51.100.8",
        "",
        0,
        None,
    )
    assert isinstance(third, LogLineError)
    assert "names no c-ip" in third.reason


def test_cloudfront_lines_without_headers_use_the_standard_columns() -> None:
    (item,) = read_log([_cloudfront()], "cloudfront")
    assert isinstance(item, LoggedRequest)
    assert (item.address, item.range_end) == ("203.0.113.9", 1023)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"date": "10/10/2026"}, "is not a date and time"),
        ({"time": "25:00:00"}, "is not a date and time"),
        ({"sc_status": "OK"}, "the status 'OK' is not a number"),
        ({"sc_range_start": "first"}, "sc-range-start"),
        ({"sc_bytes": "\u00b2"}, "the sc-bytes '\u00b2' is not a number"),  # isdigit(), yet no int
    ],
)
def test_unreadable_cloudfront_values_say_why(values: dict[str, str], reason: str) -> None:
    (item,) = read_log([_cloudfront(**values)], "cloudfront")
    assert isinstance(item, LogLineError)
    assert reason in item.reason


# --- S3 --------------------------------------------------------------------------------------

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
TAIL = (
    "- s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 "
    "ECDHE-RSA-AES128-GCM-SHA256 - podcast-media.s3.eu-west-3.amazonaws.com TLSv1.3 - - eu-west-3"
)
KEY = "shows/1/episodes/2/audio/episode%20one.mp3"


def _s3(time: str, remote_ip: str, operation: str, key: str, rest: str, requester: str = "-") -> str:
    return (
        f"{OWNER} podcast-media [{time}] {remote_ip} {requester} 3E57427F3EXAMPLE {operation} {key} {rest}\n"
    )


S3 = [
    _s3(
        "10/Oct/2026:20:55:36 +0000",
        "203.0.113.9",
        "REST.GET.OBJECT",
        KEY,
        f'"GET /{KEY}?x-source=feed HTTP/1.1" 206 - 1024 48213544 35 12 "-" "{OVERCAST}" {TAIL}',
    ),
    _s3(
        "10/Oct/2026:20:56:00 +0000",
        "2a01:e0a:1f:2e0::3",
        "REST.HEAD.OBJECT",
        KEY,
        f'"HEAD /{KEY} HTTP/1.1" 200 - - 48213544 9 - "-" "Pocket Casts" {TAIL}',
    ),
    f"{OWNER} podcast-media [10/Oct/2026:20:57:00 +0000] 203.0.113.9 - A1206F460EXAMPLE REST.GET.OBJECT\n",
    _s3(
        "10/Oct/2026:22:57:00 +0200",
        "192.0.2.3",
        "REST.GET.BUCKET",
        "-",
        f'"GET /?list-type=2&prefix=shows%2F HTTP/1.1" 200 - 2431 - 40 39 "-" "aws-cli/2.15.0" {TAIL}',
        requester=OWNER,
    ),
    # S3's own housekeeping: no client, no HTTP request.
    _s3(
        "11/Oct/2026:03:12:00 +0000",
        "-",
        "S3.EXPIRE.OBJECT",
        "shows/9/episodes/1/original/original.wav",
        "- - - - 52428800 - - - - -",
        requester="AmazonS3",
    ),
    _s3(
        "10/Oct/2026:20:58:00 +0000",
        "198.51.100.7",
        "WEBSITE.GET.OBJECT",
        "feed.xml",
        '"GET /feed.xml HTTP/1.1" 200 - 5120 5120 3 2 "-" "Mozilla/5.0 (\\"embedded\\" player)" -',
    ),
]


def test_s3_lines_are_read() -> None:
    items = list(read_log(S3, "s3"))
    assert len(items) == 6
    get, head, truncated, listing, expiry, website = items
    assert get == LoggedRequest(
        time=datetime(2026, 10, 10, 20, 55, 36, tzinfo=UTC),
        address="203.0.113.9",
        user_agent=OVERCAST,
        method="GET",
        path="/shows/1/episodes/2/audio/episode one.mp3",
        status=206,
        bytes_sent=1024,
    )
    assert isinstance(head, LoggedRequest)
    assert (head.address, head.method, head.status, head.bytes_sent) == ("2a01:e0a:1f:2e0::3", "HEAD", 200, 0)
    assert head.user_agent == "Pocket Casts"
    assert isinstance(truncated, LogLineError)
    assert truncated.line_number == 3
    assert "not an S3 access log line" in truncated.reason
    assert isinstance(listing, LoggedRequest)
    assert (listing.method, listing.path, listing.time) == (
        "GET",
        "/",
        datetime(2026, 10, 10, 20, 57, tzinfo=UTC),
    )
    assert isinstance(expiry, LoggedRequest)
    assert (expiry.method, expiry.status, expiry.address) == ("", 0, "-")
    assert isinstance(website, LoggedRequest)
    assert (website.method, website.path) == ("GET", "/feed.xml")
    assert website.user_agent == 'Mozilla/5.0 ("embedded" player)'


def test_s3_keys_are_decoded_once() -> None:
    line = S3[0].replace(KEY, "shows/1/episodes/2/audio/100%2525%20caf%C3%A9.mp3", 1)
    (item,) = read_log([line], "s3")
    assert isinstance(item, LoggedRequest)
    assert item.path == "/shows/1/episodes/2/audio/100%25 café.mp3"


def test_comment_and_blank_lines_yield_nothing_in_every_format() -> None:
    for fmt in FORMATS:
        assert list(read_log(["", "   \n", "# a note\n", "\r\n"], fmt)) == []
