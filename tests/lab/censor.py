"""Censor behaviours as data: the parts a scenario's censor is made of. Each part names the endpoints it acts on
with a `Select`; the lab (lab.py) turns the parts into iptables rules, resolver lies and injector processes inside
the censor namespace.

Rule templates are iptables-restore lines. A template with a `select` is written once per selected endpoint, with
{ip}, {port}, {sni} and {host} filled in; without, once. Every template may use the lab's own names: {client_if}
and {server_if} (the censor's interfaces toward the client and the servers), {client}, {system_resolver},
{control_resolver}, {interceptor}, {sinkhole}.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.lab import plan as addr
from tests.lab.plan import Select


@dataclass(frozen=True)
class Rules:
    """iptables rules in the censor's FORWARD path (or PREROUTING of `table` nat)."""

    rules: tuple[str, ...]
    table: str = "filter"
    select: Select | None = None


@dataclass(frozen=True)
class ResolverLie:
    """The system resolver answers the selected endpoints' names with `answer`: "nxdomain" or an address."""

    select: Select
    answer: str


@dataclass(frozen=True)
class DNSInjection:
    """An on-path injector: forged A answers for the selected names, to queries sent to any address, after
    `forged_delay` seconds (at once by default); the system resolver's genuine answer is held back and delivered
    `delay` seconds later."""

    select: Select
    forged: str = addr.SINKHOLE
    delay: float = 0.08
    forged_delay: float = 0.0


@dataclass(frozen=True)
class FinInjection:
    """The ClientHello with a selected SNI is dropped and answered with a FIN/ACK spoofed from the server."""

    select: Select


CensorPart = Rules | ResolverLie | DNSInjection | FinInjection


def dns_name_hex(name: str) -> str:
    """The name in DNS wire format as an iptables --hex-string ("|05|kakao|03|com|00|", all in hex): it appears
    uncompressed in the question section of every query and response for the name."""
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\x00"
    return "|" + wire.hex() + "|"
