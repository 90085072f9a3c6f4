"""The network edge against hostile peers on loopback (issue 21): every operation ends by its deadline whatever the
peer does, and no read is larger than a real server would ever make it; what was cut is recorded."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from pathlib import Path

import dns.message

from probe.model import DNSQuery, Tag
from probe.net import tcp, tls
from probe.net.certs import TrustStore
from probe.net.clock import relative_clock
from probe.net.dns import MAX_ANSWERS, query_udp
from probe.net.doh import MAX_BODY, STALLED_AFTER, STALLED_TIMEOUTS, DoHClient
from tests.net.hostile import answer_over_http1, answering, answering_h2, certificates, server_context
from tests.net.test_dns_udp import Responder, answer, ask

TIMEOUT = 1.0


async def doh_against(mode: str, folder: Path) -> tuple[str | None, float]:
    """(failure, seconds) of one DoH query to a server that answers as `mode` says."""
    ca = certificates(folder)
    server = await asyncio.start_server(answering(mode), "127.0.0.1", 0, ssl=server_context(folder))
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    async with server, DoHClient(TrustStore([ca], system=False).ssl_context(), TIMEOUT) as client:
        record = await client.query(
            f"https://127.0.0.1:{port}/dns-query", "example.org", "A", clock=relative_clock(), transaction_id=1
        )
    return record.failure, time.monotonic() - started


async def test_a_doh_answer_sent_a_byte_at_a_time_ends_at_the_deadline(tmp_path: Path) -> None:
    # Under httpx's per-read timeout this answer (100 kB, a byte every 0.2 s) took hours.
    failure, seconds = await doh_against("trickle", tmp_path)
    assert failure == "generic_timeout_error"
    assert seconds < TIMEOUT + 1.0


async def test_a_doh_answer_of_hundreds_of_megabytes_is_cut_at_the_cap(tmp_path: Path) -> None:
    failure, seconds = await doh_against("huge", tmp_path)
    assert failure == "response_too_large", f"read past {MAX_BODY} bytes"
    assert seconds < TIMEOUT


async def test_a_doh_server_that_stalls_every_query_is_given_up_for_the_run(tmp_path: Path) -> None:
    """A run asks 2 x hosts x DoH URLs queries, 32 at a time: against a server that answers each a byte at a
    time, every 32 cost a whole timeout (a thousand endpoints: 16 minutes at the default 5 s). Once STALLED_AFTER in
    a row have timed out, over STALLED_TIMEOUTS timeouts or more, the rest are not sent, and say so."""
    ca = certificates(tmp_path)
    trickle = answering("trickle")
    sent = 0

    async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        sent += 1  # HTTP/1.1 (the only protocol offered): one connection per request in flight
        await trickle(reader, writer)

    server = await asyncio.start_server(counting, "127.0.0.1", 0, ssl=server_context(tmp_path))
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/dns-query"
    queries = 200
    async with server, DoHClient(TrustStore([ca], system=False).ssl_context(), TIMEOUT) as client:
        records = await asyncio.gather(*(
            client.query(url, f"host{n}.example", "A", clock=relative_clock(), transaction_id=n)
            for n in range(queries)
        ))  # fmt: skip
    assert all(r.failure == "generic_timeout_error" for r in records)
    asked = queries - sum(Tag.NOT_SENT.value in r.tags for r in records)
    assert STALLED_AFTER <= 32  # a round of 32 in flight counts enough timeouts: the time decides
    assert asked <= 1 + 32 * STALLED_TIMEOUTS < queries, f"{asked} of {queries} sent to a server that answers none"
    # (a connection counts once its handshake is done: under load, not every one got there; one more is the
    # HTTP/2 attempt, which this HTTP/1.1-only server turned down)
    assert sent <= asked + 1


async def test_a_burst_of_timeouts_on_a_path_that_recovers_gives_nothing_up(tmp_path: Path) -> None:
    """On a lossy path every query in flight can wait behind one lost segment and time out together: the first
    query and the 32 after it get no answer here, and the server answers again after two timeouts, within
    STALLED_TIMEOUTS. No query goes unsent."""
    ca = certificates(tmp_path)
    trickle = answering("trickle")
    held = 1 + 32
    connections = 0

    async def recovering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await (trickle if connections <= held else answer_over_http1)(reader, writer)

    server = await asyncio.start_server(recovering, "127.0.0.1", 0, ssl=server_context(tmp_path))
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/dns-query"
    queries = 100
    # A longer timeout than the other tests': the server is back after two, a whole timeout before the third, which
    # a loaded machine's slow handshakes must not eat.
    async with server, DoHClient(TrustStore([ca], system=False).ssl_context(), 2 * TIMEOUT) as client:
        records = await asyncio.gather(*(
            client.query(url, f"host{n}.example", "A", clock=relative_clock(), transaction_id=n)
            for n in range(queries)
        ))  # fmt: skip
    assert all(Tag.NOT_SENT.value not in r.tags for r in records)
    timed_out = sum(r.failure == "generic_timeout_error" for r in records)
    assert 16 < timed_out <= held  # (a connection opened for a request given up before it was sent holds none)
    assert sum(r.raw_response is not None for r in records) == queries - timed_out


async def ask_h2(folder: Path, mode: str, queries: int, answer_first: int = 0) -> tuple[list[DNSQuery], int]:
    """The records of `queries` DoH queries at once to an HTTP/2 server that answers as `mode` says
    (tests.net.hostile.answering_h2), and how many connections the client opened."""
    ca = certificates(folder)
    handle = answering_h2(mode, answer_first)
    connections = 0

    async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await handle(reader, writer)

    server = await asyncio.start_server(counting, "127.0.0.1", 0, ssl=server_context(folder, ("h2",)))
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/dns-query"
    async with server, DoHClient(TrustStore([ca], system=False).ssl_context(), TIMEOUT) as client:
        records = await asyncio.gather(*(
            client.query(url, f"host{n}.example", "A", clock=relative_clock(), transaction_id=n)
            for n in range(queries)
        ))  # fmt: skip
    return list(records), connections


async def test_doh_over_http2_answers_every_query_on_one_connection(tmp_path: Path) -> None:
    records, connections = await ask_h2(tmp_path, "answer", 100)
    assert [r.failure for r in records] == ["dns_no_answer"] * 100  # answered (an empty answer), not failed
    assert all(r.raw_response for r in records)
    assert connections == 1


async def test_doh_over_http2_sends_again_what_a_departing_server_left_unprocessed(tmp_path: Path) -> None:
    """A server may close a connection at any time with GOAWAY (RFC 9113 section 6.8): the requests it did not
    process are sent again on a new connection, not reported as failures."""
    records, connections = await ask_h2(tmp_path, "goaway", 40, answer_first=16)
    assert all(r.raw_response for r in records), [r.failure for r in records if not r.raw_response]
    assert connections == 3


async def test_doh_over_http2_trickled_or_huge_answers_end_at_the_deadline_or_the_cap(tmp_path: Path) -> None:
    started = time.monotonic()
    records, _ = await ask_h2(tmp_path / "trickle", "trickle", 3)
    assert [r.failure for r in records] == ["generic_timeout_error"] * 3
    assert time.monotonic() - started < 2 * TIMEOUT + 1.0  # the first query goes alone, the other two after it
    records, _ = await ask_h2(tmp_path / "huge", "huge", 3)
    assert [r.failure for r in records] == ["response_too_large"] * 3, f"read past {MAX_BODY} bytes"


async def test_a_silent_http2_doh_server_is_given_up_for_the_run(tmp_path: Path) -> None:
    records, connections = await ask_h2(tmp_path, "silent", 200)
    assert all(r.failure == "generic_timeout_error" for r in records)
    asked = 200 - sum(Tag.NOT_SENT.value in r.tags for r in records)
    assert asked <= 1 + 32 * STALLED_TIMEOUTS < 200, f"{asked} of 200 sent to a server that answers none"
    assert connections == 1


async def test_a_doh_server_that_speaks_only_http1_is_asked_over_http1_and_leaves_http2_to_the_others(
    tmp_path: Path,
) -> None:
    ca = certificates(tmp_path)
    h2_connections = 0
    h2_handle = answering_h2("answer")

    async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal h2_connections
        h2_connections += 1
        await h2_handle(reader, writer)

    one = await asyncio.start_server(answer_over_http1, "127.0.0.1", 0, ssl=server_context(tmp_path))
    two = await asyncio.start_server(counting, "127.0.0.1", 0, ssl=server_context(tmp_path, ("h2",)))
    urls = [f"https://127.0.0.1:{s.sockets[0].getsockname()[1]}/dns-query" for s in (one, two)]
    async with one, two, DoHClient(TrustStore([ca], system=False).ssl_context(), TIMEOUT) as client:
        records = await asyncio.gather(*(
            client.query(urls[n % 2], f"host{n}.example", "A", clock=relative_clock(), transaction_id=n)
            for n in range(40)
        ))  # fmt: skip
    assert all(r.raw_response for r in records), [r.failure for r in records]
    assert h2_connections == 1


async def test_a_flood_of_answers_to_one_query_is_cut_and_says_so() -> None:
    def reply(query: dns.message.Message, nth: int) -> list[tuple[float, bytes]]:
        return [(0.0, answer(query, f"203.0.113.{n % 250 + 1}")) for n in range(500)] if nth == 1 else []

    records, _ = await ask(reply, late_window=0.5)
    assert len(records) == MAX_ANSWERS
    assert Tag.TRUNCATED.value in records[-1].tags
    assert all(Tag.TRUNCATED.value not in r.tags for r in records[:-1])


async def test_a_tcp_fallback_answered_a_byte_at_a_time_ends_at_the_deadline() -> None:
    """A truncated UDP answer sends the query to TCP, where the server announces 65,535 bytes and sends one every
    0.2 s: the fallback ends at its deadline, not after hours."""

    handlers: list[asyncio.Task[None]] = []

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            await reader.readexactly(length)
            writer.write(b"\xff\xff")
            for _ in range(50):
                writer.write(b"\0")
                await writer.drain()
                await asyncio.sleep(0.2)
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Responder(lambda q, n: [(0.0, answer(q, tc=True))]), local_addr=("127.0.0.1", port)
    )
    started = time.monotonic()
    try:
        records = await query_udp("127.0.0.1", port, "example.org", "A", timeout=TIMEOUT, late_window=0.1,
                                  clock=relative_clock(), transaction_id=1)  # fmt: skip
    finally:
        transport.close()
        server.close()
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
    assert [r.engine for r in records] == ["udp", "tcp"]
    assert records[1].failure == "generic_timeout_error"
    assert time.monotonic() - started < 2 * TIMEOUT


async def test_a_certificate_chain_longer_than_any_ca_issues_is_cut_and_says_so(tmp_path: Path) -> None:
    ca = certificates(tmp_path, chain_length=12)
    server = await asyncio.start_server(answering("huge"), "127.0.0.1", 0, ssl=server_context(tmp_path, alpn=()))
    port = server.sockets[0].getsockname()[1]
    async with server:
        trust = TrustStore([ca], system=False)
        clock = relative_clock()
        _, sock, _ = await tcp.connect("127.0.0.1", port, timeout=TIMEOUT, clock=clock, transaction_id=1)
        assert isinstance(sock, socket.socket)
        with sock:
            record, _ = await tls.handshake(
                sock, f"127.0.0.1:{port}", "localhost", trust=trust, timeout=TIMEOUT, clock=clock, transaction_id=1
            )
    assert record.failure is None
    assert record.peer_certificates is not None
    assert len(record.peer_certificates) == tls.MAX_CHAIN_CERTIFICATES
    assert Tag.TRUNCATED.value in record.tags
