"""Listener countries from a MaxMind-format database: lookups, record layouts, files that are no database."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from mmdb import write_country_db
from mmdb_writer import MMDBWriter
from netaddr import IPNetwork, IPSet

from podcast_host.analytics.geo import UNKNOWN, CountryLookup, GeoDatabaseError

NETWORKS = {"81.2.69.0/24": "GB", "2a01:e00::/26": "FR", "2001:db8::/32": "DE", "198.51.100.0/24": "JP"}


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_country_db(tmp_path_factory.mktemp("geo") / "countries.mmdb", NETWORKS)


@pytest.fixture
def geo(db_path: Path) -> Iterator[CountryLookup]:
    lookup = CountryLookup(str(db_path))
    yield lookup
    lookup.close()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("81.2.69.142", "GB"),
        ("81.2.69.0", "GB"),
        ("81.2.69.255", "GB"),
        ("198.51.100.7", "JP"),
        ("81.2.70.1", UNKNOWN),
        ("8.8.8.8", UNKNOWN),
        ("2a01:e0a:1:2::3", "FR"),
        ("2001:db8:85a3::8a2e:370:7334", "DE"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "DE"),
        ("2001:db9::1", UNKNOWN),
        ("2606:4700::1111", UNKNOWN),
    ],
)
def test_addresses_inside_a_network_get_its_country(geo: CountryLookup, address: str, expected: str) -> None:
    assert geo.country(address) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("::ffff:81.2.69.142", "GB"),  # a dual-stack server's way of logging an IPv4 client
        ("::FFFF:198.51.100.7", "JP"),
        ("[2001:db8::1]", "DE"),
        (" 81.2.69.142\n", "GB"),
        ("2001:db8::1%eth0", "DE"),
    ],
)
def test_addresses_as_servers_log_them_are_read(geo: CountryLookup, address: str, expected: str) -> None:
    assert geo.country(address) == expected


@pytest.mark.parametrize(
    "address",
    ["", "-", "unknown", "not-an-ip", "81.2.69", "81.2.69.142.1", "999.2.69.142", "2001:db8::g", "[::1"],
)
def test_garbage_addresses_are_unknown(geo: CountryLookup, address: str) -> None:
    assert geo.country(address) == UNKNOWN


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.10", "127.0.0.1", "::1", "fe80::1", "0.0.0.0"])
def test_private_and_loopback_addresses_are_unknown(geo: CountryLookup, address: str) -> None:
    assert geo.country(address) == UNKNOWN


def test_no_database_answers_unknown_for_everything() -> None:
    geo = CountryLookup(None)
    assert geo.country("81.2.69.142") == UNKNOWN
    assert geo.country("2001:db8::1") == UNKNOWN
    geo.close()


def test_ipv6_in_an_ipv4_only_database_is_unknown(tmp_path: Path) -> None:
    path = write_country_db(tmp_path / "v4.mmdb", {"81.2.69.0/24": "GB"}, ip_version=4)
    with CountryLookup(str(path)) as geo:
        assert geo.country("81.2.69.142") == "GB"
        assert geo.country("::ffff:81.2.69.142") == "GB"
        assert geo.country("2001:db8::1") == UNKNOWN


def test_a_missing_file_is_refused_in_one_sentence_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "GeoLite2-Country.mmdb"
    with pytest.raises(GeoDatabaseError) as refused:
        CountryLookup(str(path))
    message = str(refused.value)
    assert str(path) in message
    assert "does not exist" in message
    assert message.endswith(".") and message.count(". ") == 0


@pytest.mark.parametrize("content", ["81.2.69.0/24,GB\n2001:db8::/32,FR\n" * 50, ""])
def test_a_file_that_is_no_maxmind_database_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "countries.mmdb"
    path.write_text(content)
    with pytest.raises(GeoDatabaseError, match="is not a MaxMind DB file") as refused:
        CountryLookup(str(path))
    assert str(path) in str(refused.value)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match="is a directory") as refused:
        CountryLookup(str(tmp_path))
    assert str(tmp_path) in str(refused.value)


def _write_records(path: Path, records: dict[str, Any]) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="Test-Country")
    for network, record in records.items():
        writer.insert_network(IPSet([IPNetwork(network)]), record)
    writer.to_db_file(str(path))
    return path


def test_other_database_layouts_are_read(tmp_path: Path) -> None:
    path = _write_records(
        tmp_path / "layouts.mmdb",
        {
            # GeoIP2-City: the full record; the code is all that is read.
            "1.0.0.0/24": {
                "city": {"names": {"en": "Lyon"}},
                "continent": {"code": "EU"},
                "country": {"iso_code": "FR", "names": {"en": "France"}},
                "registered_country": {"iso_code": "FR"},
            },
            # Only the registered country is known (a satellite link, say).
            "1.0.1.0/24": {"registered_country": {"iso_code": "NL"}},
            "1.0.2.0/24": {"country_code": "BR"},  # ipinfo lite
            "1.0.3.0/24": {"country": "ca", "country_name": "Canada"},  # ipinfo country, in lower case
            "1.0.4.0/24": {"country": {"iso_code": "ZZ"}},  # "unknown" by convention
            "1.0.5.0/24": {"country": {"iso_code": "A1"}},  # MaxMind's legacy "anonymous proxy"
            "1.0.6.0/24": {"autonomous_system_number": 64496},  # an ASN database: no country at all
            "1.0.7.0/24": {"country": {"iso_code": "ZZ"}, "registered_country": {"iso_code": "SE"}},
            "1.0.8.0/24": "GB",  # not a map
        },
    )
    with CountryLookup(str(path)) as geo:
        answers = [geo.country(f"1.0.{n}.1") for n in range(9)]
    assert answers == ["FR", "NL", "BR", "CA", UNKNOWN, UNKNOWN, UNKNOWN, "SE", UNKNOWN]


def test_lookups_after_close_are_unknown(db_path: Path) -> None:
    geo = CountryLookup(str(db_path))
    assert geo.country("81.2.69.142") == "GB"
    geo.close()
    geo.close()
    assert geo.country("81.2.69.142") == UNKNOWN


def test_one_lookup_serves_concurrent_threads(geo: CountryLookup) -> None:
    addresses = ["81.2.69.142", "2a01:e0a::1", "2001:db8::1", "8.8.8.8", "::ffff:198.51.100.7"] * 400
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(geo.country, addresses))
    assert answers == ["GB", "FR", "DE", UNKNOWN, "JP"] * 400
