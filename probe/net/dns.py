"""DNS over UDP that sees every answer to a query, and the conversion of DNS messages into df-002 records.

A stub resolver returns the first answer and drops the rest. On-path injectors (the GFW's among them) race the
genuine resolver, so the tell is a *second, different* answer to the same query id (OONI spec
techniques/tq-002-second-DNS-reply.md). This module keeps the socket open for `late_window` seconds after the
first answer and records each one. It resends the same query while nothing has come back (loss is not
censorship), and asks again over TCP when the answer is truncated (RFC 7766 section 5, RFC 1035 section 4.2.1).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace

import dns.asyncquery
import dns.entropy
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from probe.failures import RCODE_FAILURES, Failure, classify
from probe.model import DNSAnswer, DNSEngine, DNSQuery, Tag
from probe.net.clock import Clock

EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 size: avoids IP fragmentation
# Answers recorded for one query: the first, and late ones up to this many in all. An injector sends one or two,
# a censor's flood thousands (issue 21: result files of 10 MB, refused by the collector); later answers are read,
# to keep the socket drained, but not kept, and the last kept record is tagged `truncated`.
MAX_ANSWERS = 16


@dataclass(frozen=True)
class Query:
    """One question (class IN, recursion desired, EDNS0 with a EDNS_PAYLOAD-byte payload) as its wire bytes.

    Made by hand rather than by dnspython's make_query and to_wire, which took about 0.4 ms a query together:
    at a thousand endpoints (three UDP and two DoH queries each) a tenth of the event loop's CPU (issue 15). The
    bytes are dnspython's for the same id (tests/net/test_dns_query.py checks); answers are still parsed by it.
    """

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    wire: bytes

    @property
    def id(self) -> int:
        return int.from_bytes(self.wire[:2], "big")

    def with_id(self, query_id: int) -> Query:
        return replace(self, wire=query_id.to_bytes(2, "big") + self.wire[2:])

    def answered_by(self, response: dns.message.Message) -> bool:
        """Whether `response` answers this query: what dnspython's Message.is_response checks, for one question."""
        if not response.flags & dns.flags.QR or response.id != self.id or dns.opcode.from_flags(response.flags):
            return False
        if not response.question:  # a server that could not parse the question may leave it out (RFC 1035 4.1.1)
            return response.rcode() in (dns.rcode.FORMERR, dns.rcode.SERVFAIL, dns.rcode.NOTIMP, dns.rcode.REFUSED)
        return all(
            q.name == self.name and q.rdtype == self.rdtype and q.rdclass == dns.rdataclass.IN
            for q in response.question
        )

    def message(self) -> dns.message.QueryMessage:
        """The query as a dnspython message (for dnspython's TCP exchange, once in a while)."""
        query = dns.message.from_wire(self.wire)
        assert isinstance(query, dns.message.QueryMessage)
        return query


def make_query(name: str, query_type: str, query_id: int | None = None) -> Query:
    """The query for `name`/`query_type`, under `query_id` (a random one if None)."""
    qname = dns.name.from_text(name)
    rdtype = dns.rdatatype.RdataType.make(query_type)
    header = struct.pack("!HHHHHH", dns.entropy.random_16() if query_id is None else query_id, dns.flags.RD, 1, 0, 0, 1)
    wire_name = qname.to_wire()  # bytes (None only when writing into a file)
    assert wire_name is not None
    question = wire_name + struct.pack("!HH", rdtype, dns.rdataclass.IN)
    opt = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, EDNS_PAYLOAD, 0, 0)  # root name, no options
    return Query(qname, rdtype, header + question + opt)


@dataclass(frozen=True)
class Question:
    """What one df-002 record describes, apart from the outcome: which name, how, to whom, and why."""

    engine: DNSEngine
    resolver_address: str
    hostname: str
    query_type: str
    transaction_id: int
    tags: tuple[str, ...] = ()

    def not_sent(self, failure: str, t0: float, t: float) -> DNSQuery:
        """The record of a query not sent: its server had failed this run already (`failure` is how)."""
        return replace(self, tags=self.tags + (Tag.NOT_SENT.value,)).failed(failure, t0, t)

    def failed(self, failure: str, t0: float, t: float) -> DNSQuery:
        return DNSQuery(
            engine=self.engine,
            resolver_address=self.resolver_address,
            hostname=self.hostname,
            query_type=self.query_type,
            failure=failure,
            t0=t0,
            t=t,
            transaction_id=self.transaction_id,
            tags=self.tags,
        )

    def answered(
        self, response: dns.message.Message, wire: bytes, t0: float, t: float, extra_tags: tuple[str, ...] = ()
    ) -> DNSQuery:
        """The record of a parsed response: answers, rcode, and the failure it amounts to."""
        rcode = response.rcode()
        answers = tuple(_answers(response))
        failure: str | None = None
        if rcode in RCODE_FAILURES:
            failure = RCODE_FAILURES[rcode].value
        elif rcode != dns.rcode.NOERROR:
            failure = Failure.DNS_SERVER_MISBEHAVING.value
        elif self.query_type in ("A", "AAAA") and not any(a.answer_type == self.query_type for a in answers):
            failure = Failure.DNS_NO_ANSWER.value
        return DNSQuery(
            engine=self.engine,
            resolver_address=self.resolver_address,
            hostname=self.hostname,
            query_type=self.query_type,
            answers=answers or None,
            failure=failure,
            rcode=rcode,
            raw_response=base64.b64encode(wire).decode("ascii"),
            t0=t0,
            t=t,
            transaction_id=self.transaction_id,
            tags=self.tags + extra_tags,
        )

    def over_tcp(self) -> Question:
        return replace(self, engine="tcp", tags=self.tags + (Tag.TCP_FALLBACK.value,))


def _answers(response: dns.message.Message) -> list[DNSAnswer]:
    out = []
    for rrset in response.answer:
        for rdata in rrset:
            kind = dns.rdatatype.to_text(rdata.rdtype)
            if kind == "A":
                out.append(DNSAnswer(answer_type="A", ipv4=rdata.address, ttl=rrset.ttl))
            elif kind == "AAAA":
                out.append(DNSAnswer(answer_type="AAAA", ipv6=rdata.address, ttl=rrset.ttl))
            elif kind == "CNAME":
                out.append(DNSAnswer(answer_type="CNAME", hostname=rdata.target.to_text(), ttl=rrset.ttl))
    return out


async def query_udp(
    server: str,
    port: int,
    name: str,
    query_type: str,
    *,
    timeout: float,
    late_window: float,
    clock: Clock,
    transaction_id: int,
    tags: tuple[str, ...] = (),
    resolver_label: str | None = None,
    resend_every: float = 1.0,
    on_bound: Callable[[int], None] | None = None,
    on_first_answer: Callable[[], None] | None = None,
) -> tuple[DNSQuery, ...]:
    """Ask `server` for `name`/`query_type` over UDP; return one record per answer received (the first, then
    each late one, tagged `late_response`), or a single failure record.

    `resolver_label` is what the records say the resolver was (the system resolver's address is private: it may
    be a LAN box). Responses with another id or question are not ours and are ignored, as a stub would.
    `on_bound` learns the local port once the socket has one (for matching captured packets); `on_first_answer`
    is told when the first answer arrives (the resolver's work is done; the late-answer window costs it nothing).
    """
    question = Question("udp", resolver_label or _join(server, port), name, query_type, transaction_id, tags)
    query = make_query(name, query_type)
    family = socket.AF_INET6 if ipaddress.ip_address(server).version == 6 else socket.AF_INET
    loop = asyncio.get_running_loop()
    t0 = clock()
    records: list[DNSQuery] = []
    error: str | None = None
    truncated = False
    # Each resend gets a fresh id, so a second answer to the *same* id can only come from a second sender,
    # never from our own retransmission meeting a resolver that rotates its answers.
    sent: list[Query] = []
    answered: Query | None = None
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError as exc:
        return (question.failed(classify(exc), t0, clock()),)
    with sock:
        sock.setblocking(False)
        try:
            # A connected socket: the kernel drops datagrams from other sources and reports ICMP errors.
            await loop.sock_connect(sock, (server, port))
            if on_bound is not None:
                on_bound(sock.getsockname()[1])
            sent.append(query)
            await loop.sock_sendall(sock, query.wire)
        except OSError as exc:
            return (question.failed(classify(exc), t0, clock()),)
        deadline = t0 + timeout
        next_send = t0 + resend_every
        stop = deadline
        receiver = _Receiver(loop, sock)
        try:
            while (now := clock()) < stop:
                wake = min(stop, next_send) if answered is None else stop
                try:
                    data = await receiver.next(max(wake - now, 0.001))
                except OSError as exc:
                    # ICMP port unreachable and friends. An injector may still answer, so keep listening a while.
                    error = error or classify(exc)
                    stop = min(deadline, clock() + late_window)
                    continue
                if data is None:
                    if answered is None and clock() >= next_send:
                        next_send += resend_every
                        sent.append(query.with_id(dns.entropy.random_16()))
                        await _send_quietly(loop, sock, sent[-1].wire)
                    continue
                t = clock()
                if answered is None:
                    response, answered = _parse(data, sent)
                    if response is None:
                        continue
                    if on_first_answer is not None:
                        on_first_answer()
                    stop = t + late_window
                    truncated = bool(response.flags & dns.flags.TC)
                    records.append(question.answered(response, data, t0, t))
                else:
                    response, _ = _parse(data, [answered])
                    if response is not None and len(records) < MAX_ANSWERS:
                        records.append(question.answered(response, data, t0, t, (Tag.LATE_RESPONSE.value,)))
                    elif response is not None and Tag.TRUNCATED.value not in records[-1].tags:
                        records[-1] = replace(records[-1], tags=records[-1].tags + (Tag.TRUNCATED.value,))
        finally:
            await receiver.close()
    if not records:
        return (question.failed(error or Failure.GENERIC_TIMEOUT_ERROR.value, t0, clock()),)
    if truncated:
        assert answered is not None
        records.append(await _tcp_fallback(server, port, answered, question.over_tcp(), timeout, clock))
    return tuple(records)


async def _tcp_fallback(
    server: str, port: int, query: Query, question: Question, timeout: float, clock: Clock
) -> DNSQuery:
    t0 = clock()
    try:
        # dnspython reads a length prefix and then at most 65,535 bytes; the deadline covers the whole exchange.
        async with asyncio.timeout(timeout):
            response = await dns.asyncquery.tcp(query.message(), server, timeout=timeout, port=port)
    except Exception as exc:  # dnspython raises OSError, Timeout, BadResponse, FormError...: all are data here
        return question.failed(classify(exc), t0, clock())
    return question.answered(response, response.to_wire(), t0, clock())


class _Receiver:
    """One socket's datagrams, waited for with timeouts that never lose one.

    A `sock_recv` cancelled by its timeout in the very turn of the event loop that read its datagram drops the
    datagram: the cancellation wins over the result. On a loaded machine the loop wakes late, with the answers
    and the resend timer due together, and the first answer, an injector's, was lost that way: the genuine one
    was taken for the only one and a DNS injection judged `ok` (lab: dns_injection_two_answers). So the socket's
    reader callback queues every datagram (and error) as it comes, and a wait only looks at the queue: a timeout
    loses nothing. It also costs less than half the CPU of a receive future and asyncio.wait per wait (py-spy, a
    run of a thousand endpoints, some 3,000 queries each waiting a dozen times: 0.6 against 1.4 s).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self._loop = loop
        self._sock = sock
        self._queue: collections.deque[bytes | OSError] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        # Everything waiting in the socket: at most its receive buffer, and `next` empties the queue without
        # yielding to the loop, so a flood cannot pile up here.
        while True:
            try:
                self._queue.append(self._sock.recv(65535))
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # ICMP port unreachable and friends, reported on the connected socket
                self._queue.append(exc)
                break
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout: float) -> bytes | None:
        """The next datagram, or None once `timeout` seconds have passed; raises the socket's error (ICMP)."""
        if not self._queue:
            waiter = self._waiter = self._loop.create_future()
            timer = self._loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
            if not self._queue:
                return None
        item = self._queue.popleft()
        if isinstance(item, OSError):
            raise item
        return item

    async def close(self) -> None:
        """Stop reading (before the socket is closed)."""
        self._loop.remove_reader(self._sock.fileno())


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _send_quietly(loop: asyncio.AbstractEventLoop, sock: socket.socket, wire: bytes) -> None:
    with contextlib.suppress(OSError):  # the error, if it persists, surfaces on the next receive
        await loop.sock_sendall(sock, wire)


def _parse(data: bytes, queries: list[Query]) -> tuple[dns.message.Message | None, Query | None]:
    """The response in `data` and the query it answers, if it answers one of `queries`."""
    try:
        response = dns.message.from_wire(data, ignore_trailing=True, raise_on_truncation=False)
    except Exception:  # garbage on our port is not an answer to our query
        return None, None
    for query in queries:
        if query.answered_by(response):
            return response, query
    return None, None


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
