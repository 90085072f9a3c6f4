"""Facts about one endpoint, derived from its raw observations: what the resolver said, what the controls said,
and what happened at each address. Pure functions of the records; the rules (rules.py) read only these.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from functools import cached_property

from probe.analysis.vantage import VantageFacts
from probe.failures import Failure
from probe.model import DNSQuery, Measured, NetworkEvent, PacketSummary, Tag, TCPConnect, TLSHandshake

TIMEOUTS = {Failure.GENERIC_TIMEOUT_ERROR.value, Failure.TIMED_OUT.value}
UNREACHABLE = {
    Failure.NETWORK_UNREACHABLE.value,
    Failure.HOST_UNREACHABLE.value,
    Failure.ADDRESS_NOT_AVAILABLE.value,
    Failure.ADDRESS_FAMILY_NOT_SUPPORTED.value,
    Failure.NETWORK_DOWN.value,
}
CERTIFICATE = {Failure.SSL_UNKNOWN_AUTHORITY.value, Failure.SSL_INVALID_HOSTNAME.value}


def failure_kind(connect: TCPConnect, handshake: TLSHandshake | None, protocol: str) -> str | None:
    """The kind of failure of one attempt, in verdict terms (None when it worked).

    `local` is a local firewall (EPERM/EACCES from connect), `unreachable` a missing route: both belong to the
    vantage point, not to the path.
    """
    failure = connect.status.failure
    if failure is not None or not connect.status.success:
        if failure in TIMEOUTS:
            return "tcp.timeout"
        if failure in (Failure.CONNECTION_REFUSED.value, Failure.CONNECTION_RESET.value):
            return "tcp.reset"
        if failure == Failure.PERMISSION_DENIED.value:
            return "local"
        if failure in UNREACHABLE:
            return "unreachable"
        return "tcp.other"
    if protocol != "tls":
        return None
    if handshake is None:
        return "tls.other"
    failure = handshake.failure
    if failure is None:
        return None
    if failure == Failure.CONNECTION_RESET.value:
        return "tls.reset"
    if failure in TIMEOUTS:
        return "tls.timeout"
    if failure in (Failure.EOF_ERROR.value, Failure.SSL_ALERT_RECEIVED.value, Failure.CONNECTION_ABORTED.value):
        return "tls.closed"
    if failure in CERTIFICATE:
        return "tls.mitm"
    if failure == Failure.SSL_INVALID_CERTIFICATE.value:
        return "tls.expired"
    return "tls.other"


@dataclass(frozen=True)
class Attempt:
    """One connection attempt to one address (with a handshake for tls endpoints)."""

    ip: str
    connect: TCPConnect
    handshake: TLSHandshake | None
    events: tuple[NetworkEvent, ...]
    kind: str | None  # failure kind; None when it worked
    packets: tuple[PacketSummary, ...] = ()

    @property
    def ok(self) -> bool:
        return self.kind is None

    @property
    def synack(self) -> PacketSummary | None:
        """The server's SYN-ACK: the reference for what the server's own packets look like on this path."""
        return next((p for p in self.packets if p.direction == "in" and _flags(p) >= {"S", "A"}), None)

    def terminators(self, flag: str) -> list[PacketSummary]:
        """Incoming packets carrying `flag` ("R" for resets, "F" for FINs)."""
        return [p for p in self.packets if p.direction == "in" and flag in _flags(p)]

    def injected(self, flag: str) -> str | None:
        """Why the RST (flag "R") or FIN ("F") that ended this attempt was not the server's, if the packets show
        it: another IP TTL than the server's SYN-ACK, a burst, or server data still arriving after it."""
        ends = self.terminators(flag)
        if not ends:
            return None
        what = "RST" if flag == "R" else "FIN"
        synack = self.synack
        reasons = []
        odd = [p for p in ends if synack is not None and p.ttl is not None and p.ttl != synack.ttl]
        if odd and synack is not None:
            reasons.append(f"{what} with IP TTL {odd[0].ttl} where the server's SYN-ACK had {synack.ttl}")
        if len(ends) >= 2 and ends[-1].t - ends[0].t < 0.05:
            reasons.append(f"{len(ends)} {what}s within {round((ends[-1].t - ends[0].t) * 1000)} ms")
        late = [p for p in self.packets if p.direction == "in" and p.payload_len and p.t > ends[0].t]
        if late:
            reasons.append(f"the server's reply ({late[0].payload_len} bytes) still arrived after the {what}")
        return "; ".join(reasons) or None

    @property
    def reached_tls(self) -> bool:
        """The server spoke TLS back: the handshake completed, whatever the certificate said."""
        h = self.handshake
        return h is not None and (
            h.failure is None or h.failure in CERTIFICATE or h.failure == Failure.SSL_INVALID_CERTIFICATE.value
        )

    @property
    def read_before_failure(self) -> bool:
        """Some bytes came back before the handshake failed (the ServerHello, usually)."""
        return any(e.operation == "read" and (e.num_bytes or 0) > 0 for e in self.events)


@dataclass(frozen=True)
class AddressFacts:
    """Everything tried at one address: the target tries and the control SNI before and after them."""

    ip: str
    origin: str  # resolver | resolver_late | doh | fallback | literal
    tries: tuple[Attempt, ...]
    control_before: Attempt | None
    control_after: Attempt | None

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.ip).version

    @property
    def failures(self) -> int:
        return sum(1 for a in self.tries if not a.ok)

    @property
    def blocked(self) -> bool:
        """The failure repeats: at least 2 tries, and at least a third of them, failed (with the probe's plan:
        5 of 5, or 4 of the 12 it makes when tries disagree). Loss fails four of twelve about once in 10,000
        runs at 2% loss per try; a censor that fires three times in four fails fewer only once in 2,500.
        """
        n, f = len(self.tries), self.failures
        return f >= 2 and 3 * f >= n

    @property
    def works(self) -> bool:
        return bool(self.tries) and not self.blocked

    @property
    def valid_tls(self) -> bool:
        """A handshake for the target name completed with a certificate valid for it."""
        return any(a.ok and a.handshake is not None for a in self.tries)

    @property
    def kind(self) -> str | None:
        """The kind of the first failure, in time: what answered the trigger. After it, a censor may drop the
        whole (client, server, port) for a while (residual blocking), so later tries time out whatever the
        trigger did, and a majority would name the residue instead of the block."""
        failed = [a for a in self.tries if a.kind is not None]
        if not failed:
            return None
        return min(failed, key=lambda a: a.handshake.t if a.handshake is not None else a.connect.t).kind


@dataclass(frozen=True)
class EndpointFacts:
    """The facts rules judge: one endpoint's observations plus the vantage point's."""

    measured: Measured
    vantage: VantageFacts

    @property
    def target(self):  # type: ignore[no-untyped-def]
        return self.measured.target

    @cached_property
    def queries(self) -> tuple[DNSQuery, ...]:
        return tuple(q for q in self.measured.observations.queries if Tag.AFTERFLIGHT.value not in q.tags)

    # --- DNS ---------------------------------------------------------------------------------------------------

    @cached_property
    def resolver_answers(self) -> tuple[DNSQuery, ...]:
        """The resolver's first answer to each query (the TCP re-ask replaces a truncated UDP answer)."""
        first = [
            q for q in self.queries if Tag.SYSTEM_RESOLVER.value in q.tags and Tag.LATE_RESPONSE.value not in q.tags
        ]
        by_id: dict[int, DNSQuery] = {}
        for q in first:
            if q.transaction_id not in by_id or Tag.TCP_FALLBACK.value in q.tags:
                by_id[q.transaction_id] = q
        return tuple(by_id.values())

    @cached_property
    def late_answers(self) -> tuple[tuple[DNSQuery, DNSQuery], ...]:
        """(first, late) pairs where a further answer to the same query differs from the first one."""
        firsts = {q.transaction_id: q for q in self.resolver_answers}
        pairs = []
        for q in self.queries:
            if Tag.LATE_RESPONSE.value in q.tags and Tag.SYSTEM_RESOLVER.value in q.tags:
                first = firsts.get(q.transaction_id)
                if first is not None and (set(first.addresses()) != set(q.addresses()) or first.rcode != q.rcode):
                    pairs.append((first, q))
        return tuple(pairs)

    @cached_property
    def resolver_addresses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(ip for q in self.resolver_answers for ip in q.addresses()))

    @cached_property
    def resolver_failures(self) -> dict[str, str | None]:
        """query type -> failure of the resolver's answer (None when it answered with addresses)."""
        return {q.query_type: q.failure for q in self.resolver_answers}

    @cached_property
    def doh(self) -> tuple[DNSQuery, ...]:
        return tuple(q for q in self.queries if Tag.CONTROL_DOH.value in q.tags)

    @cached_property
    def doh_addresses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(ip for q in self.doh for ip in q.addresses()))

    @property
    def doh_nxdomain(self) -> bool:
        return not self.doh_addresses and any(q.failure == Failure.DNS_NXDOMAIN_ERROR.value for q in self.doh)

    @cached_property
    def non_resolver_responses(self) -> tuple[DNSQuery, ...]:
        """Responses of any kind from a host that runs no DNS server."""
        return tuple(q for q in self.queries if Tag.NON_RESOLVER.value in q.tags and q.rcode is not None)

    # --- TCP and TLS -------------------------------------------------------------------------------------------

    @cached_property
    def addresses(self) -> dict[str, AddressFacts]:
        obs = self.measured.observations
        handshakes = {h.transaction_id: h for h in obs.tls_handshakes}
        events: dict[int, list[NetworkEvent]] = {}
        for e in obs.network_events:
            events.setdefault(e.transaction_id or 0, []).append(e)
        packets: dict[int, tuple[PacketSummary, ...]] = {}
        for p in obs.packets:
            packets[p.transaction_id or 0] = packets.get(p.transaction_id or 0, ()) + (p,)
        groups: dict[str, dict[str, list[Attempt]]] = {}
        for c in obs.tcp_connect:
            if Tag.AFTERFLIGHT.value in c.tags:
                continue
            h = handshakes.get(c.transaction_id)
            attempt = Attempt(
                c.ip,
                c,
                h,
                tuple(events.get(c.transaction_id, ())),
                failure_kind(c, h, self.target.protocol),
                packets.get(c.transaction_id, ()),
            )
            role = next((t for t in (Tag.CONTROL_SNI.value, Tag.CONTROL_SNI_AFTER.value) if t in c.tags), "try")
            groups.setdefault(c.ip, {}).setdefault(role, []).append(attempt)
        late = {ip for _, q in self.late_answers for ip in q.addresses()}
        out = {}
        for ip, roles in groups.items():
            out[ip] = AddressFacts(
                ip=ip,
                origin=self._origin(ip, late),
                tries=tuple(roles.get("try", ())),
                control_before=next(iter(roles.get(Tag.CONTROL_SNI.value, ())), None),
                control_after=next(iter(roles.get(Tag.CONTROL_SNI_AFTER.value, ())), None),
            )
        return out

    def _origin(self, ip: str, late: set[str]) -> str:
        if ip == self.target.host:
            return "literal"
        if ip in self.resolver_addresses:
            return "resolver"
        if ip in late:
            return "resolver_late"
        if ip in self.doh_addresses:
            return "doh"
        return "fallback"

    @cached_property
    def judged(self) -> tuple[AddressFacts, ...]:
        """The addresses whose fate is the endpoint's: the ones the resolver gave (what the app would use), or
        the control's when the resolver gave none; without IPv6 at the vantage point, IPv4 only."""
        primary = [a for a in self.addresses.values() if a.origin in ("literal", "resolver")]
        if not primary:
            primary = [a for a in self.addresses.values() if a.origin == "doh"]
        if self.vantage.ipv4 and not self.vantage.ipv6:
            v4 = [a for a in primary if a.version == 4]
            primary = v4 or primary
        return tuple(primary)

    @property
    def captured(self) -> bool:
        return bool(self.measured.observations.packets)

    def server_ttls(self, ip: str) -> set[int]:
        """IP TTLs of the SYN-ACKs `ip` sent in any attempt of this endpoint (the control SNI's included)."""
        a = self.addresses.get(ip)
        attempts = [] if a is None else [*a.tries, *(x for x in (a.control_before, a.control_after) if x)]
        return {s.ttl for x in attempts if (s := x.synack) is not None and s.ttl is not None}

    def dns_senders(self, first: DNSQuery, late: DNSQuery) -> str | None:
        """The IP TTLs of the packets that carried two different answers, when captured and different."""
        carriers = [
            p
            for p in self.measured.observations.packets
            if p.transaction_id == first.transaction_id and p.direction == "in" and p.dns_answers is not None
        ]
        ttls = []
        for answer in (first, late):
            wanted = set(answer.addresses())
            match = next((p for p in carriers if set(p.dns_answers or ()) == wanted), None)
            ttls.append(match.ttl if match else None)
        if None not in ttls and ttls[0] != ttls[1]:
            return f"the two answers arrived with IP TTL {ttls[0]} and {ttls[1]}: two different senders"
        return None

    def valid_tls_at(self, ips: tuple[str, ...] | list[str]) -> bool:
        return any(self.addresses[ip].valid_tls for ip in ips if ip in self.addresses)

    def connects_at(self, ips: tuple[str, ...] | list[str]) -> bool:
        return any(a.connect.status.success for ip in ips if ip in self.addresses for a in self.addresses[ip].tries)


def leaf_summary(handshake: TLSHandshake | None) -> str | None:
    """'for NAMES, issued by ISSUER' from a recorded leaf certificate, for evidence strings."""
    if handshake is None or not handshake.peer_certificates:
        return None
    from cryptography import x509

    try:
        leaf = x509.load_der_x509_certificate(base64.b64decode(handshake.peer_certificates[0].data))
    except ValueError:
        return None
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in san.get_values_for_type(x509.DNSName)][:3]
    except x509.ExtensionNotFound:
        names = []
    issuer = leaf.issuer.rfc4514_string() or "an empty issuer"
    return f"for {', '.join(names) or 'no names'}, issued by {issuer}"


def _flags(packet: PacketSummary) -> set[str]:
    return set(packet.flags or "")
