"""Bogons: addresses that are never a public server's (OONI netxlite/bogon.go, RFC 6890, RFC 5737, RFC 3849).

A bogon answer counts against a name only when the trusted control resolves the name differently: the lab's
genuine servers live in documentation ranges, which are bogons too, and that rule is what keeps a clean lab
clean. Never special-case the lab here.
"""

from __future__ import annotations

import ipaddress
from functools import cache

_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
)
_V6 = (
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "::/96",
    "100::/64",
    "2001:10::/28",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
)  # 64:ff9b::/96 is absent on purpose: NAT64 synthesises those answers (RFC 6052), and they work (trap_dns64)
_NETWORKS = tuple(ipaddress.ip_network(n) for n in _V4 + _V6)
_V4_NETWORKS = tuple(n for n in _NETWORKS if n.version == 4)
FAKE_IP_PROXY = ipaddress.ip_network("198.18.0.0/15")  # Clash/Surge-style local proxies answer from here


def is_fake_ip(address: str) -> bool:
    """An answer from a local fake-IP proxy's range (198.18.0.0/15)."""
    try:
        return ipaddress.ip_address(address) in FAKE_IP_PROXY
    except ValueError:
        return False


@cache
def is_bogon(address: str) -> bool:
    """True for non-routable addresses, including IPv4 bogons embedded in 6to4 and Teredo addresses."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if any(ip in n for n in _NETWORKS if n.version == ip.version):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return any(embedded in n for n in _V4_NETWORKS)
    return False


# Addresses no remote server can have: this host itself, "no address", link-local and multicast. A resolver that
# answers one of these for a public name is lying, whatever the control says (RFC 6890: not forwardable, or
# not a unicast destination). The lab's documentation ranges are not among them.
_IMPOSSIBLE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fe80::/10", "ff00::/8",
    )
)  # fmt: skip


@cache
def is_impossible(address: str) -> bool:
    """True for an address that cannot be a remote server's: loopback, unspecified, link-local, multicast,
    reserved (Pi-hole's 0.0.0.0 and a censor's 127.0.0.1 alike)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in _IMPOSSIBLE if n.version == ip.version)
