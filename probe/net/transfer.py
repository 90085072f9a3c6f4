"""A capped HTTP/1.1 GET over TLS, timed: the stall and throttle measurement of issue 16.

Censors act after the handshake too: connections to foreign hosting that freeze after 16-20 KB and never resume
(Russia, 2025), throughput held near 140 kbit/s by SNI or address (Twitter 2021; Telegram's media 2026). A
handshake-only probe calls both `ok`. Here the probe asks for a path and reads at most `cap` bytes, recording
when they came as throughput samples (OONI keeps ndt7-style samples; ndt7's AppInfo is elapsed time and bytes),
and classifies how the transfer ended:

- complete: the response ended (its Content-Length, the last chunk, or the server's close: we ask for
  `Connection: close`) or the cap was reached: `failure` None;
- stalled: nothing came for `stall_window` seconds (a freeze; a slow transfer still trickles): `transfer_stalled`;
- slow: still receiving when the overall deadline came: `generic_timeout_error`;
- reset or closed before the response ended: `connection_reset`, `eof_error`.

Bytes are counted on the wire (the TLS records after the request, as they arrive), as a censor counts them: a
freeze that cuts a 16 KB record delivers no plaintext at all, yet stopped after some kilobytes. TLS is driven by
hand through memory BIOs (as in probe.net.tls) to see those bytes. Every read is capped (`READ_SIZE`, the whole
response at `cap`, the handshake at `HANDSHAKE_CAP`) and the exchange has overall deadlines (issue 21's rule).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

from probe import __version__
from probe.failures import ExchangeFailure, Failure, classify
from probe.model import Transfer, TransferSample
from probe.net.clock import Clock

HEADER_CAP = 16384  # bytes of response headers looked at; a longer header block is read but not parsed
HANDSHAKE_CAP = 262144  # bytes a server may send during the handshake (certificate chains are a few kB)
SAMPLE_EVERY = 0.25  # seconds between throughput samples (ndt7's interval)
READ_SIZE = 65536


class _Response:
    """Just enough HTTP/1.1 to know when a response has ended: Content-Length, chunked, or the close."""

    def __init__(self) -> None:
        self.head = b""
        self.body = 0
        self.length: int | None = None
        self.chunked = False
        self.tail = b""
        self.parsed = False

    def feed(self, data: bytes) -> None:
        if not self.parsed and len(self.head) < HEADER_CAP:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.parsed = True
            self.body = len(self.head) - end - 4
            self.tail = self.head[-5:]
            self._headers(self.head[:end])
            self.head = b""
            return
        self.body += len(data)
        self.tail = (self.tail + data)[-5:]

    def _headers(self, block: bytes) -> None:
        for line in block.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length" and value.isdigit():
                self.length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                self.chunked = True

    @property
    def ended(self) -> bool:
        """The response is whole without waiting for the server's close."""
        if not self.parsed:
            return False
        if self.chunked:
            return self.tail == b"0\r\n\r\n"
        return self.length is not None and self.body >= self.length

    @property
    def delimited_by_close(self) -> bool:
        return self.parsed and not self.chunked and self.length is None


class _Session:
    """A TLS client over a connected non-blocking socket, through memory BIOs."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_name: str) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server_name)
        self.loop = asyncio.get_running_loop()

    async def flush(self) -> None:
        data = self.outgoing.read()
        if data:
            await self.loop.sock_sendall(self.sock, data)

    async def receive(self, limit: int) -> bytes:
        """At most `limit` bytes off the wire, into the TLS engine; b"" at the peer's close."""
        chunk = await self.loop.sock_recv(self.sock, limit)
        if chunk:
            self.incoming.write(chunk)
        else:
            self.incoming.write_eof()
        return chunk

    async def handshake(self) -> None:
        received = 0
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self.flush()
                chunk = await self.receive(READ_SIZE)
                received += len(chunk)
                if received > HANDSHAKE_CAP:
                    raise ExchangeFailure(Failure.UNEXPECTED_ANSWER, "a handshake past the cap") from None
        await self.flush()

    def plaintext(self) -> tuple[bytes, bool]:
        """The plaintext the records received so far hold, and whether the peer closed the TLS session."""
        out = b""
        while True:
            try:
                data = self.tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                return out, False
            except ssl.SSLZeroReturnError:  # close_notify
                return out, True
            if not data:
                return out, True
            out += data


async def fetch(
    ip: str,
    port: int,
    server_name: str,
    path: str,
    *,
    context: ssl.SSLContext,
    cap: int,
    connect_timeout: float,
    stall_window: float,
    deadline: float,
    clock: Clock,
    transaction_id: int,
    tags: tuple[str, ...] = (),
    host: str | None = None,
) -> Transfer:
    """GET `path` from ip:port over TLS with SNI `server_name` and Host `host` (default: the SNI), reading at
    most `cap` bytes.

    `connect_timeout` bounds the connect and the handshake, `deadline` the exchange after them, `stall_window` a
    silence. Never raises for network trouble: failures are in the record. `context` decides validation: the
    endpoint's own for a target, none for the control SNI (it measures the path, not the server).
    """
    from probe.net import tcp

    address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    record: dict[str, object] = {}  # what the exchange learnt, kept when it fails part-way
    t0 = clock()
    connect, sock, _ = await tcp.connect(ip, port, timeout=connect_timeout, clock=clock, transaction_id=transaction_id)
    if sock is None:
        record["failure"] = connect.status.failure
    else:
        with sock:
            try:
                session = _Session(sock, context, server_name)
                async with asyncio.timeout(connect_timeout):
                    await session.handshake()
                await _exchange(session, host or server_name, path, cap, stall_window, deadline, clock, record)
            except (OSError, ssl.SSLError, TimeoutError, EOFError, ExchangeFailure) as exc:
                record["failure"] = classify(exc)
    return Transfer(
        address=address,
        server_name=server_name,
        path=path,
        host=host if host != server_name else None,
        no_tls_verify=context.verify_mode == ssl.CERT_NONE,
        t0=t0,
        t=clock(),
        transaction_id=transaction_id,
        tags=tags,
        **record,  # type: ignore[arg-type]
    )


async def _exchange(
    session: _Session,
    host: str,
    path: str,
    cap: int,
    stall_window: float,
    deadline: float,
    clock: Clock,
    state: dict[str, object],
) -> None:
    """Write the request and read the response into `state` (the Transfer's fields), raising how it ended."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: probe/{__version__}\r\nAccept: */*\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    session.tls.write(request)
    await asyncio.wait_for(session.flush(), stall_window)
    t_request = clock()
    started = time.monotonic()
    response = _Response()
    received = 0
    samples: list[TransferSample] = []
    state["t_request"] = t_request
    try:
        while received < cap:
            left = deadline - (time.monotonic() - started)
            if left <= 0:
                raise TimeoutError("still receiving at the deadline")
            try:
                async with asyncio.timeout(min(stall_window, left)):
                    chunk = await session.receive(min(READ_SIZE, cap - received))
            except TimeoutError:
                if stall_window <= left:
                    raise ExchangeFailure(Failure.TRANSFER_STALLED, f"nothing for {stall_window:g} s") from None
                raise
            if chunk:
                received += len(chunk)
                now = clock()
                state.update(num_bytes=received, t_last_byte=now)
                if not samples or now - t_request - samples[-1].t >= SAMPLE_EVERY:
                    samples.append(TransferSample(t=round(now - t_request, 4), num_bytes=received))
            plaintext, closed = session.plaintext()
            response.feed(plaintext)
            if response.ended:
                break
            if not chunk or closed:
                if response.delimited_by_close:
                    break
                raise EOFError("closed before the response ended")
    finally:
        last = state.get("t_last_byte")
        if isinstance(last, float) and (not samples or samples[-1].num_bytes != received):
            samples.append(TransferSample(t=round(last - t_request, 4), num_bytes=received))
        state["samples"] = tuple(samples)
