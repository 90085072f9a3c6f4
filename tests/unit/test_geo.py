"""Where the probe is: configuration first, then MaxMind-format databases (real files, read by the real
`maxminddb` reader), else ZZ/AS0; never a web service."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import mmdb_writer
import netaddr
import pytest

from probe.local import geo
from probe.local.config import Location


def database(path: Path, kind: str, networks: dict[str, dict[str, Any]]) -> Path:
    writer = mmdb_writer.MMDBWriter(ip_version=6, database_type=kind, ipv4_compatible=True)
    for network, record in networks.items():
        writer.insert_network(netaddr.IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def maxmind(tmp_path: Path) -> tuple[Path, Path]:
    """A GeoLite2-Country and a GeoLite2-ASN database, in MaxMind's own record layout."""
    country = database(
        tmp_path / "GeoLite2-Country.mmdb",
        "GeoLite2-Country",
        {
            "203.0.113.0/24": {"country": {"iso_code": "KR", "names": {"en": "South Korea"}}},
            "2001:db8::/32": {"registered_country": {"iso_code": "IR"}},
        },
    )
    asn = database(
        tmp_path / "GeoLite2-ASN.mmdb",
        "GeoLite2-ASN",
        {"203.0.113.0/25": {"autonomous_system_number": 4766, "autonomous_system_organization": "Korea Telecom"}},
    )
    return country, asn


def never() -> str | None:
    raise AssertionError("the machine's own address must not be looked for")


def test_configuration_wins_and_nothing_is_looked_up(maxmind: tuple[Path, Path]) -> None:
    where = geo.locate(Location(probe_cc="DE", probe_asn="AS3320", geoip_db=maxmind), own_address=never)
    assert where == geo.Where("DE", "AS3320", "configuration")


def test_databases_with_an_address_the_volunteer_gives(maxmind: tuple[Path, Path]) -> None:
    where = geo.locate(Location(geoip_db=maxmind, geoip_address="203.0.113.7"), own_address=never)
    assert where == geo.Where("KR", "AS4766", "geoip")


def test_databases_fill_only_what_the_configuration_leaves_open(maxmind: tuple[Path, Path]) -> None:
    where = geo.locate(Location(probe_cc="JP", geoip_db=maxmind, geoip_address="203.0.113.7"))
    assert where == geo.Where("JP", "AS4766", "configuration+geoip")


def test_databases_with_the_machines_own_public_address(maxmind: tuple[Path, Path]) -> None:
    asked = []

    def own() -> str | None:
        asked.append(True)
        return "203.0.113.200"  # in the country database, outside the ASN one

    assert geo.locate(Location(geoip_db=maxmind), own_address=own) == geo.Where("KR", "AS0", "geoip")
    assert asked == [True]


def test_registered_country_and_ipv6(maxmind: tuple[Path, Path]) -> None:
    assert geo.lookup(maxmind, "2001:db8::1") == ("IR", None)


def test_ipinfo_layout(tmp_path: Path) -> None:
    db = database(tmp_path / "ipinfo.mmdb", "ipinfo lite", {"198.51.100.0/24": {"country_code": "mm", "asn": "AS9988"}})
    assert geo.lookup((db,), "198.51.100.9") == ("MM", "AS9988")


def test_unknown_without_databases_or_address(maxmind: tuple[Path, Path]) -> None:
    assert geo.locate(Location(), own_address=never) == geo.Where("ZZ", "AS0", "unknown")
    assert geo.locate(Location(geoip_db=maxmind), own_address=lambda: None).probe_cc == "ZZ"
    assert geo.locate(Location(geoip_db=maxmind, geoip_address="192.0.2.1")) == geo.Where("ZZ", "AS0", "unknown")


def test_unusable_databases_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "absent.mmdb"
    with pytest.raises(geo.GeoError, match=f"geoip_db {missing}: no such file"):
        geo.lookup((missing,), "203.0.113.1")
    garbage = tmp_path / "garbage.mmdb"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(geo.GeoError, match="not a readable MaxMind database"):
        geo.lookup((garbage,), "203.0.113.1")


def test_public_address_is_global_or_none() -> None:
    """Asks only the routing table (no packet); whatever it returns must be a global address."""
    found = geo.public_address()
    assert found is None or ipaddress.ip_address(found).is_global
