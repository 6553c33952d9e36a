"""Listener countries: the ISO country code of a client address, read from a MaxMind-format (.mmdb) database.

Works with GeoLite2/GeoIP2 Country and City, DB-IP's country lite and ipinfo's country databases. A lookup
never raises: an address the database cannot place is UNKNOWN.
"""

from __future__ import annotations

import ipaddress
import os
import re
from types import TracebackType

import maxminddb
from maxminddb.types import Record

UNKNOWN = "unknown"
# Codes that name no country: "ZZ" is the conventional "unknown"; MaxMind's legacy "A1"/"O1" fail the pattern.
_NOT_A_COUNTRY = {"ZZ"}
_ALPHA_2 = re.compile(r"[A-Z]{2}")


class GeoDatabaseError(Exception):
    """The configured country database cannot be used; str() is one sentence naming the file."""


class CountryLookup:
    """Country of a listener's address; one shared instance serves concurrent readers.

    maxminddb's reader (its C extension and its pure Python fallback alike) is safe for concurrent lookups, so
    threads need no lock of their own; only close() must wait until lookups are done.
    """

    def __init__(self, path: str | None) -> None:
        """Open the database at `path`; with None there is none and every answer is UNKNOWN."""
        self._reader: maxminddb.Reader | None = None
        if path is None:
            return
        if os.path.isdir(path):
            raise GeoDatabaseError(f"The country database {path} is a directory, not a MaxMind DB file.")
        try:
            self._reader = maxminddb.open_database(path)
        except FileNotFoundError:
            raise GeoDatabaseError(f"The country database {path} does not exist.") from None
        except OSError as error:
            reason = error.strerror or str(error)
            raise GeoDatabaseError(f"The country database {path} could not be read ({reason}).") from error
        except (maxminddb.InvalidDatabaseError, ValueError) as error:
            # ValueError: the pure Python reader's answer to an empty file, which it cannot map.
            raise GeoDatabaseError(f"The country database {path} is not a MaxMind DB file.") from error

    def country(self, address: str) -> str:
        """ISO 3166-1 alpha-2 code in upper case ("FR") of a raw client address, else UNKNOWN."""
        reader = self._reader
        ip = _parse_address(address)
        if reader is None or ip is None:
            return UNKNOWN
        try:
            record = reader.get(ip)
        except ValueError:
            # An IPv6 address in an IPv4-only database, or a lookup racing close().
            return UNKNOWN
        return _country_code(record)

    def close(self) -> None:
        """Release the database; later lookups answer UNKNOWN."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def __enter__(self) -> CountryLookup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _parse_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = address.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    # A zone ("fe80::1%eth0") only matters on the host that logged it.
    text = text.partition("%")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # Dual-stack servers log IPv4 clients as ::ffff:a.b.c.d; not every database aliases that range to its IPv4
    # tree, so look the IPv4 address up itself.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _country_code(record: Record | None) -> str:
    if not isinstance(record, dict):
        return UNKNOWN
    # GeoIP2/GeoLite2 and DB-IP: {"country": {"iso_code": ..}}, with the registered country when the physical
    # one is not known; ipinfo: {"country": "FR"} or {"country_code": "FR"}.
    for field in ("country", "registered_country", "country_code"):
        value = record.get(field)
        if isinstance(value, dict):
            value = value.get("iso_code")
        if isinstance(value, str):
            code = value.strip().upper()
            if _ALPHA_2.fullmatch(code) and code not in _NOT_A_COUNTRY:
                return code
    return UNKNOWN
