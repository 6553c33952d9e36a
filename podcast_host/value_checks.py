"""The checks every Podcasting 2.0 value is built of (namespace_fields.py): a list of entries within its
limit, entries that are tables with known keys, one-line texts within a length, web addresses, numbers and
degrees, seconds and instants; each refusal names the field and the entry
(docs/feeds.md, "Podcasting 2.0 tags")."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from podcast_host.errors import Invalid, refusal

# The namespace asks aggregators to keep node values and attributes within these lengths.
MAX_NAME = 128
MAX_URL = 2000
# Characters no web address carries as they are (RFC 3986 2.2-2.4: they are percent-encoded), and that
# browsers read in their own way ("\" as "/"): refused rather than published in an href.
_NOT_IN_ADDRESSES = frozenset('"<>\\')
_JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner


def entries_of(value: object, field: str, limit: int) -> list[tuple[int, Mapping[str, Any]]]:
    """The entries of a list field, numbered from 1 for messages; None and [] are an empty list."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(refusal("The %(field)s must be a list.", field=field), field=field)
    if len(value) > limit:
        raise Invalid(refusal("At most %(limit)s %(field)s.", limit=limit, field=field), field=field)
    return [(n, mapping_of(entry, field, n)) for n, entry in enumerate(value, start=1)]


def mapping_of(value: object, field: str, n: int | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(where(field, n, refusal("each entry must be a table of named values")), field=field)
    return value


def check_known_keys(entry: Mapping[str, Any], known: tuple[str, ...], field: str, n: int | None) -> None:
    unknown = sorted(set(entry) - set(known))
    if unknown:
        raise Invalid(
            where(
                field,
                n,
                refusal("unknown key %(key)r (known: %(known)s)", key=unknown[0], known=", ".join(known)),
            ),
            field=field,
        )


def text_of(
    value: object, field: str, n: int | None, key: str, required: bool = False, limit: int = MAX_NAME
) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(where(field, n, refusal("%(key)s must be text", key=key)), field=field)
    text = " ".join(value.split()) if limit == MAX_NAME else value.strip()
    if required and not text:
        raise Invalid(where(field, n, refusal("%(key)s cannot be empty", key=key)), field=field)
    if len(text) > limit:
        raise Invalid(
            where(field, n, refusal("%(key)s is longer than %(limit)s characters", key=key, limit=limit)),
            field=field,
        )
    return text


def web_address_of(value: object, field: str, n: int | None, key: str) -> str:
    text = text_of(value, field, n, key, limit=MAX_URL)
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        usable = parts.scheme in ("http", "https") and _is_host(parts.hostname, parts.netloc)
        parts.port  # noqa: B018 (read for its ValueError: a port that is no number from 0 to 65535)
    except ValueError:  # an unbalanced "[" of an IPv6 host, a bad port
        usable = False
    if not usable or any(_unwritten(c) for c in text):
        raise Invalid(
            where(
                field,
                n,
                refusal("%(key)s must be an http(s) web address, not %(value)r", key=key, value=text),
            ),
            field=field,
        )
    return text


def _is_host(host: str | None, netloc: str) -> bool:
    """A host name (letters of any script, digits, hyphens, dots), an IPv4 address or a bracketed IPv6 one, as
    the API's own pattern has it; urlsplit would take anything between "//" and the path as a host."""
    if not host:
        return False
    if "[" in netloc:
        return all(c in "0123456789abcdef:." for c in host)
    labels = host.removesuffix(".").split(".")
    return all(label and label[0] != "-" and all(c.isalnum() or c == "-" for c in label) for label in labels)


def _unwritten(c: str) -> bool:
    """A character a web address may not hold as it is: a space, a control, an invisible format character such
    as the bidirectional overrides RFC 3987 (4.1) forbids in an address (the joiners that Persian and Indic
    words and emoji are spelled with stay), or one RFC 3986 has percent-encoded."""
    if c.isspace() or c in _NOT_IN_ADDRESSES:
        return True
    return unicodedata.category(c) == "Cc" or (unicodedata.category(c) == "Cf" and c not in _JOINERS)


def number_of(value: object, field: str, n: int | None, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(where(field, n, refusal("%(key)s must be a number", key=key)), field=field)
    try:
        number = float(value)
    except ValueError:
        raise Invalid(where(field, n, refusal("%(key)s must be a number", key=key)), field=field) from None
    if not math.isfinite(number):
        raise Invalid(where(field, n, refusal("%(key)s must be a number", key=key)), field=field)
    return number


def degrees_of(value: object, bound: int, field: str, n: int | None, key: str) -> float:
    degrees = number_of(value, field, n, key)
    if not -bound <= degrees <= bound:
        raise Invalid(
            where(
                field,
                n,
                refusal(
                    "%(key)s must be between -%(bound)s and %(bound)s, not %(value)s",
                    key=key,
                    bound=bound,
                    value=degrees,
                ),
            ),
            field=field,
        )
    return round(degrees, 7)


def seconds_of(value: object, field: str, n: int | None, key: str) -> float:
    if value is None:
        raise Invalid(where(field, n, refusal("%(key)s cannot be empty", key=key)), field=field)
    seconds = number_of(value, field, n, key)
    if seconds < 0:
        raise Invalid(where(field, n, refusal("%(key)s cannot be negative", key=key)), field=field)
    return round(seconds, 3)


def instant_of(value: object, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(
                refusal("The dtstart must be an ISO 8601 date and time, not %(value)r.", value=value),
                field=field,
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # the first or last day of the calendar, moved past its end by the offset
        raise Invalid(
            refusal("The dtstart must be an ISO 8601 date and time, not %(value)r.", value=value), field=field
        ) from None


def where(field: str, n: int | None, problem: str) -> str:
    """A refusal that names the entry it is about: "persons, entry 2: img must be …"."""
    if n is None:
        return refusal("%(field)s: %(problem)s.", field=field, problem=problem)
    return refusal("%(field)s, entry %(n)s: %(problem)s.", field=field, n=n, problem=problem)
