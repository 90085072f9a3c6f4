"""Connection limits for the collector: uvicorn's HTTP protocol (httptools) with deadlines and caps that uvicorn
itself does not have.

Issue 21, measured before this module: uvicorn never closes a connection that sends nothing, or sends its request
slowly, and keeps reading a header however long it grows. 1,100 half-sent requests made 100 of 100 good uploads
fail while they stayed open, and one unfinished 200 MB header took a worker from 34 to 427 MB. So, per connection:

- the request's head (request line and headers) must arrive within `header_timeout` seconds of the connection or
  of the request's first byte, and be at most `max_header_bytes` long (431 otherwise);
- the body must arrive within `body_timeout` seconds of the head (408 otherwise): a deadline for the whole body,
  since a per-read timeout lets a client send one byte just before each timeout;
- one client address holds at most `connections_per_address` connections to a worker at once; more are closed as
  soon as they are accepted. Behind a reverse proxy every connection comes from the proxy, so its address (a
  `--trusted-proxy`) is not capped here: the proxy limits its clients (docs/operators.md).

uvicorn's own keep-alive timeout (`timeout_keep_alive`) closes a connection idle between two requests.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections import Counter

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from probe.collector.settings import SETTINGS_VARIABLE, CollectorSettings, Limits


@functools.cache
def limits() -> Limits:
    """The limits `probe collector serve` set for this worker process."""
    text = os.environ.get(SETTINGS_VARIABLE)
    return CollectorSettings.from_environment(text).limits() if text else Limits()


_open: Counter[str] = Counter()  # client address -> connections open to this worker


class GuardedProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with the deadlines and caps above (uvicorn's `http` setting takes the class)."""

    _timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _in_head = True
    _counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        cap = limits().connections_per_address
        if cap and address not in limits().uncapped:
            if _open[address] >= cap:
                transport.abort()  # no answer: a client this far over the cap is no probe
                return
            _open[address] += 1
            self._counted = address
        self._arm(limits().header_timeout, 408, "the request's headers did not arrive in time")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted is not None:
            _open[self._counted] -= 1
            if _open[self._counted] <= 0:
                del _open[self._counted]
            self._counted = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > limits().max_header_bytes:
                self._refuse(431, f"the request's headers are over {limits().max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # a keep-alive connection's next request: its head has a deadline too
            self._arm(limits().header_timeout, 408, "the request's headers did not arrive in time")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(limits().body_timeout, 408, "the request's body did not arrive in time")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._disarm()  # uvicorn's keep-alive timeout runs until the next request begins
        self._in_head, self._head_bytes = True, 0
        super().on_response_complete()

    def _arm(self, seconds: float, status: int, reason: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._refuse, status, reason)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, status: int, reason: str) -> None:
        """Answer `status` (unless the application has begun its answer) and close the connection."""
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_answer(status, reason))
        self.transport.close()


def _answer(status: int, reason: str) -> bytes:
    import json

    phrase = {408: "Request Timeout", 431: "Request Header Fields Too Large"}[status]
    body = json.dumps({"status": "refused", "code": "connection", "reason": reason}).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
