"""Tiny MaxMind-format country databases for tests, laid out like GeoLite2-Country."""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPNetwork, IPSet


def write_country_db(path: Path | str, networks: dict[str, str], ip_version: int = 6) -> Path:
    """Write `networks` ({"81.2.69.0/24": "GB", "2001:db8::/32": "FR"}) as a country database at `path`.

    An IPv6 database (the default, as GeoLite2 ships) holds IPv4 networks too, in its ::/96 range where
    readers look IPv4 addresses up; ip_version=4 writes an IPv4-only one.
    """
    writer = MMDBWriter(
        ip_version=ip_version,
        ipv4_compatible=ip_version == 6,
        database_type="GeoLite2-Country",
        languages=["en"],
        description="Test countries",
    )
    for network, code in networks.items():
        writer.insert_network(IPSet([IPNetwork(network)]), {"country": {"iso_code": code}})
    path = Path(path)
    writer.to_db_file(str(path))
    return path
