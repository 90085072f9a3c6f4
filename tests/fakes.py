"""A scripted network for unit tests of measurement and analysis logic.

Like trio's fake net, it speaks the real network's language: failures are the strings `probe.failures.classify`
gives for the very OSError/ssl errors the real sockets raise, and certificates are real ones from a trustme CA,
so the analysis sees exactly what it would see from the wire.
"""

from __future__ import annotations

import base64
import dataclasses
import errno
import hashlib
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dns.message
import dns.rcode
import dns.rrset
import trustme

from probe.failures import Failure, classify
from probe.model import (
    AppExchange,
    BinaryData,
    DNSQuery,
    HelperAddress,
    HelperEndpoint,
    NetworkEvent,
    PacketSummary,
    Tag,
    Target,
    TCPConnect,
    TCPStatus,
    TLSHandshake,
    Transfer,
    TransferSample,
)
from probe.net import Connected, Exchange, Lookup
from probe.net.clock import Clock
from probe.net.dns import Question
from probe.net.flow import Flow as CapturedFlow
from probe.net.helper import HelperAnswer
from probe.runner import HelperFetch

TRUSTED_CA = trustme.CA(organization_name="Fake Trusted CA")
UNTRUSTED_CA = trustme.CA(organization_name="Interception CA")

# connect outcomes, as the kernel reports them
CONNECT_ERRORS: dict[str, BaseException] = {
    "timeout": TimeoutError(),
    "refused": ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    "unreachable": OSError(errno.ENETUNREACH, "Network is unreachable"),
    "eperm": PermissionError(errno.EPERM, "Operation not permitted"),
    # a router's ICMP destination unreachable (host unreachable, administratively prohibited): EHOSTUNREACH
    "hostunreach": OSError(errno.EHOSTUNREACH, "No route to host"),
}
# handshake outcomes
HANDSHAKE_ERRORS: dict[str, BaseException] = {
    "reset": ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    "timeout": TimeoutError(),
    "eof": ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
    "other": ssl.SSLError(1, "[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol"),
}


# outcomes of a protocol's first exchange after the connect
APP_ERRORS: dict[str, str] = {
    "timeout": classify(TimeoutError()),
    "reset": classify(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")),
    "eof": classify(EOFError()),
    "unexpected": Failure.UNEXPECTED_ANSWER.value,
}


@dataclass(frozen=True)
class Flow:
    """How a transfer goes: `rate` bytes per second after the request, `size` bytes in the response (None: more
    than any cap), stopping for good after `stall_after` bytes (a freeze), or failing with `failure` at once."""

    rate: float = 4_000_000.0
    size: int | None = None
    stall_after: int | None = None
    failure: str | None = None


@dataclass
class Script:
    """What the fake network does. Keys are names, addresses, or (address, sni)."""

    # name -> addresses | "nxdomain" / "timeout" / "nodata" (NOERROR, empty) / "servfail" / "refused"
    resolver: Mapping[str, list[str] | str] = field(default_factory=dict)
    # name -> a second, late answer (or a list of them: several injectors)
    late: Mapping[str, list[str] | list[list[str]]] = field(default_factory=dict)
    doh: Mapping[str, list[str] | str] = field(default_factory=dict)  # name -> addresses | "nxdomain"/"timeout"
    non_resolver: Mapping[str, list[str]] = field(default_factory=dict)  # name -> forged answer from a non-resolver
    connect: Mapping[str, str | list[str]] = field(default_factory=dict)  # ip -> "ok"/"timeout"/... (list: per try)
    tls: Mapping[tuple[str, str] | str, str | list[str]] = field(default_factory=dict)  # (ip, sni) or ip -> outcome
    certificate_names: Mapping[str, list[str]] = field(default_factory=dict)  # ip -> names its cert claims
    aaaa: Mapping[str, list[str]] = field(default_factory=dict)  # name -> IPv6 addresses (resolver and DoH)
    lost: frozenset[tuple[str, str]] = frozenset()  # (name, query type) the resolver never answers: loss
    stall: float = 0.0  # seconds the first TLS handshake blocks the event loop (an overloaded probe)
    # (address, SNI): once a handshake with that SNI reached the address, new connections to it time out (a
    # penalty box, residual blocking); connections already open are not touched
    penalty_box: frozenset[tuple[str, str]] = frozenset()
    capture: bool = False  # emit packet summaries, as a run with packet capture would
    server_ttl: int = 52  # IP TTL of the servers' own packets when they reach the probe
    injector_ttl: int = 61  # IP TTL of a censor's forged packets (it sits nearer)
    app: Mapping[str, str | list[str]] = field(default_factory=dict)  # ip -> first exchange "ok"/APP_ERRORS key
    flows: Mapping[tuple[str, str] | str, Flow | list[Flow]] = field(default_factory=dict)  # (ip, sni) or ip
    handshake_seconds: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (ip, sni) -> duration
    pinned_issuer_ok: bool = True  # a `ca` endpoint's server presents a chain from its pinned anchor


class FakeNetwork:
    """Implements probe.net.Network from a Script."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self._counts: dict[object, int] = {}
        self._boxed: set[str] = set()
        self.calls: list[tuple[str, object]] = []

    def _next(self, key: object, outcome: str | list[str]) -> str:
        n = self._counts.get(key, 0)
        self._counts[key] = n + 1
        if isinstance(outcome, list):
            return outcome[n % len(outcome)]
        return outcome

    async def packets(self, flows: Sequence[CapturedFlow]) -> list[tuple[PacketSummary, ...]]:
        return [() for _ in flows]  # the fake returns its packets with each operation

    async def dns_udp(
        self, server: str, port: int, name: str, query_type: str, *, label: str, clock: Clock,
        transaction_id: int, tags: tuple[str, ...],
    ) -> Lookup:  # fmt: skip
        records = self._dns_udp(server, name, query_type, label, clock, transaction_id, tags)
        if not self.script.capture:
            return Lookup(records)
        # With several answers, the injectors' come from other hops (other IP TTLs, their own IP-IDs) than the
        # genuine one: the one the DoH control gives, or else the last.
        genuine = self.script.doh.get(name)
        if not isinstance(genuine, list) or not any(set(r.addresses()) == set(genuine) for r in records):
            genuine = list(records[-1].addresses())

        def ttl(i: int, r: DNSQuery) -> int:
            if len(records) == 1 or set(r.addresses()) == set(genuine):
                return self.script.server_ttl
            return self.script.injector_ttl + i

        packets = tuple(
            PacketSummary(t=r.t, direction="in", proto="udp", remote=f"{server}:{port}", dns_id=1, ttl=ttl(i, r),
                          ip_id=1000 * (i + 1), dns_answers=r.addresses(), payload_len=64,
                          transaction_id=transaction_id)
            for i, r in enumerate(records) if r.rcode is not None
        )  # fmt: skip
        return Lookup(records, packets)

    def _dns_udp(
        self, server: str, name: str, query_type: str, label: str, clock: Clock, transaction_id: int,
        tags: tuple[str, ...],
    ) -> tuple[DNSQuery, ...]:  # fmt: skip
        self.calls.append(("dns_udp", (server, name, query_type)))
        question = Question("udp", label, name, query_type, transaction_id, tags)
        t0 = clock()
        if Tag.NON_RESOLVER.value in tags:
            forged = self.script.non_resolver.get(name)
            if forged is None or query_type != "A":
                return (question.failed(Failure.CONNECTION_REFUSED.value, t0, t0 + 0.01),)
            return (_answered(question, name, query_type, forged, t0, t0 + 0.004),)
        value = self.script.resolver.get(name, "nxdomain")
        if query_type == "AAAA":
            value = self.script.aaaa.get(name, []) if not isinstance(value, str) else value
        if value == "timeout" or (name, query_type) in self.script.lost:
            return (question.failed(Failure.GENERIC_TIMEOUT_ERROR.value, t0, t0 + 2),)
        first = _answered(question, name, query_type, value, t0, t0 + 0.003)
        late = self.script.late.get(name)
        if late is None or query_type != "A":
            return (first,)
        # one late answer, or several
        answers: list[list[str]] = (
            [[a for a in late if isinstance(a, str)]]
            if isinstance(late[0], str)
            else [a for a in late if isinstance(a, list)]
        )
        return (first, *(
            _answered(question, name, query_type, a, t0, t0 + 0.041 + 0.01 * i, (Tag.LATE_RESPONSE.value,))
            for i, a in enumerate(answers)
        ))  # fmt: skip

    async def dns_doh(
        self, url: str, name: str, query_type: str, *, clock: Clock, transaction_id: int, tags: tuple[str, ...]
    ) -> DNSQuery:
        question = Question("doh", url, name, query_type, transaction_id, tags)
        t0 = clock()
        value = self.script.doh.get(name, self.script.resolver.get(name, "nxdomain"))
        if query_type == "AAAA":
            value = self.script.aaaa.get(name, []) if not isinstance(value, str) else value
        if value == "timeout":
            return question.failed(Failure.GENERIC_TIMEOUT_ERROR.value, t0, t0 + 2)
        return _answered(question, name, query_type, value, t0, t0 + 0.02)

    def _connect(self, ip: str, port: int, clock: Clock, transaction_id: int, tags: tuple[str, ...]) -> TCPConnect:
        self.calls.append(("connect", (ip, port)))
        outcome = "timeout" if ip in self._boxed else self._next(("connect", ip), self.script.connect.get(ip, "ok"))
        t0 = clock()
        if outcome == "ok":
            status = TCPStatus(success=True)
        else:
            status = TCPStatus(success=False, failure=classify(CONNECT_ERRORS[outcome]))
        return TCPConnect(ip=ip, port=port, status=status, t0=t0, t=t0 + 0.01, transaction_id=transaction_id,
                          tags=tags)  # fmt: skip

    async def tcp(
        self, ip: str, port: int, *, clock: Clock, transaction_id: int, tags: tuple[str, ...],
        connected: Connected | None = None,
        first_message: str | None = None,
    ) -> Exchange:  # fmt: skip
        self.calls.append(("tcp", (ip, port)))
        connect = self._connect(ip, port, clock, transaction_id, tags)
        if connected is not None:
            await connected()
        app = None
        if connect.status.success and first_message is not None:
            outcome = self._next(("app", ip), self.script.app.get(ip, "ok"))
            failure = APP_ERRORS.get(outcome)
            app = AppExchange(protocol=first_message, address=f"{ip}:{port}", failure=failure, sent=44,
                              received=0 if failure else 84, answer=None if failure else "resPQ", t0=connect.t,
                              t=connect.t + (2.0 if outcome == "timeout" else 0.02), transaction_id=transaction_id,
                              tags=tags)  # fmt: skip
        packets = self._connect_packets(connect)
        if app is not None and self.script.capture and outcome in ("reset", "eof"):
            # the censor's RST (or FIN) burst right after the first message, nearer than the server
            packets += tuple(
                PacketSummary(t=app.t + i * 0.0005, direction="in", proto="tcp", remote=app.address,
                              flags="RA" if outcome == "reset" else "FA", ttl=self.script.injector_ttl,
                              window=1980 + i, transaction_id=transaction_id)
                for i in range(3)
            )  # fmt: skip
        return Exchange(connect, packets=packets, app=app)

    async def transfer(
        self, ip: str, port: int, server_name: str, path: str, *, ca: str | None, verify: bool, cap: int,
        stall_window: float, clock: Clock, transaction_id: int, tags: tuple[str, ...], host: str | None = None,
    ) -> Transfer:  # fmt: skip
        self.calls.append(("transfer", (ip, port, server_name, path)))
        key = (ip, server_name) if (ip, server_name) in self.script.flows else ip
        script = self.script.flows.get(key, Flow())
        flow = script[self._counts.get(("flow", key), 0) % len(script)] if isinstance(script, list) else script
        self._counts[("flow", key)] = self._counts.get(("flow", key), 0) + 1
        t0 = clock()
        address = f"{ip}:{port}"
        host = host if host != server_name else None
        if flow.failure is not None:
            return Transfer(address=address, server_name=server_name, path=path, host=host, no_tls_verify=not verify,
                            failure=flow.failure, t0=t0, t=t0 + 0.05, transaction_id=transaction_id,
                            tags=tags)  # fmt: skip
        total = min(cap, flow.size if flow.size is not None else cap)
        got = total if flow.stall_after is None else min(total, flow.stall_after)
        t_request = t0 + 0.05
        seconds = got / flow.rate
        steps = max(1, int(seconds / 0.25))
        samples = tuple(TransferSample(t=round(seconds * (i + 1) / steps, 4), num_bytes=got * (i + 1) // steps)
                        for i in range(steps))  # fmt: skip
        stalled = got < total
        return Transfer(
            address=address, server_name=server_name, path=path, host=host, no_tls_verify=not verify,
            failure=Failure.TRANSFER_STALLED.value if stalled else None, num_bytes=got, t0=t0, t_request=t_request,
            t_last_byte=t_request + seconds if got else None, t=t_request + seconds + (stall_window if stalled else 0),
            samples=samples if got else (), transaction_id=transaction_id, tags=tags,
        )  # fmt: skip

    def _connect_packets(self, connect: TCPConnect) -> tuple[PacketSummary, ...]:
        """A SYN-ACK from the server, or the censor's RST to the SYN."""
        if not self.script.capture:
            return ()
        remote = f"{connect.ip}:{connect.port}"
        if connect.status.success:
            return (PacketSummary(t=connect.t, direction="in", proto="tcp", remote=remote, flags="SA",
                                  ttl=self.script.server_ttl, transaction_id=connect.transaction_id),)  # fmt: skip
        if connect.status.failure == "connection_refused":
            return (PacketSummary(t=connect.t, direction="in", proto="tcp", remote=remote, flags="RA",
                                  ttl=self.script.injector_ttl, transaction_id=connect.transaction_id),)  # fmt: skip
        return ()

    async def tls(
        self, ip: str, port: int, server_name: str, *, clock: Clock, transaction_id: int, tags: tuple[str, ...],
        connected: Connected | None = None,
        ca: str | None = None,
    ) -> Exchange:  # fmt: skip
        if self.script.stall:
            time.sleep(self.script.stall)  # blocks the event loop, as a probe too busy to keep time would
            self.script = dataclasses.replace(self.script, stall=0.0)
        connect = self._connect(ip, port, clock, transaction_id, tags)
        if connected is not None:
            await connected()
        self.calls.append(("tls", (ip, port, server_name)))
        if not connect.status.success:
            return Exchange(connect, packets=self._connect_packets(connect))
        if (ip, server_name) in self.script.penalty_box:
            self._boxed.add(ip)
        key = (ip, server_name) if (ip, server_name) in self.script.tls else ip
        outcome = self._next(("tls", key), self.script.tls.get(key, "ok"))
        address = f"{ip}:{port}"
        t0 = clock()
        events = [NetworkEvent(address=address, operation="write", num_bytes=517, proto="tcp", t0=t0, t=t0,
                               transaction_id=transaction_id, tags=tags)]  # fmt: skip
        chain: tuple[BinaryData, ...] | None = None
        failure: str | None = None
        if outcome in HANDSHAKE_ERRORS:
            failure = classify(HANDSHAKE_ERRORS[outcome])
            events.append(NetworkEvent(address=address, operation="read", failure=failure, proto="tcp", t0=t0,
                                       t=t0 + 0.02, transaction_id=transaction_id, tags=tags))  # fmt: skip
        else:
            issuer = UNTRUSTED_CA if outcome == "untrusted" else TRUSTED_CA
            names = self.script.certificate_names.get(ip, [server_name])
            chain = _chain(issuer, tuple(names))
            events.append(NetworkEvent(address=address, operation="read", num_bytes=4000, proto="tcp", t0=t0,
                                       t=t0 + 0.02, transaction_id=transaction_id, tags=tags))  # fmt: skip
            if outcome == "untrusted" or (ca is not None and not self.script.pinned_issuer_ok):
                # what OpenSSL says (verify code 20); a pinned endpoint trusts its own anchor alone
                failure = Failure.SSL_UNKNOWN_AUTHORITY.value
            elif outcome == "expired":
                failure = Failure.SSL_INVALID_CERTIFICATE.value  # verify code 10
            elif server_name not in names:
                failure = Failure.SSL_INVALID_HOSTNAME.value  # verify code 62
        handshake = TLSHandshake(
            address=address, cipher_suite="TLS_AES_128_GCM_SHA256" if failure is None else None, failure=failure,
            negotiated_protocol="h2" if failure is None else None, peer_certificates=chain, server_name=server_name,
            t0=t0, t=t0 + self.script.handshake_seconds.get((ip, server_name), 0.03), tags=tags,
            tls_version="TLSv1.3" if chain else None, transaction_id=transaction_id,
        )  # fmt: skip
        packets = self._connect_packets(connect)
        if self.script.capture and outcome in ("reset", "eof"):
            flags = "RA" if outcome == "reset" else "FA"
            packets += tuple(
                PacketSummary(t=t0 + 0.02 + i * 0.0005, direction="in", proto="tcp", remote=address, flags=flags,
                              ttl=self.script.injector_ttl, window=1980 + i, transaction_id=transaction_id)
                for i in range(3)
            )  # fmt: skip
        return Exchange(connect, handshake, tuple(events), packets)


_CHAINS: dict[tuple[int, tuple[str, ...]], tuple[BinaryData, ...]] = {}


def _chain(ca: trustme.CA, names: tuple[str, ...]) -> tuple[BinaryData, ...]:
    key = (id(ca), names)
    if key not in _CHAINS:
        leaf = ca.issue_cert(*names)
        pem = leaf.cert_chain_pems[0].bytes()
        der = ssl.PEM_cert_to_DER_cert(pem.decode())
        _CHAINS[key] = (BinaryData(data=base64.b64encode(der).decode()),)
    return _CHAINS[key]


def _answered(
    question: Question, name: str, query_type: str, value: list[str] | str, t0: float, t: float,
    extra: tuple[str, ...] = (),
) -> DNSQuery:  # fmt: skip
    query = dns.message.make_query(name, query_type)
    response = dns.message.make_response(query)
    rcodes = {"nxdomain": dns.rcode.NXDOMAIN, "servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED}
    if isinstance(value, str):
        if value in rcodes:
            response.set_rcode(rcodes[value])  # "nodata": NOERROR without an answer
    else:
        for address in value:
            if (":" in address) == (query_type == "AAAA"):
                response.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", query_type, address))
    return question.answered(response, response.to_wire(), t0, t, extra)


# --- the control vantage (`probe helper serve`) ---------------------------------------------------------------------


@dataclass(frozen=True)
class HelperScript:
    """What a fake control vantage says of each host: "ok" (reached, with the genuine certificate), "down" (every
    address refuses there too), "unanswered" (connects, and the protocol's first message goes unanswered there too),
    "nxdomain" (its resolvers know no such name), or "same" (reached, presenting the very certificate the probe's
    script presents: the probe and the helper meet the same server)."""

    says: Mapping[str, str]
    addresses: Mapping[str, list[str]]  # host -> what the helper's resolvers answer
    minutes_ago: float = 2.0  # how long before the probe's run the helper measured
    vantage: str = "online"


def fake_helper(helper: HelperScript, targets: tuple[Target, ...], script: Script) -> HelperFetch:
    """An async callable for `probe.runner.run_async(helper=...)`, answering like a real helper whose signed view
    held: entries for every target with an id that `helper.says` names."""

    async def ask() -> HelperAnswer:
        when = (datetime.now(UTC) - timedelta(minutes=helper.minutes_ago)).strftime("%Y-%m-%d %H:%M:%S")
        entries = {}
        for t in targets:
            say = helper.says.get(t.host)
            if say is None or t.id is None:
                continue
            ips = [] if say == "nxdomain" else helper.addresses.get(t.host, [t.host])  # an IP literal: itself
            works = say in ("ok", "same")
            failure = None if works else Failure.CONNECTION_REFUSED.value
            exchange = ("ok" if works else None) if t.first_message else None
            if say == "unanswered":
                failure = exchange = Failure.GENERIC_TIMEOUT_ERROR.value
            connections = tuple(
                HelperAddress(ip=ip, works=works, tries=5, failures=0 if works else 5, failure=failure,
                              first_exchange=exchange)
                for ip in ips
            )  # fmt: skip
            certificates: tuple[str, ...] = ()
            if works and t.protocol == "tls" and ips:
                certificates = _fingerprints(_presented(script, ips[0], t.server_name, say == "same"))
            entries[t.id] = HelperEndpoint(
                id=t.id, input=t.input, measured_at=when, vantage=helper.vantage, probe_cc="DE", probe_asn="AS3320",
                verdict="ok" if works else "inconclusive",
                dns_failure=Failure.DNS_NXDOMAIN_ERROR.value if say == "nxdomain" else None,
                addresses=tuple(ips), connections=connections, certificates=certificates,
                helper_id="f" * 64, view_sha256="e" * 64,
            )  # fmt: skip
        return HelperAnswer("ok", (), "https://helper.example", entries)

    return ask


def _presented(script: Script, ip: str, server_name: str, as_script: bool) -> tuple[BinaryData, ...]:
    """The chain a server at `ip` presents for `server_name`: the script's (what the probe meets), or the genuine
    one (a trusted certificate for the name)."""
    if not as_script:
        return _chain(TRUSTED_CA, (server_name,))
    outcome = script.tls.get((ip, server_name), script.tls.get(ip, "ok"))
    ca = UNTRUSTED_CA if outcome == "untrusted" else TRUSTED_CA
    return _chain(ca, tuple(script.certificate_names.get(ip, [server_name])))


def _fingerprints(chain: tuple[BinaryData, ...]) -> tuple[str, ...]:
    return tuple(hashlib.sha256(base64.b64decode(c.data)).hexdigest() for c in chain)
