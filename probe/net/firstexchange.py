"""A protocol's first message and first answer, over a socket that is already connected (issue 16).

A censor that lets the TCP connect (or the TLS handshake) through and drops the connection once it recognises the
protocol (Russia's DPI and Telegram's MTProto, 2026) leaves a connect-only probe saying `ok`. Where a protocol's
first message is public, the probe sends it and requires the well-formed answer the real server gives; the
exchange is data (`AppExchange`), failures included. `exchange` takes any connected socket, so other callers (the
helper vantage of issue 17) run the very same exchange.

Every read is capped (`READ_CAP`) and the exchange has one overall deadline (issue 21's rule).

MTProto (`mtproto`): the unencrypted `req_pq_multi#be7e8ef1 nonce:int128` that starts every authorization, in
the intermediate transport (the tag 0xeeeeeeee once, then each packet as a little-endian int32 length and the
payload), answered by `resPQ#05162463 nonce:int128 server_nonce:int128 pq:string
server_public_key_fingerprints:Vector<long>` echoing our nonce. Sources: core.telegram.org/mtproto/auth_key,
core.telegram.org/mtproto/description ("Unencrypted Message": auth_key_id 0, message_id, message_data_length),
core.telegram.org/mtproto/mtproto-transports; the same layout in LonamiWebs/Telethon
(telethon/network/connection/tcpintermediate.py, the TL schema). The unobfuscated transport is what DPI
recognises most easily: an answer here says MTProto itself passes, not that every client's obfuscation does.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from probe.failures import ExchangeFailure, Failure, classify
from probe.model import AppExchange
from probe.net.clock import Clock

READ_CAP = 1024  # bytes: a resPQ is under 100; a longer answer is not one, and reading stops there


@dataclass(frozen=True)
class Judgement:
    """What the answer was: the protocol's well-formed answer (`ok`), or not, and a short description."""

    ok: bool
    answer: str


class Speaker(Protocol):
    """One protocol's first exchange: the bytes to send, then a judge of the bytes received so far."""

    def request(self) -> bytes: ...

    def judge(self, received: bytes) -> Judgement | None:
        """None while the answer is still incomplete; then the judgement. Must decide by READ_CAP bytes."""


# --- MTProto ---------------------------------------------------------------------------------------------------

_INTERMEDIATE_TAG = b"\xee\xee\xee\xee"
_REQ_PQ_MULTI = 0xBE7E8EF1
_RES_PQ = 0x05162463
_VECTOR = 0x1CB5C415
_MAX_FINGERPRINTS = 64


class MTProto:
    """req_pq_multi, unencrypted, in the intermediate transport; a resPQ with our nonce must answer."""

    def __init__(self, nonce: bytes | None = None, now: Callable[[], float] = time.time) -> None:
        self.nonce = nonce if nonce is not None else os.urandom(16)
        self._now = now

    def request(self) -> bytes:
        # message_id: unix time times 2**32, divisible by 4 for a client's message (core.telegram.org/mtproto/
        # description, "Message Identifier"). A volunteer's clock far off does not cost the answer: the server's
        # time first reaches a client later in this very exchange (server_DH_inner_data's server_time, /mtproto/
        # auth_key), which is how clients with wrong clocks create keys at all; the time checks on message_id are
        # for encrypted messages (bad_msg_notification codes 16 and 17, /mtproto/service_messages_about_messages).
        message_id = int(self._now() * 2**32) & ~3
        body = struct.pack("<I", _REQ_PQ_MULTI) + self.nonce
        message = struct.pack("<qqi", 0, message_id, len(body)) + body
        return _INTERMEDIATE_TAG + struct.pack("<i", len(message)) + message

    def judge(self, received: bytes) -> Judgement | None:
        if len(received) < 4:
            return None
        (length,) = struct.unpack_from("<i", received)
        if length == 4:
            # a transport error: a 4-byte packet holding a negative code, e.g. -404 (mtproto-transports)
            if len(received) < 8:
                return None
            (code,) = struct.unpack_from("<i", received, 4)
            return Judgement(False, f"MTProto transport error {code}")
        if not 20 <= length <= READ_CAP - 4:
            return _unexpected(received, f"a packet of {length} bytes")
        if len(received) < 4 + length:
            return None
        return _res_pq(received[4 : 4 + length], self.nonce) or Judgement(True, "resPQ")


def _res_pq(payload: bytes, nonce: bytes) -> Judgement | None:
    """Why `payload` is not an unencrypted resPQ echoing `nonce`, or None when it is one."""
    auth_key_id, _message_id, data_length = struct.unpack_from("<qqi", payload)
    if auth_key_id != 0 or data_length != len(payload) - 20:
        return _unexpected(payload, "not an unencrypted MTProto message")
    data = payload[20:]
    if len(data) < 4 + 32 + 4 or struct.unpack_from("<I", data)[0] != _RES_PQ:
        return _unexpected(payload, "not a resPQ")
    if data[4:20] != nonce:
        return _unexpected(payload, "a resPQ with another nonce")
    offset = 36
    pq_length = data[offset]  # a TL string under 254 bytes: one length byte, the bytes, padding to 4
    if not 1 <= pq_length <= 16:
        return _unexpected(payload, f"a resPQ with a {pq_length}-byte pq")
    offset += (1 + pq_length + 3) // 4 * 4
    if len(data) < offset + 8 or struct.unpack_from("<I", data, offset)[0] != _VECTOR:
        return _unexpected(payload, "a resPQ without its fingerprint vector")
    (count,) = struct.unpack_from("<i", data, offset + 4)
    if not 1 <= count <= _MAX_FINGERPRINTS or len(data) < offset + 8 + 8 * count:
        return _unexpected(payload, f"a resPQ with {count} key fingerprints")
    return None


def _unexpected(data: bytes, what: str) -> Judgement:
    # The first bytes only: enough to tell a blockpage ("HTTP/1.1") or another protocol, never a page's text.
    return Judgement(False, f"{what}; starts {data[:8].hex(' ')}")


# The protocols a target list may name in `first_message` (probe.targets.FIRST_MESSAGES describes each).
SPEAKERS: dict[str, Callable[[], Speaker]] = {"mtproto": MTProto}


async def exchange(
    sock: socket.socket,
    protocol: str,
    *,
    address: str,
    timeout: float,
    clock: Clock,
    transaction_id: int,
    tags: tuple[str, ...] = (),
    speaker: Speaker | None = None,
) -> AppExchange:
    """Send `protocol`'s first message on the connected, non-blocking `sock` ("ip:port" `address`) and judge the
    answer, all within `timeout`. Never raises for network trouble; the socket stays open (the caller owns it)."""
    loop = asyncio.get_running_loop()
    speaker = speaker or SPEAKERS[protocol]()
    request = speaker.request()
    received = b""
    sent = 0
    answer: str | None = None
    failure: str | None = None
    t0 = clock()
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_sendall(sock, request)
            sent = len(request)
            while (judgement := speaker.judge(received)) is None:
                chunk = await loop.sock_recv(sock, READ_CAP - len(received))
                if not chunk:
                    raise EOFError("closed before a whole answer")
                received += chunk
                if len(received) >= READ_CAP and speaker.judge(received) is None:
                    raise ExchangeFailure(Failure.UNEXPECTED_ANSWER, "no answer within the read cap")
        answer = judgement.answer
        if not judgement.ok:
            failure = Failure.UNEXPECTED_ANSWER.value
    except (OSError, TimeoutError, EOFError, ExchangeFailure) as exc:
        failure = classify(exc)
        if received:
            answer = f"{len(received)} bytes before the failure; starts {received[:8].hex(' ')}"
    return AppExchange(
        protocol=protocol,
        address=address,
        failure=failure,
        sent=sent,
        received=len(received),
        answer=answer,
        t0=t0,
        t=clock(),
        transaction_id=transaction_id,
        tags=tags,
    )
