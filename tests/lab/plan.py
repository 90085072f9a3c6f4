"""Where everything lives in the lab: fixed infrastructure addresses, and an address for every host name of the
target lists, so the bundled lists run unchanged against lab servers.

Only documentation ranges are used (RFC 5737, RFC 3849). The links and the infrastructure take 198.51.100.0/24, the
services 203.0.113.0/24; 192.0.2.0/24 is left alone because the host's own eth0 sits in it. The lab is dual-stack:
every infrastructure and service address has an IPv6 twin with the same last number (`twin`: 198.51.100.53 ->
2001:db8:51::53, 203.0.113.20 -> 2001:db8:113::20), and the two links have their own /64s.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from probe import targets as target_lists
from probe.addresses import is_ip_address
from probe.model import Target

# The lab's own endpoints, measured beside the bundled lists (a data centre that speaks MTProto, a slow server).
LAB_LIST = Path(__file__).resolve().parent / "lab_targets.toml"
SLOW_HOSTS = ("slow-web.lab.example",)  # served slowly for every name at their address (nginx limit_rate)
SLOW_RATE = "48k"  # bytes per second: 64 KiB in about 1.4 s, slow next to the lab's line rate, cheap in time

# client <-> censor link, censor <-> server link (two /28s, so the routers' connected routes never overlap)
CLIENT = "198.51.100.2"
CENSOR_CLIENT_SIDE = "198.51.100.1"
CENSOR_SERVER_SIDE = "198.51.100.17"
SERVER = "198.51.100.18"
LINK_PREFIX = 28
CLIENT_LINK = "198.51.100.0/28"
SERVER_LINK = "198.51.100.16/28"

SYSTEM_RESOLVER = "198.51.100.53"  # unbound #1: the client's system resolver, the one censors tamper with
CONTROL_RESOLVER = "198.51.100.54"  # unbound #2: the clean control, DoH on 443 and plain DNS on 53
INTERCEPTOR = "198.51.100.66"  # TLS with certificates from an untrusted CA
SINKHOLE = "198.51.100.250"  # forged DNS answers point here: routed to the server side, nothing answers

LAB_PREFIXES = ("198.51.100.0/24", "203.0.113.0/24")
# Names served from one address, as a CDN serves them (issue 15: names that share an address spoil each other's
# measurements under residual blocking unless the probe orders its work per address). Each group takes the
# address of its first member; one address still carries tls or plain tcp on a port, not both.
SHARED_HOSTING: tuple[tuple[str, ...], ...] = (
    ("v.whatsapp.net", "web.whatsapp.com"),
    ("accounts.kakao.com", "www.kakao.com"),
)

# IPv6 (2001:db8::/32, RFC 3849): the links, and the twins of the infrastructure and service addresses
CLIENT6 = "2001:db8:0:1::2"
CENSOR_CLIENT_SIDE6 = "2001:db8:0:1::1"
CENSOR_SERVER_SIDE6 = "2001:db8:0:2::1"
SERVER6 = "2001:db8:0:2::2"
LINK_PREFIX6 = 64
CLIENT_LINK6 = "2001:db8:0:1::/64"
_TWIN_NETWORKS = {"198.51.100.": "2001:db8:51::", "203.0.113.": "2001:db8:113::"}
LAB_PREFIXES6 = tuple(f"{p}/64" for p in _TWIN_NETWORKS.values())


def twin(ipv4: str) -> str:
    """The IPv6 twin of a lab IPv4 address: the same last number in the matching /64 (198.51.100.53 ->
    2001:db8:51::53). The number is read as hex digits, so twins are unique and easy to read side by side."""
    for network, network6 in _TWIN_NETWORKS.items():
        if ipv4.startswith(network):
            return network6 + ipv4.removeprefix(network)
    raise ValueError(f"{ipv4} is not a lab address with an IPv6 twin")


SYSTEM_RESOLVER6 = twin(SYSTEM_RESOLVER)
CONTROL_RESOLVER6 = twin(CONTROL_RESOLVER)
INTERCEPTOR6 = twin(INTERCEPTOR)
SINKHOLE6 = twin(SINKHOLE)
SERVICE_NETWORK = ipaddress.ip_network("203.0.113.0/24")
_FIRST_SERVICE_HOST = 10  # 203.0.113.1-9 stay free for hand experiments


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of the target list as the lab serves it."""

    target: Target
    address: str | None  # None: an address literal the lab cannot serve (outside the lab ranges)
    address6: str | None = None  # its IPv6 address (`LabPlan.from_targets` gives every host name its twin)

    def address_of(self, family: int) -> str | None:
        return self.address if family == 4 else self.address6

    @property
    def families(self) -> tuple[int, ...]:
        """The address families the probe can reach this endpoint over (4, and 6 for a host name)."""
        return (4, 6) if self.address6 is not None else (4,)

    @property
    def key(self) -> tuple[str, str, int, str]:
        """How `probe run --json` names the endpoint: (service, host, port, protocol)."""
        return (self.target.service, self.target.host, self.target.port, self.target.protocol)

    @property
    def sni(self) -> str:
        return self.target.server_name


@dataclass(frozen=True)
class Select:
    """A subset of the target list's endpoints, by service, protocol and (optionally) host."""

    services: tuple[str, ...]
    protocols: tuple[str, ...] = ("tls", "tcp")
    hosts: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()

    def matches(self, endpoint: Endpoint) -> bool:
        t = endpoint.target
        return (
            t.service in self.services
            and t.protocol in self.protocols
            and (not self.hosts or t.host in self.hosts)
            and (not self.ports or t.port in self.ports)
        )


@dataclass(frozen=True)
class LabPlan:
    """Every endpoint with its lab address, and the host name -> address table the resolvers serve."""

    endpoints: tuple[Endpoint, ...]
    names: tuple[tuple[str, str], ...]  # (host name, address), for the resolvers and the certificates

    @classmethod
    def from_targets(cls, targets: Iterable[Target]) -> LabPlan:
        """Give each host name its own service address (in list order) and check the lab can serve the list:
        one address can carry tls or plain tcp on a port, not both."""
        targets = tuple(targets)
        literal = {t.host for t in targets if is_ip_address(t.host)}
        taken = {t.host for t in targets if t.host in literal and ipaddress.ip_address(t.host) in SERVICE_NETWORK}
        free = (str(ip) for ip in SERVICE_NETWORK.hosts() if int(ip.packed[-1]) >= _FIRST_SERVICE_HOST)
        names: dict[str, str] = {}
        hosted = {name: group[0] for group in SHARED_HOSTING for name in group}
        for t in targets:
            if t.host not in literal and t.host not in names:
                first = hosted.get(t.host, t.host)
                names[t.host] = names.get(first) or next(ip for ip in free if ip not in taken)
                names.setdefault(first, names[t.host])
        endpoints = []
        for t in targets:
            if t.host not in literal:  # every host name is dual-stack; an IPv4 literal has no IPv6 address
                endpoints.append(Endpoint(t, names[t.host], twin(names[t.host])))
            else:
                endpoints.append(Endpoint(t, t.host if t.host in taken else None))
        plan = cls(tuple(endpoints), tuple(names.items()))
        plan._check_sockets()
        return plan

    def _check_sockets(self) -> None:
        protocols: dict[tuple[str, int], str] = {}
        for e in self.served:
            assert e.address is not None
            seen = protocols.setdefault((e.address, e.target.port), e.target.protocol)
            if seen != e.target.protocol:
                raise ValueError(
                    f"the lab cannot serve {e.target.host}:{e.target.port} as both tls and tcp on one address"
                )

    def app_sockets(self) -> tuple[tuple[str, str, int], ...]:
        """(protocol, address, port) of every served endpoint that speaks a `first_message` protocol: served by
        that protocol's lab server, not by nginx."""
        out = {(e.target.first_message, e.address, e.target.port) for e in self.served if e.target.first_message}
        return tuple(sorted((p, a, port) for p, a, port in out if p is not None and a is not None))

    def pinned_names(self) -> dict[str, tuple[str, ...]]:
        """anchor name -> the tls names whose certificates come from that private CA (`ca`)."""
        out: dict[str, set[str]] = {}
        for e in self.served:
            if e.target.protocol == "tls" and e.target.ca:
                out.setdefault(e.target.ca, set()).add(e.sni)
        return {ca: tuple(sorted(names)) for ca, names in out.items()}

    def slow_addresses(self, family: int = 4) -> tuple[str, ...]:
        return tuple(
            sorted({a for e in self.served if e.target.host in SLOW_HOSTS and (a := e.address_of(family)) is not None})
        )

    @property
    def served(self) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.address is not None)

    def address_of(self, host: str) -> str:
        return dict(self.names)[host]

    @property
    def aaaa(self) -> dict[str, str]:
        """host name -> its IPv6 address, for the names that have one."""
        return {e.target.host: e.address6 for e in self.endpoints if e.address6 is not None}

    def select(self, selector: Select) -> tuple[Endpoint, ...]:
        """The served endpoints `selector` picks, in list order."""
        return tuple(e for e in self.served if selector.matches(e))

    def first(self, selector: Select) -> Endpoint:
        chosen = self.select(selector)
        if not chosen:
            raise LookupError(f"no endpoint of the target list matches {selector}")
        return chosen[0]

    def sockets(self, protocol: str, family: int = 4) -> tuple[tuple[str, int], ...]:
        """Every (address, port) of `family` where nginx must listen with `protocol` (not the `app_sockets`)."""
        out = {
            (e.address_of(family), e.target.port)
            for e in self.served
            if e.target.protocol == protocol and not e.target.first_message
        }
        return tuple(sorted((a, p) for a, p in out if a is not None))

    def tls_names(self, family: int = 4) -> tuple[tuple[str, str], ...]:
        """(server name, address of `family`) of every tls endpoint, deduplicated."""
        pairs = {(e.sni, e.address_of(family)) for e in self.served if e.target.protocol == "tls"}
        return tuple(sorted((n, a) for n, a in pairs if a is not None))

    def service_addresses(self, family: int = 4) -> tuple[str, ...]:
        return tuple(sorted({a for e in self.served if (a := e.address_of(family)) is not None}))


def lab_targets() -> tuple[Target, ...]:
    """What every lab run measures: the bundled lists, unchanged, and the lab's own endpoints."""
    return target_lists.load([*target_lists.bundled_paths(), LAB_LIST])
