"""Frozen records shared by every layer: targets, observations, verdicts. Data only, no logic.

Observation records mirror OONI's data formats key for key (ooni/spec `data-formats`: df-002 DNS, df-005 TCP,
df-006 TLS, df-008 network events), so a result line is `model_dump()` of them and nothing is translated on the
way out. `failure` is None on success, otherwise a string from `probe.failures`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.dataclasses import dataclass


class Record(BaseModel):
    """Base of every record: immutable, and unknown keys are an error rather than silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# The observation records, of which a run of a thousand endpoints makes some hundred thousand: validated like the
# records above, but slotted dataclasses, a fifth of a model's memory each (a model keeps a dict and a set of the
# fields it was given, per instance).
_STRICT = ConfigDict(extra="forbid")


# --- vocabulary (stable API: ../shared/docs/contract.md; add names, never rename) -------------------------------


# Closed vocabularies of the records (strings in OONI's formats, so Literal rather than an enum).
EndpointProtocol = Literal["tls", "tcp"]  # "tls": a TLS handshake with the SNI; "tcp": connect only
DNSEngine = Literal["udp", "tcp", "doh"]
Direction = Literal["in", "out"]  # which way a captured packet went
Transport = Literal["tcp", "udp"]


class Verdict(StrEnum):
    """Per-endpoint verdicts of the contract."""

    OK = "ok"
    DNS_INJECTION = "dns.injection"
    DNS_BOGON = "dns.bogon"
    DNS_NXDOMAIN = "dns.nxdomain"
    DNS_MISMATCH = "dns.mismatch"
    DNS_TIMEOUT = "dns.timeout"
    TCP_TIMEOUT = "tcp.timeout"
    TCP_RESET = "tcp.reset"
    TLS_RESET = "tls.reset"
    TLS_TIMEOUT = "tls.timeout"
    TLS_CLOSED = "tls.closed"
    TLS_MITM = "tls.mitm"
    DNS_NODATA = "dns.nodata"  # no address for the name (NOERROR without answer, or SERVFAIL) where the control has one
    APP_TIMEOUT = "app.timeout"  # connected (and handshaken), but the protocol's first message goes unanswered
    APP_RESET = "app.reset"  # ... is answered by a reset
    APP_CLOSED = "app.closed"  # ... is answered by a close
    TLS_STALL = "tls.stall"  # a transfer stops after some bytes and never resumes, while the control's completes
    TLS_THROTTLED = "tls.throttled"  # a transfer at a tenth or less of the control's throughput, over several tries
    INCONCLUSIVE = "inconclusive"


class Confidence(StrEnum):
    """How sure a verdict is: `high` needs a positive artefact, `medium` a contrasting control."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ServiceStatus(StrEnum):
    """A service's verdict, aggregated over its endpoints."""

    REACHABLE = "reachable"
    BLOCKED = "blocked"
    PARTIAL = "partial"
    INCONCLUSIVE = "inconclusive"


class VantageStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    RESTRICTED = "restricted"  # only domestic controls answer: a national allowlist or an international cut


class Tag(StrEnum):
    """Why an observation was made; stored in OONI's `tags` list so the analysis can find its controls."""

    SYSTEM_RESOLVER = "system_resolver"  # the resolver under test (the system's, or --resolver)
    CONTROL_DOH = "control_doh"  # the trusted DoH control
    NON_RESOLVER = "non_resolver"  # a query sent to a host that runs no DNS server
    LATE_RESPONSE = "late_response"  # a further answer to a query that was already answered
    TCP_FALLBACK = "tcp_fallback"  # the truncated UDP answer, asked again over TCP
    TARGET = "target"  # the endpoint itself, as the app would reach it
    CONTROL_SNI = "control_sni"  # the same address with a benign SNI, right before the target SNI
    CONTROL_SNI_AFTER = "control_sni_after"  # the benign SNI again after the target tries: residual blocking
    FALLBACK_ADDRESS = "fallback_address"  # an address from the target list, not from DNS
    PREFLIGHT = "preflight"  # control endpoints measured before the targets
    AFTERFLIGHT = "afterflight"  # control endpoints measured again after the targets
    # a target try at an address and port that other endpoints of the run use too: it was opened together with
    # theirs, before any ClientHello went out (issue 15: one name's trigger must not spoil another's tries)
    SHARED_ADDRESS = "shared_address"
    CONTROL_HELPER = "control_helper"  # an address the control vantage (`probe helper serve`) resolved the name to
    # Issue 21: what the peer sent was cut at a cap a real server never reaches (more answers to one query than
    # any resolver sends, a certificate chain longer than any CA issues); the record keeps what came first.
    TRUNCATED = "truncated"
    # Issue 21: a query never sent, because its server had failed this run already: a DoH server that could not be
    # reached at first contact, or one that stalled (probe.net.doh.STALLED_AFTER: it would otherwise hold the run
    # for a timeout per 32 queries). The record's failure is how the server failed.
    NOT_SENT = "not_sent"


# --- what is measured --------------------------------------------------------------------------------------------


class Target(Record):
    """One endpoint of a target list (see targets/README.md for the file schema)."""

    service: str
    host: str
    port: int
    protocol: EndpointProtocol
    sni: str | None = None
    role: str = "messaging"
    expected_asns: tuple[int, ...] = ()
    core: bool = True
    group: str | None = None  # endpoints of one group stand in for each other: the group fails only if all do
    fallback_addresses: tuple[str, ...] = ()  # the app's own address literals, tested even when DNS lies
    id: str | None = None
    source: str | None = None
    confidence: str | None = None
    list_version: str = ""
    # issue 16: a bundled trust anchor by name (probe.anchors), the protocol whose first exchange follows the
    # connect (probe.net.firstexchange), and the URL path fetched for the capped stall/throttle transfer.
    ca: str | None = None
    first_message: str | None = None
    transfer: str | None = None

    @property
    def server_name(self) -> str:
        return self.sni or self.host

    @property
    def input(self) -> str:
        """OONI's `input`: `tls://host:port` or `tcp://host:port`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.protocol}://{host}:{self.port}"

    @property
    def is_control(self) -> bool:
        return self.service == "control"


# --- observations (OONI data formats) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class DNSAnswer:
    """df-002 answer."""

    answer_type: str  # A, AAAA, CNAME
    ipv4: str | None = None
    ipv6: str | None = None
    hostname: str | None = None
    ttl: int | None = None
    asn: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class DNSQuery:
    """df-002 query: one response (or failure) to one question; further responses to the same query are
    further records tagged `late_response`."""

    engine: DNSEngine
    resolver_address: str
    hostname: str
    query_type: str
    answers: tuple[DNSAnswer, ...] | None = None
    failure: str | None = None
    rcode: int | None = None
    raw_response: str | None = None  # base64 of the DNS message as received
    t0: float
    t: float
    transaction_id: int
    tags: tuple[str, ...] = ()

    def addresses(self) -> tuple[str, ...]:
        return tuple(a.ipv4 or a.ipv6 or "" for a in self.answers or () if a.answer_type in ("A", "AAAA"))


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class TCPStatus:
    failure: str | None = None
    success: bool


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class TCPConnect:
    """df-005 TCP connect."""

    ip: str
    port: int
    status: TCPStatus
    t0: float
    t: float
    transaction_id: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class BinaryData:
    data: str  # base64
    format: str = "base64"


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class TLSHandshake:
    """df-006 TLS handshake. The peer chain is kept even when validation fails: it is the MITM evidence."""

    network: str = "tcp"
    address: str
    cipher_suite: str | None = None
    failure: str | None = None
    negotiated_protocol: str | None = None
    no_tls_verify: bool = False
    peer_certificates: tuple[BinaryData, ...] | None = None
    server_name: str
    t0: float
    t: float
    tags: tuple[str, ...] = ()
    tls_version: str | None = None
    transaction_id: int


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class NetworkEvent:
    """df-008 network event."""

    address: str | None = None
    failure: str | None = None
    num_bytes: int | None = None
    operation: str
    proto: str | None = None
    t0: float
    t: float
    transaction_id: int | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class AppExchange:
    """A protocol's first message after the connect, and its first answer (our addition, issue 16). `failure` is
    None when the protocol's well-formed answer came back; `answer` names what came (`resPQ`) or, for an
    unexpected answer, what it looked like (its first bytes in hex)."""

    protocol: str  # a probe.targets.FIRST_MESSAGES name, e.g. "mtproto"
    address: str  # "ip:port"
    failure: str | None = None
    sent: int = 0  # bytes written
    received: int = 0  # bytes read
    answer: str | None = None
    t0: float
    t: float
    transaction_id: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class TransferSample:
    """Response bytes received `t` seconds after the request was written (ndt7's AppInfo, OONI's throughput
    samples)."""

    t: float
    num_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class Transfer:
    """A capped HTTP/1.1 GET over TLS, measuring stalls and throttling (our addition, issue 16). Times are the
    run's clock: `t0` before the connect, `t_request` when the request was written (None when the connect or the
    handshake failed), `t_last_byte` when the last byte came, `t` the end. `failure` is None when the response
    ended or the cap was reached; `transfer_stalled` when nothing came for the stall window."""

    address: str  # "ip:port"
    server_name: str
    path: str
    # the Host header, when it is not the SNI: the control SNI's transfer asks for the target's own host, so that
    # both read the same page where the server allows it (the censor sees the SNI only; the Host is encrypted)
    host: str | None = None
    no_tls_verify: bool = False  # the control SNI's transfer measures the path, not the server's identity
    failure: str | None = None
    num_bytes: int = 0  # response bytes received, headers included
    t0: float
    t_request: float | None = None
    t_last_byte: float | None = None
    t: float
    samples: tuple[TransferSample, ...] = ()
    transaction_id: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True, config=_STRICT)
class PacketSummary:
    """A captured packet of the probe's own flows, reduced to what tells an injected packet from a genuine one.

    No addresses of the probe itself: `remote` is the far end, `direction` says which way the packet went.
    """

    t: float
    direction: Direction
    proto: Transport
    remote: str  # "ip:port" of the far end
    ttl: int | None = None  # IP TTL or IPv6 hop limit
    ip_id: int | None = None
    flags: str | None = None  # TCP flags as scapy prints them, e.g. "SA", "R", "RA"
    window: int | None = None
    seq: int | None = None
    ack: int | None = None
    payload_len: int = 0
    dns_id: int | None = None
    dns_answers: tuple[str, ...] | None = None
    transaction_id: int | None = None


class Observations(Record):
    """Everything measured for one endpoint (its controls included), in OONI's test_keys lists."""

    queries: tuple[DNSQuery, ...] = ()
    tcp_connect: tuple[TCPConnect, ...] = ()
    tls_handshakes: tuple[TLSHandshake, ...] = ()
    network_events: tuple[NetworkEvent, ...] = ()
    packets: tuple[PacketSummary, ...] = ()
    app_exchanges: tuple[AppExchange, ...] = ()  # issue 16: first messages, one per try of a `first_message` endpoint
    transfers: tuple[Transfer, ...] = ()  # issue 16: the capped transfers of a `transfer` endpoint and their controls


# --- judgement ------------------------------------------------------------------------------------------------------


class FamilyVerdict(Record):
    """An endpoint judged over one address family alone (issue 15): its DNS answers of that type (A for IPv4, AAAA
    for IPv6) and its addresses of that family. IPv4 fine and IPv6 blackholed is a real case, and IPv6 broken on the
    volunteer's side is another: neither is a block of the service, but each is worth recording."""

    family: str  # ipv4 | ipv6
    verdict: Verdict
    confidence: Confidence
    evidence: tuple[str, ...] = ()
    rule_id: str | None = None


class EndpointVerdict(Record):
    verdict: Verdict
    confidence: Confidence
    evidence: tuple[str, ...] = ()
    rule_id: str | None = None
    families: tuple[FamilyVerdict, ...] = ()  # the same endpoint judged per address family, for each it has


class ServiceVerdict(Record):
    service: str
    status: ServiceStatus


class HelperAddress(Record):
    """What the control vantage saw at one address of an endpoint: the target tries, as the probe makes them."""

    ip: str
    works: bool  # the tries succeeded (loss aside): `probe.analysis.facts.AddressFacts.works`
    tries: int
    failures: int
    failure: str | None = None  # the first failure in time (df-007 string): connect, handshake or first exchange
    # The protocol's first exchange at this address (issue 16, a `first_message` endpoint): "ok" when every exchange
    # made got the protocol's answer, else the first failure in time; None where none was made.
    first_exchange: str | None = None


class HelperEndpoint(Record):
    """One endpoint as the control vantage (`probe helper serve`) measured it from its own network, with the
    provenance of the signed view it came in; stored in the result line (`test_keys.helper`) so the line alone can
    be judged again."""

    id: str
    input: str
    measured_at: str  # "YYYY-MM-DD HH:MM:SS" UTC, the helper's measurement_start_time
    vantage: str  # the helper's own vantage status (online / offline / restricted) in that round
    probe_cc: str = "ZZ"  # where the helper stands
    probe_asn: str = "AS0"
    verdict: str | None = None  # the helper's own verdict, for people; rules read the facts below
    dns_failure: str | None = None  # its resolvers' failure when they gave no address
    addresses: tuple[str, ...] = ()  # what its resolvers (system and DoH) answered
    connections: tuple[HelperAddress, ...] = ()
    certificates: tuple[str, ...] = ()  # sha256 (hex) of every certificate presented for the target name
    helper_id: str = ""  # the helper's key (hex SHA-256 of its public key, as a probe id)
    view_sha256: str = ""  # the signed view the entry came in


class Measured(Record):
    """One endpoint's measurement: what was measured, when, and every observation, before any judgement."""

    target: Target
    start_time: str  # "YYYY-MM-DD HH:MM:SS" UTC, OONI's measurement_start_time
    runtime: float
    observations: Observations
    helper: HelperEndpoint | None = None  # the control vantage's view of this endpoint, when one answered
