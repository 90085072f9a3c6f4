"""Where the probe stands, as result files say it: a country code and an AS number, nothing finer.

The probe never asks a web service where it is (that would tell a third party that this address runs a probe).
In order:
1. `probe_cc` / `probe_asn` from the configuration (or PROBE_CC / PROBE_ASN);
2. else the MaxMind-format databases the volunteer points at (`geoip_db`: GeoLite2/GeoIP2 Country or ASN, DB-IP
   lite, IPinfo lite, ...), looked up on this machine with `geoip_address` if set, else with the public address
   this machine itself holds on its default route (a VPS has one; behind NAT there is none, and the volunteer sets
   `geoip_address` or the codes). Finding that address sends no packet: connecting a UDP socket only asks the
   kernel's routing table. The address is used for the lookup and forgotten; it is never written anywhere;
3. else `ZZ` / `AS0`, OONI's "unknown".
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe import readfile
from probe.local.config import Location as LocationSettings

UNKNOWN_CC = "ZZ"
UNKNOWN_ASN = "AS0"

# Route lookups only (see the module docstring): no packet goes to these.
_ROUTE_PROBES = (("8.8.8.8", socket.AF_INET), ("2001:4860:4860::8888", socket.AF_INET6))


class GeoError(Exception):
    """A configured database cannot be used (missing, unreadable, not MaxMind format, reader not installed)."""


@dataclass(frozen=True)
class Where:
    probe_cc: str
    probe_asn: str
    source: str  # configuration | geoip | unknown, or a mix ("configuration+geoip")


def public_address() -> str | None:
    """The global address this machine would send from toward the Internet, if it holds one; else None."""
    for destination, family in _ROUTE_PROBES:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((destination, 53))
                address = str(sock.getsockname()[0]).split("%", 1)[0]
        except OSError:
            continue
        if ipaddress.ip_address(address).is_global:
            return address
    return None


def locate(settings: LocationSettings, own_address: Callable[[], str | None] = public_address) -> Where:
    """The probe's country and network. Raises GeoError when a configured database cannot be used."""
    cc, asn = settings.probe_cc, settings.probe_asn
    sources = ["configuration"] if cc or asn else []
    if (cc is None or asn is None) and settings.geoip_db:
        address = settings.geoip_address or own_address()
        if address is not None:
            found_cc, found_asn = lookup(settings.geoip_db, address)
            if (cc is None and found_cc) or (asn is None and found_asn):
                sources.append("geoip")
            cc = cc or found_cc
            asn = asn or found_asn
    return Where(cc or UNKNOWN_CC, asn or UNKNOWN_ASN, "+".join(sources) or "unknown")


def lookup(databases: tuple[Path, ...], address: str) -> tuple[str | None, str | None]:
    """(country code, "AS<n>") for `address` from the first database that knows each."""
    cc: str | None = None
    asn: str | None = None
    for path in databases:
        with _open(path) as reader:
            try:
                record = reader.get(address)
            except ValueError as exc:
                raise GeoError(f"geoip_db {path}: not a readable MaxMind database ({exc})") from None
        if isinstance(record, Mapping):
            cc = cc or _country(record)
            asn = asn or _asn(record)
    return cc, asn


def _country(record: Mapping[str, Any]) -> str | None:
    for key in ("country", "registered_country"):  # GeoIP2 / GeoLite2 / DB-IP layout
        value = record.get(key)
        if isinstance(value, Mapping) and isinstance(value.get("iso_code"), str):
            return str(value["iso_code"]).upper()
    code = record.get("country_code")  # IPinfo layout
    return code.upper() if isinstance(code, str) and len(code) == 2 else None


def _asn(record: Mapping[str, Any]) -> str | None:
    number = record.get("autonomous_system_number")  # GeoLite2-ASN / DB-IP layout
    if isinstance(number, int) and number > 0:
        return f"AS{number}"
    text = record.get("asn")  # IPinfo layout: "AS4766"
    if isinstance(text, str) and text.upper().startswith("AS") and text[2:].isdigit():
        return f"AS{int(text[2:])}"
    return None


def asn_lookup(databases: tuple[Path, ...]) -> Callable[[str], int | None]:
    """A function from an address to its AS number, from the MaxMind-format databases given (opened once; an
    address none of them knows gives None). Raises GeoError when a database cannot be used."""
    readers = [_open(path) for path in databases]

    def asn_of(address: str) -> int | None:
        for reader in readers:
            try:
                record = reader.get(address)
            except ValueError:  # not an address this database can hold
                continue
            found = _asn(record) if isinstance(record, Mapping) else None
            if found is not None:
                return int(found[2:])
        return None

    return asn_of


def _open(path: Path) -> Any:
    """The reader of the MaxMind database at `path`; GeoError when it cannot be used. A regular file only: a FIFO
    named as `geoip_db` kept the run waiting for ever, after measuring and holding the run lock (issue 21)."""
    try:
        import maxminddb
    except ImportError:
        raise GeoError("geoip_db needs the MaxMind reader: pip install 'probe[geo]'") from None
    try:
        readfile.check(path, readfile.GEOIP_DATABASE)
        return maxminddb.open_database(str(path))
    except FileNotFoundError:
        raise GeoError(f"geoip_db {path}: no such file") from None
    except OSError as exc:
        raise GeoError(f"geoip_db {path}: {exc.strerror or exc}") from None
    except (ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise GeoError(f"geoip_db {path}: not a readable MaxMind database ({exc})") from None
