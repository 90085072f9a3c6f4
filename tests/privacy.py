"""What identifies the machine a probe runs on, and a scan of result files for any of it.

Addresses are compared as addresses (every token that parses as one, in any spelling), names and paths as text.
Loopback addresses are left out: `probe_ip` is OONI's placeholder 127.0.0.1 by design.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pwd
import re
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ADDRESS_TOKEN = re.compile(r"[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*")
_MAC = re.compile(r"(?<![0-9a-f:])(?:[0-9a-f]{2}:){5}[0-9a-f]{2}(?![0-9a-f:])", re.IGNORECASE)


@dataclass
class Identity:
    """Everything that must not appear in a result file."""

    addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = field(default_factory=set)
    macs: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)  # host names, user names, paths, machine id

    def add_addresses(self, addresses: Iterable[str]) -> None:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if not address.is_loopback and not address.is_unspecified:
                self.addresses.add(address)

    def add_texts(self, texts: Iterable[str | Path | None]) -> None:
        for text in texts:
            if text and len(str(text)) >= 3 and str(text) not in ("/", "/tmp"):
                self.texts.add(str(text))


def interfaces(netns: str | None = None) -> tuple[list[str], list[str]]:
    """(addresses, MACs) of every interface, from `ip -j` (inside `netns` when given)."""
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    addrs = json.loads(subprocess.run([*prefix, "-j", "address", "show"], capture_output=True, check=True).stdout)
    found = [a["local"] for link in addrs for a in link.get("addr_info", []) if a.get("local")]
    macs = [link.get("address", "") for link in addrs]
    return found, [m for m in macs if _MAC.fullmatch(m or "") and m != "00:00:00:00:00:00"]


def resolvers() -> list[str]:
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return []
    return [p[1] for p in (line.split() for line in lines) if len(p) >= 2 and p[0] == "nameserver"]


def machine(
    extra_addresses: Iterable[str] = (), extra_texts: Iterable[str | Path | None] = (), *, netns: str | None = None
) -> Identity:
    """The identity of this machine (the host's interfaces and resolvers, and those of `netns`), plus extras."""
    identity = Identity()
    host_addresses, host_macs = interfaces()
    identity.add_addresses([*host_addresses, *resolvers(), *extra_addresses])
    identity.macs.update(m.lower() for m in host_macs)
    if netns:
        ns_addresses, ns_macs = interfaces(netns)
        identity.add_addresses(ns_addresses)
        identity.macs.update(m.lower() for m in ns_macs)
    user = pwd.getpwuid(os.getuid())
    machine_id = Path("/etc/machine-id").read_text().strip() if Path("/etc/machine-id").exists() else None
    hostname = socket.gethostname()
    identity.add_texts(
        [
            hostname if len(hostname) >= 4 else None,  # "vm" would match ordinary words; the tests add a long one
            user.pw_name if user.pw_name != "root" else None,
            user.pw_dir,
            os.environ.get("HOME"),
            str(Path.cwd()),
            sys.prefix,
            machine_id,
            *extra_texts,
        ]
    )
    return identity


def strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def leaks(data: bytes, identity: Identity) -> list[str]:
    """Where `data` (a result file) names the machine: a list of findings, empty when it does not."""
    texts = [data.decode("utf-8", errors="replace")]
    for line in data.splitlines():
        if line.strip():
            texts.extend(strings(json.loads(line)))  # JSON escapes (\u002f ...) cannot hide anything
    found = set()
    for text in texts:
        for token in _ADDRESS_TOKEN.findall(text):
            for candidate in (token, token.strip(".:"), token.strip("[]").rsplit(":", 1)[0]):
                try:
                    address = ipaddress.ip_address(candidate)
                except ValueError:
                    continue
                if address in identity.addresses:
                    found.add(f"address {address} in {text[:120]!r}")
        for mac in _MAC.findall(text):
            if mac.lower() in identity.macs:
                found.add(f"MAC {mac}")
        for secret in identity.texts:
            if secret in text:
                found.add(f"{secret!r} in {text[:120]!r}")
    return sorted(found)
