"""Facts about one endpoint, derived from its raw observations: what the resolver said, what the controls said,
and what happened at each address. Pure functions of the records; the rules (rules.py) read only these.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import math
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Literal

from probe.analysis.vantage import VantageFacts
from probe.failures import Failure
from probe.model import (
    AppExchange,
    DNSQuery,
    EndpointProtocol,
    HelperEndpoint,
    Measured,
    NetworkEvent,
    PacketSummary,
    Tag,
    Target,
    TCPConnect,
    TLSHandshake,
    Transfer,
    VantageStatus,
)

TIMEOUTS = {Failure.GENERIC_TIMEOUT_ERROR.value, Failure.TIMED_OUT.value}
UNREACHABLE = {
    Failure.NETWORK_UNREACHABLE.value,
    Failure.ADDRESS_NOT_AVAILABLE.value,
    Failure.ADDRESS_FAMILY_NOT_SUPPORTED.value,
    Failure.NETWORK_DOWN.value,
}
# EHOSTUNREACH on a connect is an ICMP destination unreachable from a router on the path ("host unreachable",
# "administratively prohibited", "communication filtered": Linux maps codes 1, 10 and 13 to it, RFC 1812 5.2.7.1),
# not a missing local route, which fails at once with ENETUNREACH before any packet leaves.
ICMP_REFUSED = {Failure.HOST_UNREACHABLE.value}
# How improbable a run of failures must be, given how often the controls' own tries failed in the same run, before
# it counts as repeatable: a run measures some hundred addresses, and a benchmark of twenty runs must not see one
# false block (bench/lossy.py).
LOSS_ALPHA = 1e-5
CERTIFICATE = {Failure.SSL_UNKNOWN_AUTHORITY.value, Failure.SSL_INVALID_HOSTNAME.value}
# How far apart in time the control vantage's measurement of an endpoint and the probe's may be for the one to speak
# for the other: the helper measures every few minutes, so this allows a few missed rounds, and a replayed old view
# (still validly signed) says nothing.
HELPER_WINDOW = 30 * 60
CLOSED = {Failure.EOF_ERROR.value, Failure.SSL_ALERT_RECEIVED.value, Failure.CONNECTION_ABORTED.value}


# How an attempt failed, in verdict terms; `local` and `unreachable` belong to the vantage point, not to the path.
FailureKind = Literal[
    "tcp.timeout",
    "tcp.reset",
    "tcp.icmp",
    "tcp.other",
    "local",
    "unreachable",
    "tls.reset",
    "tls.timeout",
    "tls.closed",
    "tls.mitm",
    "tls.expired",
    "tls.other",
    # issue 16: connected (and handshaken), then the protocol's first exchange failed
    "app.timeout",
    "app.reset",
    "app.closed",
    "app.unexpected",
]
# Where an address came from: the target's own literal, the resolver under test (first or late answer), the DoH
# control, the control vantage (`probe helper serve`), or the list's fallback addresses.
AddressOrigin = Literal["literal", "resolver", "resolver_late", "doh", "helper", "fallback"]


def failure_kind(
    connect: TCPConnect, handshake: TLSHandshake | None, protocol: EndpointProtocol, app: AppExchange | None = None
) -> FailureKind | None:
    """The kind of failure of one attempt, in verdict terms (None when it worked).

    `local` is a local firewall (EPERM/EACCES from connect), `unreachable` a missing route: both belong to the
    vantage point, not to the path. `app.*`: the connect (and handshake) worked, the protocol's first exchange
    did not (issue 16).
    """
    failure = connect.status.failure
    if failure is not None or not connect.status.success:
        if failure in TIMEOUTS:
            return "tcp.timeout"
        if failure in (Failure.CONNECTION_REFUSED.value, Failure.CONNECTION_RESET.value):
            return "tcp.reset"
        if failure == Failure.PERMISSION_DENIED.value:
            return "local"
        if failure in ICMP_REFUSED:
            return "tcp.icmp"
        if failure in UNREACHABLE:
            return "unreachable"
        return "tcp.other"
    if protocol != "tls":
        return _app_kind(app)
    if handshake is None:
        return "tls.other"
    failure = handshake.failure
    if failure is None:
        return None
    if failure == Failure.CONNECTION_RESET.value:
        return "tls.reset"
    if failure in TIMEOUTS:
        return "tls.timeout"
    if failure in CLOSED:
        return "tls.closed"
    if failure in CERTIFICATE:
        return "tls.mitm"
    if failure == Failure.SSL_INVALID_CERTIFICATE.value:
        return "tls.expired"
    return "tls.other"


def _app_kind(app: AppExchange | None) -> FailureKind | None:
    if app is None or app.failure is None:
        return None
    if app.failure in TIMEOUTS:
        return "app.timeout"
    if app.failure == Failure.CONNECTION_RESET.value:
        return "app.reset"
    if app.failure in CLOSED:
        return "app.closed"
    return "app.unexpected"  # another protocol's answer, or a failure no blocking signature explains


@dataclass(frozen=True)
class Attempt:
    """One connection attempt to one address (with a handshake for tls endpoints)."""

    ip: str
    connect: TCPConnect
    handshake: TLSHandshake | None
    events: tuple[NetworkEvent, ...]
    kind: FailureKind | None  # None when it worked
    packets: tuple[PacketSummary, ...] = ()
    app: AppExchange | None = None  # the protocol's first exchange, for a `first_message` endpoint

    @property
    def ok(self) -> bool:
        return self.kind is None

    @property
    def connected(self) -> bool:
        return self.connect.status.success

    @property
    def ended(self) -> float:
        """When the attempt's last step ended."""
        return self.handshake.t if self.handshake is not None else self.connect.t

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


def binomial_tail(failures: int, tries: int, p: float) -> float:
    """P(at least `failures` of `tries` fail) when each fails on its own with probability `p`."""
    return _binomial_tail(failures, tries, round(p, 6))


@cache
def _binomial_tail(failures: int, tries: int, p: float) -> float:
    return sum(math.comb(tries, k) * p**k * (1 - p) ** (tries - k) for k in range(failures, tries + 1))


@dataclass(frozen=True)
class AddressFacts:
    """Everything tried at one address: the target tries and the control SNI before and after them.

    `loss` is how often the controls' own tries failed in the same run (None when they never failed, or when
    there are no controls): failures at that rate are the path's, not a censor's.
    """

    ip: str
    origin: AddressOrigin
    tries: tuple[Attempt, ...]
    control_before: Attempt | None
    control_after: Attempt | None
    loss: float | None = None

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.ip).version

    @property
    def penalty_box(self) -> bool:
        """After the target tries, the control SNI could not even connect where it completed a handshake before:
        the censor blocks the whole (client, address, port) for a while after a trigger (residual blocking)."""
        before, after = self.control_before, self.control_after
        return before is not None and before.reached_tls and after is not None and not after.connected

    @cached_property
    def residue(self) -> tuple[Attempt, ...]:
        """Tries that could not connect, started after the first ClientHello went out, at an address in a penalty
        box: they show the box (another name's trigger on a shared address, or this one's), not this name."""
        if not self.penalty_box:
            return ()
        hellos = [a.handshake.t0 for a in self.tries if a.handshake is not None]
        if not hellos:
            return ()
        first = min(hellos)
        return tuple(a for a in self.tries if not a.connected and a.connect.t0 >= first)

    @cached_property
    def counted(self) -> tuple[Attempt, ...]:
        """The tries that speak for the name: all but the residue."""
        residue = set(map(id, self.residue))
        return tuple(a for a in self.tries if id(a) not in residue)

    @cached_property
    def failures(self) -> int:
        return sum(1 for a in self.counted if not a.ok)

    @cached_property
    def blocked(self) -> bool:
        """The failure repeats: at least 2 tries, and at least a third of them, failed (with the probe's plan:
        5 of 5, or 4 of the 12 it makes when tries disagree). Loss fails four of twelve about once in 10,000
        runs at 2% loss per try; a censor that fires three times in four fails fewer only once in 2,500.
        Where the controls' tries failed too, the failures must also be improbable at the controls' rate
        (issue 15: at 30% loss each way a third of all tries fail, and fixed thresholds call that blocking).
        """
        n, f = len(self.counted), self.failures
        if f < 2 or 3 * f < n:
            return False
        return self.loss is None or binomial_tail(f, n, self.loss) < LOSS_ALPHA

    @cached_property
    def works(self) -> bool:
        """Not blocked, and (in a run whose controls lost tries too) at least one try worked."""
        if not self.counted or self.blocked:
            return False
        return self.loss is None or any(a.ok for a in self.counted)

    @property
    def undecided(self) -> bool:
        """Every try failed, but no more often than the controls' own tries would by chance: loss, or a block
        that this run cannot tell from it."""
        return bool(self.counted) and not self.blocked and not self.works

    @property
    def valid_tls(self) -> bool:
        """A handshake for the target name completed with a certificate valid for it."""
        return any(a.ok and a.handshake is not None for a in self.tries)

    @property
    def kind(self) -> FailureKind | None:
        """The kind of the first failure, in time: what answered the trigger. After it, a censor may drop the
        whole (client, server, port) for a while (residual blocking), so later tries time out whatever the
        trigger did, and a majority would name the residue instead of the block."""
        failed = [a for a in self.counted if a.kind is not None]
        if not failed:
            return None
        return min(failed, key=lambda a: a.ended).kind


@dataclass(frozen=True)
class EndpointFacts:
    """The facts rules judge: one endpoint's observations plus the vantage point's. With `family` (4 or 6), only
    that family's part of them: the DNS queries for its address type and the connections to its addresses, so the
    same rules judge IPv4 and IPv6 apart (issue 15)."""

    measured: Measured
    vantage: VantageFacts
    family: int | None = None

    @property
    def target(self) -> Target:
        return self.measured.target

    @property
    def address_type(self) -> str:
        """The query type whose answer decides DNS verdicts: A, or AAAA when judging IPv6 alone."""
        return "AAAA" if self.family == 6 else "A"

    @cached_property
    def queries(self) -> tuple[DNSQuery, ...]:
        return tuple(
            q
            for q in self.measured.observations.queries
            if Tag.AFTERFLIGHT.value not in q.tags and (self.family is None or q.query_type == self.address_type)
        )

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

    @property
    def doh_nodata(self) -> bool:
        """The DoH control answered, but with no address either (the name exists without one, or is gone)."""
        return not self.doh_addresses and any(q.rcode is not None for q in self.doh) and not self.doh_nxdomain

    @property
    def doh_unanswered(self) -> str:
        """Why there is no DoH answer to compare with, in words for evidence."""
        if not self.doh:
            return "no DoH control was asked"
        failures = sorted({q.failure for q in self.doh if q.failure})
        return f"the DoH control did not answer ({', '.join(failures) or 'no address'})"

    @property
    def resolver_nodata(self) -> str | None:
        """The resolver's failure when it gave no address at all for the name because it had none to give: an
        empty NOERROR answer (`dns_no_answer`) or SERVFAIL, for A (AAAA without data is normal: IPv4-only
        names, and resolvers that filter AAAA on networks without IPv6; so never when judging IPv6 alone). How
        Russia made WhatsApp's names vanish in 2026 (issue 15)."""
        failure = self.resolver_failures.get("A")
        nodata = (Failure.DNS_NO_ANSWER.value, Failure.DNS_SERVFAIL_ERROR.value)
        if self.family == 6 or self.resolver_addresses or failure not in nodata:
            return None
        return failure

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
        apps = {a.transaction_id: a for a in obs.app_exchanges}
        groups: dict[str, dict[str, list[Attempt]]] = {}
        for c in obs.tcp_connect:
            if Tag.AFTERFLIGHT.value in c.tags or (self.family is not None and _version(c.ip) != self.family):
                continue
            h = handshakes.get(c.transaction_id)
            app = apps.get(c.transaction_id)
            attempt = Attempt(
                c.ip,
                c,
                h,
                tuple(events.get(c.transaction_id, ())),
                failure_kind(c, h, self.target.protocol, app),
                packets.get(c.transaction_id, ()),
                app,
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
                loss=self.vantage.loss,
            )
        return out

    def _origin(self, ip: str, late: set[str]) -> AddressOrigin:
        if ip == self.target.host:
            return "literal"
        if ip in self.resolver_addresses:
            return "resolver"
        if ip in late:
            return "resolver_late"
        if ip in self.doh_addresses:
            return "doh"
        if ip in self.helper_addresses:
            return "helper"
        return "fallback"

    @cached_property
    def judged(self) -> tuple[AddressFacts, ...]:
        """The addresses whose fate is the endpoint's: the ones the resolver gave (what the app would use), or
        the control's when the resolver gave none; without IPv6 at the vantage point, IPv4 only (unless IPv6
        alone is judged)."""
        primary = [a for a in self.addresses.values() if a.origin in ("literal", "resolver")]
        if not primary:
            primary = [a for a in self.addresses.values() if a.origin == "doh"]
        if not primary:
            primary = [a for a in self.addresses.values() if a.origin == "helper"]
        if self.family is None and self.vantage.ipv4 and not self.vantage.ipv6:
            v4 = [a for a in primary if a.version == 4]
            primary = v4 or primary
        return tuple(primary)

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

    def server_seen(self, ips: tuple[str, ...] | list[str]) -> bool:
        """A packet of the server itself was captured at one of `ips` (a SYN-ACK, in any attempt): the reference
        an injected packet's IP TTL is compared with."""
        return any(self.server_ttls(ip) for ip in ips)

    @cached_property
    def transfer_pairs(self) -> tuple[TransferPair, ...]:
        """The target's transfers, each with the control SNI's beside it (the next transaction id, measure.py),
        where the target's got as far as its request (a handshake that failed is the tries' business)."""
        transfers = {t.transaction_id: t for t in self.measured.observations.transfers}
        pairs = []
        for t in transfers.values():
            control = transfers.get(t.transaction_id + 1)
            if Tag.TARGET.value not in t.tags or t.t_request is None:
                continue
            if control is not None and Tag.CONTROL_SNI.value in control.tags:
                pairs.append(TransferPair(t, control))
        return tuple(pairs)

    def valid_tls_at(self, ips: tuple[str, ...] | list[str]) -> bool:
        return any(self.addresses[ip].valid_tls for ip in ips if ip in self.addresses)

    def connects_at(self, ips: tuple[str, ...] | list[str]) -> bool:
        return any(a.connect.status.success for ip in ips if ip in self.addresses for a in self.addresses[ip].tries)

    # --- the control vantage (`probe helper serve`, issue 17) -----------------------------------------------------

    @cached_property
    def helper(self) -> HelperEndpoint | None:
        """The control vantage's view of this endpoint, when the helper was online itself and measured it within
        `HELPER_WINDOW` of this measurement; else None (no helper, or nothing it says speaks for this moment)."""
        h = self.measured.helper
        if h is None or h.vantage == VantageStatus.OFFLINE.value:
            return None
        try:
            apart = abs(utc_seconds(h.measured_at) - utc_seconds(self.measured.start_time))
        except ValueError:
            return None
        return h if apart <= HELPER_WINDOW else None

    @cached_property
    def helper_addresses(self) -> tuple[str, ...]:
        return self.helper.addresses if self.helper is not None else ()

    @cached_property
    def control_addresses(self) -> tuple[str, ...]:
        """Every address a control vouches for: the DoH control's, then the control vantage's."""
        return tuple(dict.fromkeys(self.doh_addresses + self.helper_addresses))

    @property
    def helper_down(self) -> bool:
        """The control vantage could not reach the endpoint either: no address of it worked there, or its
        resolvers gave none."""
        h = self.helper
        if h is None:
            return False
        if not h.connections:
            return not h.addresses and h.dns_failure is not None
        return not any(c.works for c in h.connections)

    def helper_certificate_at(self, ips: tuple[str, ...] | list[str]) -> bool:
        """Some handshake for the target name at `ips` presented a leaf certificate the control vantage was
        presented too: the genuine server's, whatever this machine's trust store thinks of it. (A leaf's hash
        cannot be forged; an interception box that replays the genuine chain cannot finish a handshake with it.)"""
        seen = set(self.helper.certificates) if self.helper is not None else set()
        return bool(seen) and any(leaf in seen for ip in ips for leaf in self.leaves_at(ip))

    def leaves_at(self, ip: str) -> set[str]:
        """sha256 (hex) of the leaf certificates presented for the target name at `ip`."""
        a = self.addresses.get(ip)
        return {
            hashlib.sha256(base64.b64decode(t.handshake.peer_certificates[0].data)).hexdigest()
            for t in (a.tries if a is not None else ())
            if t.handshake is not None and t.handshake.peer_certificates
        }


# A throughput needs this many bytes behind it: less is one or two round trips, which measure the path's delay.
MIN_RATE_BYTES = 16384
THROTTLE_RATIO = 0.1  # issue 16: a target at a tenth or less of the control's throughput
# 64 KiB (the transfer's cap) in half a second is 1 Mbit/s: throttles that censors use are slower (Twitter 2021,
# about 130 kbit/s). A lab path that loses 30% of its packets slowed single transfers to 0.2-0.3 s, never 0.5.
THROTTLE_MIN_SECONDS = 0.5
# A stall needs the target to have got some kilobytes after its request: a TLS 1.3 server sends its session
# tickets (a few hundred bytes) then, whether or not it ever answers the request (the freezes of 2025 struck after
# 16-20 KB of a connection, handshake included: several kilobytes of response before them).
STALL_MIN_BYTES = 2048


@dataclass(frozen=True)
class TransferPair:
    """A target transfer and the control SNI's, run at the same time at the same address (issue 16)."""

    target: Transfer
    control: Transfer

    @property
    def stalled(self) -> bool:
        """The target's stopped for good after some kilobytes, while the control's, at the same time, completed
        and carried MIN_RATE_BYTES more than the target got: the path moves bytes past the point where the
        target's stopped. A target that got (almost) nothing after its request is a server that never answered,
        as often as a censor (a slow page, against the control SNI's short error page): not a stall."""
        return (
            self.target.failure == Failure.TRANSFER_STALLED.value
            and self.target.num_bytes >= STALL_MIN_BYTES
            and self.control.failure is None
            and self.control.num_bytes >= self.target.num_bytes + MIN_RATE_BYTES
        )

    @property
    def both_stalled(self) -> bool:
        return self.target.failure == self.control.failure == Failure.TRANSFER_STALLED.value

    @property
    def ratio(self) -> float | None:
        """The target's throughput over the control's, when both moved enough bytes to have one."""
        target, control = rate(self.target), rate(self.control)
        if target is None or control is None or control <= 0:
            return None
        return target / control

    @property
    def throttled(self) -> bool:
        """The target ran at a tenth or less of the control's throughput, and took THROTTLE_MIN_SECONDS or more:
        a lost packet's retransmission timeout (200 ms, then doubling) makes a short transfer slow once; a
        throttle holds it back for as long as it runs."""
        ratio = self.ratio
        t = self.target
        took = (t.t_last_byte - t.t_request) if t.t_last_byte is not None and t.t_request is not None else 0.0
        return (
            self.control.failure is None
            and ratio is not None
            and ratio <= THROTTLE_RATIO
            and took >= THROTTLE_MIN_SECONDS
        )


def rate(transfer: Transfer) -> float | None:
    """Bytes per second from the request to the last byte, over at least MIN_RATE_BYTES."""
    if transfer.t_request is None or transfer.t_last_byte is None or transfer.num_bytes < MIN_RATE_BYTES:
        return None
    seconds = transfer.t_last_byte - transfer.t_request
    return transfer.num_bytes / seconds if seconds > 0 else None


@dataclass(frozen=True)
class Certificate:
    """What a recorded leaf certificate says: the names it is for (subject alternative names, else the common
    name) and who issued it."""

    names: tuple[str, ...]
    issuer: str

    def covers(self, name: str) -> bool:
        """The certificate names `name`, exactly or by a wildcard in its leftmost label (RFC 6125 6.4.3), in any
        position of its list."""
        name = name.lower().rstrip(".")
        for pattern in (n.lower().rstrip(".") for n in self.names):
            if pattern == name:
                return True
            if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
                return True
        return False

    @property
    def summary(self) -> str:
        shown = ", ".join(self.names[:3]) + (f" and {len(self.names) - 3} more" if len(self.names) > 3 else "")
        return f"for {shown or 'no names'}, issued by {self.issuer}"


def leaf_certificate(handshake: TLSHandshake | None) -> Certificate | None:
    """The leaf of a recorded chain, or None when there is none or it cannot be read."""
    if handshake is None or not handshake.peer_certificates:
        return None
    from cryptography import x509

    try:
        leaf = x509.load_der_x509_certificate(base64.b64decode(handshake.peer_certificates[0].data))
    except ValueError:
        return None
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(n) for n in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = tuple(str(a.value) for a in leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME))
    return Certificate(names=names, issuer=leaf.issuer.rfc4514_string() or "an empty issuer")


def leaf_summary(handshake: TLSHandshake | None) -> str | None:
    """'for NAMES, issued by ISSUER' from a recorded leaf certificate, for evidence strings."""
    cert = leaf_certificate(handshake)
    return cert.summary if cert is not None else None


def utc_seconds(text: str) -> int:
    """Seconds since 1970 of a "YYYY-MM-DD HH:MM:SS" UTC time (the analysis keeps off the clock and its modules:
    the proleptic Gregorian day count of Hinnant's `days_from_civil`). Raises ValueError for another shape."""
    if len(text) != 19 or text[4] + text[7] + text[10] + text[13] + text[16] != "-- ::":
        raise ValueError(f"not a YYYY-MM-DD HH:MM:SS time: {text!r}")
    y, m, d = int(text[:4]), int(text[5:7]), int(text[8:10])
    y -= m <= 2
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    return days * 86400 + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])


@lru_cache(maxsize=4096)  # a run asks again for every try's address, for each family judged
def _version(ip: str) -> int | None:
    try:
        return ipaddress.ip_address(ip).version
    except ValueError:
        return None


def _flags(packet: PacketSummary) -> set[str]:
    return set(packet.flags or "")
