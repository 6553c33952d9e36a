"""Access logs: the requests a web server or CDN served, read from its log lines.

Three formats: Apache/nginx "combined", CloudFront standard logs and S3 server access logs. A line that cannot
be read becomes a LogLineError item rather than an exception, so one bad line never stops a whole file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote, urlsplit

FORMATS = ("combined", "cloudfront", "s3")


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server logged it."""

    time: datetime  # timezone-aware UTC
    address: str  # client address as logged
    user_agent: str  # decoded; "" when the log has none
    method: str  # "GET", "HEAD"...; "" for an S3 operation that was no HTTP request (a lifecycle expiry)
    path: str  # URL path, percent-decoded once, without query string; for S3 "/" + the object key
    status: int  # 0 when the log has none (CloudFront's "000": the listener left before any answer)
    bytes_sent: int  # 0 when "-"
    range_start: int | None = None  # first byte served, when the log says it
    range_end: int | None = None  # last byte served, inclusive, when the log says it


@dataclass(frozen=True)
class LogLineError:
    """A line that could not be read: its number in the input (from 1, counting every line) and why."""

    line_number: int
    reason: str


class _Unreadable(ValueError):
    """Why the line at hand cannot be read; becomes a LogLineError."""


def read_log(lines: Iterable[str], fmt: str) -> Iterator[LoggedRequest | LogLineError]:
    """One item per line that is neither blank nor a comment ("#..."), in order; `fmt` is one of FORMATS."""
    if fmt == "combined":
        return _read(lines, _combined)
    if fmt == "s3":
        return _read(lines, _s3)
    if fmt == "cloudfront":
        cloudfront = _CloudFront()
        return _read(lines, cloudfront.parse, cloudfront.header)
    raise ValueError(f"Unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}.")


def _read(
    lines: Iterable[str],
    parse: Callable[[str], LoggedRequest],
    header: Callable[[str], None] | None = None,
) -> Iterator[LoggedRequest | LogLineError]:
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if number == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        if line.startswith("#"):
            if header is not None:
                header(line)
            continue
        try:
            yield parse(line)
        except _Unreadable as error:
            yield LogLineError(number, str(error))
        except (ValueError, OverflowError):  # a date or number past what Python's types hold
            yield LogLineError(number, "a value on this line is out of range")


# A double-quoted field in which \" and \\ (Apache) or \x22 (nginx) stand for the characters themselves.
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_COMBINED = re.compile(
    rf"(\S+) \S+ \S+ \[([^\]]+)\] {_QUOTED} (\d{{3}}) (\d+|-)"
    # Without the two last fields this is the "common" format, which names no app.
    rf"(?: {_QUOTED} {_QUOTED})?(?:\s|$)"
)
_REQUEST_METHOD = re.compile(r"[A-Za-z][A-Za-z-]*")


def _combined(line: str) -> LoggedRequest:
    match = _COMBINED.match(line)
    if match is None:
        # The line itself is not repeated: it starts with a listener's address (docs/analytics.md, Privacy).
        raise _Unreadable("not a combined log line")
    address, time, request, status, size, _referer, agent = match.groups()
    method, path = _request_line(_unescape(request))
    return LoggedRequest(
        time=_clf_time(time),
        address=address,
        user_agent=_unescape(agent) if agent not in (None, "-") else "",
        method=method,
        path=path,
        status=int(status),
        bytes_sent=_count(size),
    )


def _request_line(request: str) -> tuple[str, str]:
    parts = request.split(" ")
    if len(parts) >= 3 and parts[-1].startswith("HTTP/"):
        # A client may send raw spaces in its target; they belong to the path.
        method, target = parts[0], " ".join(parts[1:-1])
    elif len(parts) == 2:
        method, target = parts  # HTTP/0.9 names no protocol
    else:
        raise _Unreadable(f"the request {_excerpt(request)} is not 'METHOD PATH PROTOCOL'")
    if not _REQUEST_METHOD.fullmatch(method):
        raise _Unreadable(f"the request {_excerpt(request)} has no method")
    if target.startswith("/"):
        path = target.partition("?")[0].partition("#")[0]
    elif "://" in target:  # proxies are sent absolute URLs
        path = urlsplit(target).path or "/"
    elif target == "*":
        path = target
    else:
        raise _Unreadable(f"the request {_excerpt(request)} names no path")
    return method.upper(), unquote(path)


# CloudFront standard logging's columns, in its order.
_STANDARD_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) "
    "cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol "
    "cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type "
    "cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte "
    "x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end"
)


class _CloudFront:
    """Reads CloudFront's tab-separated lines by the column names of the last "#Fields:" header."""

    # For a file cut from its headers.
    DEFAULT_FIELDS = _STANDARD_FIELDS.split()
    REQUIRED = ("date", "time", "c-ip", "cs-method", "cs-uri-stem", "sc-status")

    def __init__(self) -> None:
        self.fields: list[str] = list(self.DEFAULT_FIELDS)

    def header(self, line: str) -> None:
        name, _, value = line[1:].partition(":")
        if name.strip().lower() == "fields":
            self.fields = value.split()

    def parse(self, line: str) -> LoggedRequest:
        values = line.split("\t")
        if len(values) != len(self.fields):
            raise _Unreadable(
                f"{len(values)} tab-separated fields where the #Fields header names {len(self.fields)}"
            )
        row = dict(zip(self.fields, values, strict=True))
        missing = [name for name in self.REQUIRED if name not in row]
        if missing:
            raise _Unreadable(f"the #Fields header names no {', '.join(missing)}")
        try:
            time = datetime.strptime(f"{row['date']} {row['time']}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            raise _Unreadable(f"{_excerpt(row['date'] + ' ' + row['time'])} is not a date and time") from None
        agent = row.get("cs(User-Agent)", "-")
        return LoggedRequest(
            time=time,
            address=row["c-ip"],
            # CloudFront percent-encodes spaces, "%" and more; decoding twice would turn a "%41" sent into A.
            user_agent=unquote(agent) if agent != "-" else "",
            method=row["cs-method"],
            path=unquote(row["cs-uri-stem"]),
            status=_count(row["sc-status"], "status"),
            bytes_sent=_count(row.get("sc-bytes", "-"), "sc-bytes"),
            range_start=_optional_count(row.get("sc-range-start", "-"), "sc-range-start"),
            range_end=_optional_count(row.get("sc-range-end", "-"), "sc-range-end"),
        )


_S3 = re.compile(
    # bucket_owner bucket [time] remote_ip requester request_id operation key
    r"\S+ \S+ \[([^\]]+)\] (\S+) \S+ \S+ (\S+) (\S+) "
    # "request_uri" (a bare "-" for S3's own operations) http_status error_code bytes_sent object_size
    # total_time turn_around_time
    rf"(?:{_QUOTED}|-) (\d{{3}}|-) \S+ (\d+|-) \S+ \S+ \S+ "
    # "referer" "user_agent", then version_id and more, which are not read
    rf"(?:{_QUOTED}|-) (?:{_QUOTED}|-)(?:\s|$)"
)
_S3_METHODS = {"REST.GET.OBJECT": "GET", "REST.HEAD.OBJECT": "HEAD"}


def _s3(line: str) -> LoggedRequest:
    match = _S3.match(line)
    if match is None:
        raise _Unreadable("not an S3 access log line")
    time, address, operation, key, request, status, size, _referer, agent = match.groups()
    method = _S3_METHODS.get(operation)
    if method is None:
        method = _unescape(request).partition(" ")[0].upper() if request else ""
    return LoggedRequest(
        time=_clf_time(time),
        address=address,
        user_agent=_unescape(agent) if agent not in (None, "-") else "",
        method=method,
        path="/" + (unquote(key) if key != "-" else ""),
        status=_count(status, "status"),
        bytes_sent=_count(size),
    )


_MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES.split(), 1)}
_CLF_TIME = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")


def _clf_time(text: str) -> datetime:
    """10/Oct/2026:13:55:36 -0700, as UTC; read by hand because strptime's %b follows the locale."""
    match = _CLF_TIME.fullmatch(text)
    month = _MONTHS.get(match.group(2)) if match else None
    if match is None or month is None:
        raise _Unreadable(f"{_excerpt(text)} is not a log time")
    day, _, year, hour, minute, second, sign, offset_hours, offset_minutes = match.groups()
    offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
    try:
        local = datetime(
            int(year),
            month,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(-offset if sign == "-" else offset),
        ).astimezone(UTC)
    except (ValueError, OverflowError):
        raise _Unreadable(f"{_excerpt(text)} is not a log time") from None
    return local


def _count(text: str, name: str = "bytes") -> int:
    if text == "-":
        return 0
    if not (text.isascii() and text.isdigit()):
        raise _Unreadable(f"the {name} {_excerpt(text)} is not a number")
    if len(text) > _MAX_DIGITS:
        raise _Unreadable(f"the {name} {_excerpt(text)} is too large")
    return int(text)


# A petabyte has 16 digits: a larger count in a log line is a mistake, and would overflow a database column.
_MAX_DIGITS = 16


def _optional_count(text: str, name: str) -> int | None:
    return None if text == "-" else _count(text, name)


_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)", re.DOTALL)
_ESCAPED_CONTROLS = {"n": "\n", "r": "\r", "t": "\t", "v": "\v", "f": "\f", "b": "\b"}


def _unescape(text: str) -> str:
    """A quoted field's text: Apache's \\" \\\\ \\n and \\xhh escapes and nginx's \\xhh, UTF-8 rejoined."""
    if "\\" not in text:
        return text
    decoded = bytearray()
    position = 0
    for match in _ESCAPE.finditer(text):
        decoded += text[position : match.start()].encode("utf-8", "surrogatepass")
        code = match.group(1)
        if len(code) == 3:
            decoded.append(int(code[1:], 16))
        else:
            decoded += _ESCAPED_CONTROLS.get(code, code).encode("utf-8", "surrogatepass")
        position = match.end()
    decoded += text[position:].encode("utf-8", "surrogatepass")
    return decoded.decode("utf-8", "replace")


def _excerpt(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
