"""A protocol's first exchange against real sockets on loopback: MTProto's req_pq_multi against the lab's data
centre (written from the specification, sharing no code with the probe), and servers that stay silent, reset,
close, answer with something else, or never stop talking."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from probe import targets
from probe.model import AppExchange
from probe.net import firstexchange
from probe.net.clock import relative_clock
from probe.net.firstexchange import READ_CAP, SPEAKERS, MTProto
from tests.lab import mtproto_server

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def exchange_with(handler: Handler, timeout: float = 2.0) -> AppExchange:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        with sock:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            return await firstexchange.exchange(
                sock, "mtproto", address=f"127.0.0.1:{port}", timeout=timeout, clock=relative_clock(),
                transaction_id=7, tags=("target",),
            )  # fmt: skip
    finally:
        server.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)  # the request arrives, and nothing ever comes back (a DPI drop)
    await asyncio.sleep(5)


async def resetting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() sends a RST
    writer.transport.abort()


async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.close()


async def blockpage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\nblocked")
    await writer.drain()
    writer.close()


async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(struct.pack("<i", 1000) + b"\x00" * 100_000)  # a plausible length, then far more than it
    await writer.drain()
    await asyncio.sleep(1)


async def test_the_lab_data_centre_answers_req_pq_multi_with_a_well_formed_res_pq() -> None:
    app = await exchange_with(mtproto_server.handle)
    assert (app.failure, app.answer, app.protocol) == (None, "resPQ", "mtproto")
    # length, auth_key_id, message_id, length; resPQ: constructor, two nonces, pq (12), vector of two (16)
    assert app.sent == 4 + 4 + 40 and app.received == 4 + 20 + 4 + 32 + 12 + 8 + 16
    assert app.transaction_id == 7 and app.tags == ("target",) and app.t >= app.t0


@pytest.mark.parametrize(
    ("handler", "failure"),
    [(silent, "generic_timeout_error"), (resetting, "connection_reset"), (closing, "eof_error")],
)
async def test_a_dropped_reset_or_closed_first_message_is_a_failure(handler: Handler, failure: str) -> None:
    app = await exchange_with(handler, timeout=0.5)
    assert app.failure == failure and app.sent == 48 and app.answer is None


async def test_another_protocols_answer_is_unexpected_and_described_by_its_first_bytes_only() -> None:
    app = await exchange_with(blockpage)
    assert app.failure == "unexpected_answer"
    assert app.answer is not None and "starts 48 54 54 50" in app.answer and "blocked" not in app.answer


async def test_reading_stops_at_the_cap() -> None:
    app = await exchange_with(endless)
    assert app.failure == "unexpected_answer" and app.received <= READ_CAP


def test_res_pq_judgement_needs_our_nonce_and_the_whole_layout() -> None:
    speaker = MTProto(nonce=b"\x01" * 16, now=lambda: 1_700_000_000.0)
    request = speaker.request()
    assert request[:4] == b"\xee\xee\xee\xee" and struct.unpack_from("<i", request, 4) == (40,)
    auth_key_id, message_id, length, constructor = struct.unpack_from("<qqiI", request, 8)
    assert (auth_key_id, length, constructor) == (0, 20, 0xBE7E8EF1) and message_id % 4 == 0
    good = mtproto_server.res_pq(b"\x01" * 16)
    frame = struct.pack("<i", len(good)) + good
    assert speaker.judge(frame[:10]) is None  # incomplete: wait for more
    assert speaker.judge(frame) == firstexchange.Judgement(True, "resPQ")
    other = mtproto_server.res_pq(b"\x02" * 16)
    judged = speaker.judge(struct.pack("<i", len(other)) + other)
    assert judged is not None and not judged.ok and "another nonce" in judged.answer
    error = speaker.judge(struct.pack("<ii", 4, -404))
    assert error == firstexchange.Judgement(False, "MTProto transport error -404")
    truncated = good[:-8]  # the fingerprint vector cut short
    judged = speaker.judge(struct.pack("<i", len(truncated)) + truncated)
    assert judged is not None and not judged.ok


def test_the_speakers_are_the_protocols_a_list_may_name() -> None:
    assert set(SPEAKERS) == set(targets.FIRST_MESSAGES)
