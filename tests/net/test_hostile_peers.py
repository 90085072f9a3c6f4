"""The network edge against hostile peers on loopback (issue 21): every operation ends by its deadline whatever the
peer does, and no read is larger than a real server would ever make it; what was cut is recorded."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import dns.message

from probe.model import Tag
from probe.net import tcp, tls
from probe.net.certs import TrustStore
from probe.net.clock import relative_clock
from probe.net.dns import MAX_ANSWERS
from probe.net.doh import MAX_BODY, DoHClient
from tests.net.hostile import answering, certificates, server_context
from tests.net.test_dns_udp import answer, ask

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


async def test_a_flood_of_answers_to_one_query_is_cut_and_says_so() -> None:
    def reply(query: dns.message.Message, nth: int) -> list[tuple[float, bytes]]:
        return [(0.0, answer(query, f"203.0.113.{n % 250 + 1}")) for n in range(500)] if nth == 1 else []

    records, _ = await ask(reply, late_window=0.5)
    assert len(records) == MAX_ANSWERS
    assert Tag.TRUNCATED.value in records[-1].tags
    assert all(Tag.TRUNCATED.value not in r.tags for r in records[:-1])


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
