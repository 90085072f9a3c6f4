"""DNS over UDP against real sockets on loopback: late answers, resends against loss, TCP fallback, failures.

The responders here are tiny real servers (as dnspython's own tests do with nanonameserver), because the code
under test is exactly the socket handling: ids, timing, ICMP errors.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable

import dns.flags
import dns.message
import dns.rcode
import dns.rrset

from probe.model import DNSQuery, Tag
from probe.net.clock import relative_clock
from probe.net.dns import query_udp

Reply = Callable[[dns.message.Message, int], list[tuple[float, bytes]]]  # (query, nth datagram) -> [(delay, wire)]


def answer(
    query: dns.message.Message, *addresses: str, rcode: dns.rcode.Rcode = dns.rcode.NOERROR, tc: bool = False
) -> bytes:
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    name = query.question[0].name
    for address in addresses:
        response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", address))
    if tc:
        response.flags |= dns.flags.TC
    return response.to_wire()


class Responder(asyncio.DatagramProtocol):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.received = 0
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        self.received += 1
        loop = asyncio.get_running_loop()
        for delay, wire in self.reply(query, self.received):
            loop.call_later(delay, self._send, wire, addr)

    def _send(self, wire: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(wire, addr)  # type: ignore[attr-defined]


async def ask(
    reply: Reply, *, timeout: float = 2.0, late_window: float = 0.3, resend_every: float = 0.2
) -> tuple[tuple[DNSQuery, ...], Responder]:
    loop = asyncio.get_running_loop()
    transport, responder = await loop.create_datagram_endpoint(lambda: Responder(reply), local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        records = await query_udp(
            "127.0.0.1", port, "talk.kakao.com", "A", timeout=timeout, late_window=late_window,
            clock=relative_clock(), transaction_id=7, tags=(Tag.SYSTEM_RESOLVER.value,), resolver_label="system",
            resend_every=resend_every,
        )  # fmt: skip
    finally:
        transport.close()
    return records, responder


async def test_a_second_different_answer_is_recorded_as_late() -> None:
    records, _ = await ask(lambda q, n: [(0.0, answer(q, "10.10.34.35")), (0.05, answer(q, "203.0.113.10"))])
    assert [r.addresses() for r in records] == [("10.10.34.35",), ("203.0.113.10",)]
    assert Tag.LATE_RESPONSE.value not in records[0].tags
    assert Tag.LATE_RESPONSE.value in records[1].tags
    assert records[1].t > records[0].t
    assert all(r.transaction_id == 7 and r.resolver_address == "system" for r in records)


async def test_answers_after_the_late_window_are_not_waited_for() -> None:
    records, _ = await ask(lambda q, n: [(0.0, answer(q, "192.0.2.1")), (0.8, answer(q, "192.0.2.2"))])
    assert len(records) == 1


async def test_a_lost_query_is_sent_again_with_a_fresh_id() -> None:
    seen_ids: list[int] = []

    def reply(q: dns.message.Message, n: int) -> list[tuple[float, bytes]]:
        seen_ids.append(q.id)
        return [] if n == 1 else [(0.0, answer(q, "192.0.2.1"))]

    records, responder = await ask(reply)
    assert responder.received >= 2 and len(set(seen_ids)) == len(seen_ids)
    assert len(records) == 1 and records[0].failure is None and records[0].addresses() == ("192.0.2.1",)


async def test_an_answer_to_an_earlier_resend_is_not_a_late_answer() -> None:
    # The first query's answer is slow, so the resend's answer arrives first; then the first one arrives too.
    # Both are genuine (different ids): not the signature of an injector.
    def reply(q: dns.message.Message, n: int) -> list[tuple[float, bytes]]:
        return [(0.35, answer(q, "192.0.2.1"))] if n == 1 else [(0.0, answer(q, "192.0.2.2"))]

    records, _ = await ask(reply, late_window=0.5)
    assert len(records) == 1


async def test_responses_with_another_id_are_ignored() -> None:
    def reply(q: dns.message.Message, n: int) -> list[tuple[float, bytes]]:
        other = dns.message.make_query("talk.kakao.com", "A")
        other.id = (q.id + 1) % 65536
        return [(0.0, answer(other, "198.51.100.66")), (0.02, answer(q, "192.0.2.1"))]

    records, _ = await ask(reply)
    assert [r.addresses() for r in records] == [("192.0.2.1",)]


async def test_answers_that_arrive_while_the_loop_is_busy_are_all_kept() -> None:
    """A loaded machine: the event loop wakes late, with both answers waiting and the resend timer due in the
    same turn. The first answer (the injector's) must not be lost to the timer: it once was, and the genuine
    answer, taken for the only one, made a DNS injection `ok`."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.setblocking(False)

        async def busy_responder() -> None:
            data, client = await loop.sock_recvfrom(server, 512)
            query = dns.message.from_wire(data)
            server.sendto(answer(query, "10.10.34.35"), client)  # the injector's, first
            server.sendto(answer(query, "203.0.113.10"), client)  # the genuine one
            time.sleep(0.5)  # the whole loop stalls past the resend timer (0.2 s), as under load

        responder = asyncio.ensure_future(busy_responder())
        records = await query_udp(
            "127.0.0.1", server.getsockname()[1], "talk.kakao.com", "A", timeout=2.0, late_window=0.3,
            clock=relative_clock(), transaction_id=1, resend_every=0.2,
        )  # fmt: skip
        await responder
    assert [r.addresses() for r in records] == [("10.10.34.35",), ("203.0.113.10",)]


async def test_rcode_failures() -> None:
    records, _ = await ask(lambda q, n: [(0.0, answer(q, rcode=dns.rcode.NXDOMAIN))])
    assert records[0].failure == "dns_nxdomain_error" and records[0].rcode == dns.rcode.NXDOMAIN
    records, _ = await ask(lambda q, n: [(0.0, answer(q))])
    assert records[0].failure == "dns_no_answer"


async def test_silence_is_a_timeout() -> None:
    records, responder = await ask(lambda q, n: [], timeout=0.5)
    assert len(records) == 1 and records[0].failure == "generic_timeout_error"
    assert responder.received >= 2  # resent while waiting


async def test_a_closed_port_is_reported_by_icmp() -> None:
    probe_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe_socket.bind(("127.0.0.1", 0))
    port = probe_socket.getsockname()[1]
    probe_socket.close()  # nothing listens there now
    records = await query_udp("127.0.0.1", port, "talk.kakao.com", "A", timeout=1.0, late_window=0.2,
                              clock=relative_clock(), transaction_id=1)  # fmt: skip
    assert [r.failure for r in records] == ["connection_refused"]


async def test_a_truncated_answer_is_asked_again_over_tcp() -> None:
    server = await asyncio.start_server(_tcp_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Responder(lambda q, n: [(0.0, answer(q, tc=True))]), local_addr=("127.0.0.1", port)
    )
    try:
        records = await query_udp("127.0.0.1", port, "talk.kakao.com", "A", timeout=2.0, late_window=0.1,
                                  clock=relative_clock(), transaction_id=3)  # fmt: skip
    finally:
        transport.close()
        server.close()
    assert [r.engine for r in records] == ["udp", "tcp"]
    assert Tag.TCP_FALLBACK.value in records[1].tags
    assert records[1].addresses() == ("192.0.2.53",)


async def _tcp_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    (length,) = struct.unpack("!H", await reader.readexactly(2))
    query = dns.message.from_wire(await reader.readexactly(length))
    wire = answer(query, "192.0.2.53")
    writer.write(struct.pack("!H", len(wire)) + wire)
    await writer.drain()
    writer.close()
