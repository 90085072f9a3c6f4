"""Censor behaviours as data: the parts a scenario's censor is made of. Each part names the endpoints it acts on
with a `Select`; the lab (lab.py) turns the parts into iptables rules, resolver lies and injector processes inside
the censor namespace.

Rule templates are iptables-restore lines. A template with a `select` is written once per selected endpoint, with
{ip}, {port}, {sni} and {host} filled in, and {sni_wire}: the SNI as the ClientHello's server_name list carries it
(name type 0, a two-byte length, the name), for an iptables --hex-string that matches this name and not a longer
one ending in it; without, once. Every template may use the lab's own names: {client_if} and {server_if} (the
censor's interfaces toward the client and the servers), {client}, {system_resolver}, {control_resolver},
{interceptor}, {sinkhole}.

The lab is dual-stack, and so is every censor unless it says otherwise: `Rules` are written for iptables and, with
each address replaced by its IPv6 twin, for ip6tables (`families` picks one; `rules6` gives other IPv6 text where
the syntax differs, e.g. `--to-destination [{interceptor}]:{port}`; ICMP reject types are translated by themselves,
see `ICMP6_REJECT`); a `ResolverLie` says what the resolver answers for AAAA (`answer6`); a `DNSInjection`
forges AAAA answers when given an `aaaa` address (IPv4's sinkhole twin, `addr.SINKHOLE6`, or a Teredo address as
the GFW's); a `FinInjection` acts on both families.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.lab import plan as addr
from tests.lab.injectors import dns_wire
from tests.lab.plan import Select


@dataclass(frozen=True)
class Rules:
    """iptables rules in the censor's FORWARD path (or PREROUTING of `table` nat)."""

    rules: tuple[str, ...]
    table: str = "filter"
    select: Select | None = None
    families: tuple[int, ...] = (4, 6)  # iptables (4), ip6tables (6)
    rules6: tuple[str, ...] | None = None  # the ip6tables text, where it differs from `rules`


@dataclass(frozen=True)
class ResolverLie:
    """The system resolver answers the selected endpoints' names with `answer`: "nxdomain" or "nodata" (for every
    query type) or an address (for A queries); AAAA queries then get `answer6`, an IPv6 address, or no answer at
    all (None: NOERROR with an empty answer section)."""

    select: Select
    answer: str
    answer6: str | None = None


@dataclass(frozen=True)
class DNSInjection:
    """An on-path injector: forged A answers for the selected names, to queries sent to any address, after
    `forged_delay` seconds (at once by default); the system resolver's genuine answer is held back and delivered
    `delay` seconds later.

    `more` adds further injectors, each an (address, seconds) forged A answer sent from another hop (another IP
    TTL, its own IP-IDs): the GFW's several injectors (issue 15). `aaaa` answers AAAA queries at once with a forged
    address (the GFW's are Teredo). `resolver=False` leaves the queries to the system resolver alone (no race):
    only queries that cross the border to other addresses meet it, as behind a poisoned in-country resolver."""

    select: Select
    forged: str = addr.SINKHOLE
    delay: float = 0.08
    forged_delay: float = 0.0
    more: tuple[tuple[str, float], ...] = ()
    aaaa: str | None = None
    resolver: bool = True


@dataclass(frozen=True)
class ServfailRewrite:
    """The system resolver's answers for the selected names arrive as SERVFAIL (no address). Unbound cannot be
    told to fail one name on demand, so the censor router rewrites the resolver's answer on its way; to the client
    it is the resolver's own SERVFAIL."""

    select: Select


@dataclass(frozen=True)
class ServerRules:
    """iptables rules in the *server* namespace's INPUT chain, templates filled as for `Rules`: the server itself
    refusing (its own RST: a server that is down), no censor involved."""

    rules: tuple[str, ...]
    select: Select


@dataclass(frozen=True)
class Interception:
    """An SNI-triggered TLS interception box: connections to the selected endpoints' addresses and ports are
    redirected to it; a ClientHello naming a selected endpoint is answered with a certificate from an untrusted CA
    that copies the genuine names (the target's among others, not first: exactly, or by a wildcard for every
    other name); any other ClientHello (the control SNI) is passed on to the genuine server untouched."""

    select: Select


@dataclass(frozen=True)
class Delay:
    """Every forwarded packet held back `low`-`high` seconds (uniformly), in user space (NFQUEUE): the kernel has
    no netem."""

    low: float = 0.4
    high: float = 0.8


@dataclass(frozen=True)
class FinInjection:
    """The ClientHello with a selected SNI is dropped and answered with a FIN/ACK spoofed from the server."""

    select: Select


CensorPart = Rules | ResolverLie | DNSInjection | FinInjection | ServfailRewrite | ServerRules | Interception | Delay

# iptables' ICMP reject types and their ip6tables counterparts: a template written for IPv4 works for IPv6 too.
ICMP6_REJECT = {
    "icmp-net-unreachable": "icmp6-no-route",
    "icmp-host-unreachable": "icmp6-addr-unreachable",
    "icmp-port-unreachable": "icmp6-port-unreachable",
    "icmp-proto-unreachable": "icmp6-port-unreachable",
    "icmp-net-prohibited": "icmp6-adm-prohibited",
    "icmp-host-prohibited": "icmp6-adm-prohibited",
    "icmp-admin-prohibited": "icmp6-adm-prohibited",
}


def sni_wire(name: str) -> str:
    """`name` as the ClientHello's server_name list carries it, for --hex-string: type 0, length, name."""
    return f"|00{len(name):04x}|{name}"


def dns_name_hex(name: str) -> str:
    """The name in DNS wire format as an iptables --hex-string ("|05|kakao|03|com|00|", all in hex): it appears
    uncompressed in the question section of every query and response for the name."""
    return "|" + dns_wire(name).hex() + "|"
