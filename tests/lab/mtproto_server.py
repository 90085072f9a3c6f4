"""A Telegram data centre's first exchange, as the real one answers it: MTProto over TCP, the intermediate
(0xeeeeeeee) and abridged (0xef) transports, and an unencrypted `req_pq_multi` (or the older `req_pq`) answered by
a `resPQ` that echoes the client's nonce, with a fresh server nonce, a 64-bit pq that is the product of two
32-bit primes, and a vector of key fingerprints. Written from the specification (core.telegram.org/mtproto/
auth_key, /description, /mtproto-transports), sharing no code with the probe, so the probe is tested against
the protocol and not against itself. Anything else gets the transport error -404 and a close, as the real DCs do
with a packet they cannot parse.

    python tests/lab/mtproto_server.py ADDR:PORT [ADDR:PORT ...]     # prints "ready" once listening
"""

from __future__ import annotations

import asyncio
import os
import secrets
import struct
import sys
import time

REQ_PQ_MULTI = 0xBE7E8EF1
REQ_PQ = 0x60469778
RES_PQ = 0x05162463
VECTOR = 0x1CB5C415
FINGERPRINTS = (0x0BC35F3509F7B7A5, 0x15AE5FA8B5529542)  # made up: the lab has no Telegram keys


def _prime(bits: int) -> int:
    while True:
        n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        if all(pow(a, n - 1, n) == 1 for a in (2, 3, 5, 7, 11, 13)):
            return n


def res_pq(nonce: bytes) -> bytes:
    """The unencrypted message carrying a resPQ for `nonce`."""
    pq = (_prime(32) * _prime(32)).to_bytes(8, "big")
    pq_tl = bytes([len(pq)]) + pq + b"\x00" * 3  # TL string: length byte, bytes, padding to a multiple of 4
    body = struct.pack("<I", RES_PQ) + nonce + os.urandom(16) + pq_tl
    body += struct.pack("<Ii", VECTOR, len(FINGERPRINTS)) + b"".join(struct.pack("<Q", f) for f in FINGERPRINTS)
    message_id = (int(time.time() * 2**32) & ~3) | 1  # a server's reply: message_id % 4 == 1
    return struct.pack("<qqi", 0, message_id, len(body)) + body


def answer(payload: bytes) -> bytes | None:
    """The reply to one unencrypted message, or None when it is not a req_pq(_multi)."""
    if len(payload) < 40:
        return None
    auth_key_id, _message_id, length = struct.unpack_from("<qqi", payload)
    (constructor,) = struct.unpack_from("<I", payload, 20)
    if auth_key_id != 0 or length != len(payload) - 20 or constructor not in (REQ_PQ_MULTI, REQ_PQ):
        return None
    return res_pq(payload[24:40])


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        async with asyncio.timeout(10):
            first = await reader.readexactly(1)
            if first == b"\xef":  # abridged: length in 4-byte words, one byte (or 0x7f and three)
                words = (await reader.readexactly(1))[0]
                if words == 0x7F:
                    words = int.from_bytes(await reader.readexactly(3), "little")
                payload = await reader.readexactly(4 * words) if words <= 256 else b""
                reply = answer(payload)
                frame = bytes([len(reply) // 4]) + reply if reply else bytes([1]) + struct.pack("<i", -404)
            elif first + await reader.readexactly(3) == b"\xee\xee\xee\xee":
                (length,) = struct.unpack("<i", await reader.readexactly(4))
                payload = await reader.readexactly(length) if 0 < length <= 1024 else b""
                reply = answer(payload) or struct.pack("<i", -404)
                frame = struct.pack("<i", len(reply)) + reply
            else:
                frame = b""
            writer.write(frame)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        pass
    finally:
        writer.close()


async def main(listen: list[str]) -> None:
    servers = []
    for spec in listen:
        host, _, port = spec.rpartition(":")
        servers.append(await asyncio.start_server(handle, host, int(port)))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
