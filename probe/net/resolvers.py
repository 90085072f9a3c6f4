"""Which resolver a run tests: the system's, from /etc/resolv.conf (resolv.conf(5)), or one named as ADDR[:PORT].

The system resolver's address never enters a result file: it may be a LAN box that names the volunteer's network,
so its label is `system`; a named resolver that is not globally routable is `[private]`.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

RESOLV_CONF = Path("/etc/resolv.conf")
DNS_PORT = 53


class ResolverError(ValueError):
    """A resolver named as ADDR[:PORT] that is not one; the message says what is wrong, not where it came from."""


class NoSystemResolver(OSError):
    """/etc/resolv.conf cannot be read or names no resolver: nothing can be measured without naming one."""


@dataclass(frozen=True)
class Resolver:
    address: str
    port: int
    label: str  # how result files name it


def system(path: Path = RESOLV_CONF) -> Resolver:
    """The first `nameserver` of resolv.conf that is an IP address (a zone index, `%eth0`, is dropped)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise NoSystemResolver(f"cannot read {path} ({exc.strerror})") from exc
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            address = parts[1].split("%", 1)[0]
            try:
                ipaddress.ip_address(address)
            except ValueError:
                continue
            return Resolver(address, DNS_PORT, "system")
    raise NoSystemResolver(f"{path} names no resolver")


def parse(text: str) -> Resolver:
    """ADDR, ADDR:PORT or [IPv6]:PORT. Raises ResolverError."""
    address, port = _split_host_port(text)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ResolverError("not an IP address (ADDR or ADDR:PORT, IPv6 as [ADDR]:PORT)") from None
    if not 0 < port < 65536:
        raise ResolverError("port must be 1-65535")
    label = "[private]" if not ip.is_global else (f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}")
    return Resolver(str(ip), port, label)


def _split_host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else str(DNS_PORT)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(DNS_PORT)
    try:
        return host, int(port)
    except ValueError:
        raise ResolverError("port must be a number") from None


# Names that only a local network resolves (RFC 6762 .local, RFC 8375 home.arpa, and common private suffixes).
_LOCAL_SUFFIXES = (".local", ".lan", ".home", ".home.arpa", ".internal", ".intranet", ".localdomain", ".corp")


@functools.lru_cache(maxsize=64)  # asked for every DoH record of a result file: some 2,000 at 1000 endpoints
def doh_label(url: str) -> str:
    """How result files name a DoH resolver: its URL without credentials (`user:password@`, a query string, a
    fragment), and with `[private]` for a host that only a local network knows (an address that is not globally
    routable, a name under .local, .lan, home.arpa..., a name of one label), as for `--resolver`. Issue 21:
    `--doh https://10.1.2.3/dns-query` and `fd00::1` appeared 52 times each in a result file."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        private = not ipaddress.ip_address(host).is_global
    except ValueError:
        private = "." not in host.rstrip(".") or host.rstrip(".").endswith(_LOCAL_SUFFIXES)
    if private:
        netloc = "[private]"
    else:
        netloc = f"[{host}]" if ":" in host else host
        with contextlib.suppress(ValueError):
            netloc += f":{parts.port}" if parts.port else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
