"""A small HTTP/2 client for the DoH control: many small POSTs multiplexed over one TLS connection, each answer's
body capped, the h2 library doing the framing.

httpx spent 2.3-2.4 ms of the event loop's CPU on each DoH query (its request and response models, httpcore's
pool, anyio's TLS stream, over the same h2 library), this 0.5-0.7 ms (2,000 queries to the lab's DoH server); at a
thousand endpoints the control's queries were the longest part of the run's DNS phase, which every endpoint waits
for (issue 15). A server that does not choose HTTP/2 in the TLS handshake (ALPN) is left to httpx (probe.net.doh).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from probe.failures import TooLarge

_READ_SIZE = 65536


class NotHTTP2(Exception):
    """The server chose another protocol than HTTP/2 (or none) in the TLS handshake."""


class Refused(EOFError):
    """The server will not process this request on this connection (GOAWAY past it, or REFUSED_STREAM): it was
    not handled, so it may be sent again on a new connection (RFC 9113 section 8.7)."""


@dataclass
class _Stream:
    cap: int
    answer: asyncio.Future[tuple[int, bytes]]
    status: int = 0
    body: bytearray = field(default_factory=bytearray)


class Connection:
    """One HTTP/2 connection; `post` may be called from many tasks at once. Once the connection fails or the
    server says it is going away, every request on it ends and `usable` is False: open another."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self._h2.initiate_connection()
        self._h2.update_settings({h2.settings.SettingCodes.ENABLE_PUSH: 0})
        self._streams: dict[int, _Stream] = {}
        self._going_away = False
        self._failed: BaseException | None = None
        self._room = asyncio.Event()  # set when a stream ends or a window opens: a waiting request may go
        self._send()
        self._reading = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, host: str, port: int, context: ssl.SSLContext) -> Connection:
        """Connect and handshake (validating against `context`); NotHTTP2 if the server did not choose h2."""
        reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
        tls = writer.get_extra_info("ssl_object")
        if tls is None or tls.selected_alpn_protocol() != "h2":
            writer.close()
            raise NotHTTP2(host)
        return cls(reader, writer)

    @property
    def usable(self) -> bool:
        """Takes new requests."""
        return self._failed is None and not self._going_away

    @property
    def closed(self) -> bool:
        """Has failed or was closed: no request on it is waiting any more."""
        return self._failed is not None

    async def post(self, authority: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes, cap: int
                   ) -> tuple[int, bytes]:  # fmt: skip
        """(status, body) of one POST; the body only for a 200, and TooLarge once it passes `cap` bytes."""
        while self.usable and not self._has_room(len(body)):
            self._room.clear()
            await self._room.wait()
        if not self.usable:  # never sent: it may go on a new connection
            raise Refused("the connection ended before the request was sent")
        stream_id = self._h2.get_next_available_stream_id()
        stream = _Stream(cap, asyncio.get_running_loop().create_future())
        self._streams[stream_id] = stream
        request = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", authority.encode()),
                   (b":path", path.encode()), *headers, (b"content-length", b"%d" % len(body))]  # fmt: skip
        try:
            self._h2.send_headers(stream_id, request)
            self._h2.send_data(stream_id, body, end_stream=True)
            self._send()
            return await stream.answer
        finally:
            if self._streams.pop(stream_id, None) is not None and self.usable:  # given up (deadline): cancel it
                with contextlib.suppress(h2.exceptions.H2Error):
                    self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                    self._send()

    async def close(self) -> None:
        if self._failed is None:
            with contextlib.suppress(h2.exceptions.H2Error):
                self._h2.close_connection()  # GOAWAY: a clean goodbye
                self._send()
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading
        self._writer.close()  # not waited for: a peer that never acknowledges the close must not hold the run

    def _has_room(self, size: int) -> bool:
        h2c = self._h2
        return (
            h2c.open_outbound_streams < h2c.remote_settings.max_concurrent_streams
            and h2c.outbound_flow_control_window >= size
            and h2c.remote_settings.initial_window_size >= size
        )

    def _send(self) -> None:
        data = self._h2.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    async def _read(self) -> None:
        try:
            while True:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    raise EOFError("the server closed the connection")
                for event in self._h2.receive_data(data):
                    self._handle(event)
                self._send()
        except asyncio.CancelledError:
            self._fail(EOFError("the connection was closed"))
            raise
        except Exception as exc:  # OSError, ssl.SSLError, h2's protocol errors, EOF: each ends every request
            self._fail(exc)

    def _handle(self, event: h2.events.Event) -> None:
        stream = self._streams.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.ResponseReceived) and stream is not None:
            stream.status = int(dict(event.headers).get(b":status", b"0"))
            if stream.status != 200:  # nothing of the body is needed
                self._end(event.stream_id, result=(stream.status, b""))
        elif isinstance(event, h2.events.DataReceived):
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if stream is not None:
                stream.body += event.data
                if len(stream.body) > stream.cap:
                    self._end(event.stream_id, error=TooLarge(f"an HTTP/2 answer over {stream.cap} bytes"))
        elif isinstance(event, h2.events.StreamEnded) and stream is not None:
            self._end(event.stream_id, result=(stream.status, bytes(stream.body)))
        elif isinstance(event, h2.events.StreamReset) and stream is not None:
            refused = event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
            self._end(event.stream_id, error=Refused() if refused else h2.exceptions.StreamClosedError(event.stream_id))
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._going_away = True
            last = event.last_stream_id if event.last_stream_id is not None else 0
            for stream_id in [s for s in self._streams if s > last]:
                self._end(stream_id, error=Refused())
        elif isinstance(event, h2.events.PushedStreamReceived) and event.pushed_stream_id is not None:
            self._h2.reset_stream(event.pushed_stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)  # push is off anyway
        if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset | h2.events.WindowUpdated
                      | h2.events.RemoteSettingsChanged | h2.events.ConnectionTerminated):  # fmt: skip
            self._room.set()

    def _end(self, stream_id: int, *, result: tuple[int, bytes] | None = None, error: Exception | None = None) -> None:
        """Answer the request on `stream_id` and forget the stream; reset it if the server has not finished it."""
        stream = self._streams.pop(stream_id)
        if not stream.answer.done():
            if error is not None:
                stream.answer.set_exception(error)
            else:
                stream.answer.set_result(result or (0, b""))
        with contextlib.suppress(h2.exceptions.H2Error):
            if self._h2.streams.get(stream_id) is not None and not self._h2.streams[stream_id].closed:
                self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)

    def _fail(self, exc: BaseException) -> None:
        self._failed = exc
        for stream in self._streams.values():
            if not stream.answer.done():
                stream.answer.set_exception(exc)
        self._streams.clear()
        self._room.set()
        self._writer.close()
