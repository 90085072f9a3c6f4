"""The network edge: DNS (UDP, DoH), TCP and TLS operations (with a protocol's first exchange, and capped
transfers) that return observations, never raise.

`Network` is the seam measure.py talks through; `SystemNetwork` is the real thing, and unit tests hand in fakes
that return the same records.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from probe.failures import Failure
from probe.model import (
    AppExchange,
    DNSQuery,
    NetworkEvent,
    PacketSummary,
    Tag,
    TCPConnect,
    TLSHandshake,
    Transfer,
    Transport,
)
from probe.net.clock import Clock
from probe.net.flow import Flow

if TYPE_CHECKING:  # the implementations import httpx, dnspython, cryptography: load them when used
    import ssl

    from probe.net.capture import Capture
    from probe.net.certs import TrustStore
    from probe.net.doh import DoHClient

# After a handshake that ended in a reset or a close, keep listening this long: an on-path injector's RST races
# the genuine ServerHello, which may still arrive after it (and then proves the injection).
LINGER_AFTER_FAILURE = 0.3
_CLOSED_BY_PEER = (Failure.CONNECTION_RESET.value, Failure.EOF_ERROR.value)
# Unanswered queries one resolver is asked at once: a run of a thousand endpoints must not flood the resolver it
# measures (a dropped query looks like a blocked name).
QUERIES_IN_FLIGHT = 64
# TLS handshakes in progress at once. Each holds an OpenSSL session with its buffers (tens of kB); a thousand
# endpoints with a dozen tries each would otherwise hold them all together. The wait for a place comes before the
# handshake's own timeout starts, so it changes no verdict.
HANDSHAKES_AT_ONCE = 128
# The sniffer reads in a process of its own, a little behind the sockets: a flow's packets are those up to this long
# after its operation ended, and they are read no sooner.
CAPTURE_SETTLE = 0.05
# A transfer's reading may take this many operation timeouts: 64 KiB at 140 kbit/s (a throttled path) takes about
# 4 s, so a throttled transfer still yields its throughput in the lab (2 s timeout) and the field (5 s).
TRANSFER_DEADLINE = 3


@dataclass(frozen=True)
class Exchange:
    """One connection attempt: the connect, the handshake (tls only), the protocol's first exchange (when asked
    for), its events, and its packets if captured (`packets` now, or `flow` to read them later)."""

    connect: TCPConnect
    handshake: TLSHandshake | None = None
    events: tuple[NetworkEvent, ...] = ()
    packets: tuple[PacketSummary, ...] = ()
    app: AppExchange | None = None
    flow: Flow | None = None


@dataclass(frozen=True)
class Lookup:
    """One DNS question over UDP: every answer received, and the packets that carried them if captured (`packets`
    now, or `flow` to read them later)."""

    queries: tuple[DNSQuery, ...]
    packets: tuple[PacketSummary, ...] = ()
    flow: Flow | None = None


# Awaited right after the connect (whether it worked or not), before anything is sent: how measure.py holds back
# a round's ClientHellos until every connection of the round is open.
Connected = Callable[[], Awaitable[None]]


class Network(Protocol):
    """The operations a measurement is made of. Each returns records; failures are in them, not raised."""

    async def dns_udp(
        self,
        server: str,
        port: int,
        name: str,
        query_type: str,
        *,
        label: str,
        clock: Clock,
        transaction_id: int,
        tags: tuple[str, ...],
    ) -> Lookup: ...

    async def dns_doh(
        self, url: str, name: str, query_type: str, *, clock: Clock, transaction_id: int, tags: tuple[str, ...]
    ) -> DNSQuery: ...

    async def tcp(
        self,
        ip: str,
        port: int,
        *,
        clock: Clock,
        transaction_id: int,
        tags: tuple[str, ...],
        connected: Connected | None = None,
        first_message: str | None = None,
    ) -> Exchange: ...

    async def tls(
        self,
        ip: str,
        port: int,
        server_name: str,
        *,
        clock: Clock,
        transaction_id: int,
        tags: tuple[str, ...],
        connected: Connected | None = None,
        ca: str | None = None,
    ) -> Exchange: ...

    async def transfer(
        self,
        ip: str,
        port: int,
        server_name: str,
        path: str,
        *,
        ca: str | None,
        verify: bool,
        cap: int,
        stall_window: float,
        clock: Clock,
        transaction_id: int,
        tags: tuple[str, ...],
        host: str | None = None,
    ) -> Transfer: ...

    async def packets(self, flows: Sequence[Flow]) -> list[tuple[PacketSummary, ...]]:
        """The captured packets of each flow an operation returned (empty where nothing was captured)."""
        ...


class SystemNetwork:
    """The real network, with a bound on open sockets so a run of a thousand endpoints cannot exhaust them."""

    def __init__(
        self,
        *,
        timeout: float,
        late_window: float,
        trust: TrustStore,
        doh: DoHClient | None,
        capture: Capture | None = None,
        max_sockets: int = 512,
    ) -> None:
        self.timeout = timeout
        self.late_window = late_window
        self._trust = trust
        # The anchors are loaded once per context, not per handshake: the run's own, and one per pinned `ca`.
        self._handshake_contexts: dict[str | None, ssl.SSLContext] = {None: trust.handshake_context()}
        self._doh = doh
        self._capture = capture
        self._sockets = asyncio.Semaphore(max_sockets)
        self._resolver_load: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._handshakes = asyncio.Semaphore(HANDSHAKES_AT_ONCE)

    async def dns_udp(
        self,
        server: str,
        port: int,
        name: str,
        query_type: str,
        *,
        label: str,
        clock: Clock,
        transaction_id: int,
        tags: tuple[str, ...],
    ) -> Lookup:
        from probe.net import dns

        bound: list[int] = []
        await self._watch(server)
        since = time.time()
        async with self._sockets, _until_answered(self._in_flight(server, port, tags)) as answered:
            records = await dns.query_udp(
                server,
                port,
                name,
                query_type,
                timeout=self.timeout,
                late_window=self.late_window,
                clock=clock,
                transaction_id=transaction_id,
                tags=tags,
                resolver_label=label,
                on_bound=bound.append,
                # Eight sends within the timeout: a lossy link loses all of them rarely (30% loss each way, as in
                # China and Iran at busy hours: 0.51**8, about 1 in 200 per query, and both of a name's queries
                # 1 in 46,000), a censor that drops the name loses every one (issue 15).
                resend_every=min(1.0, max(0.2, self.timeout / 8)),
                on_first_answer=answered,
            )
        # Summaries name the resolver as the records do (`label`): never the system resolver's own address.
        flow = self._flow("udp", bound[0] if bound else None, server, port, since, clock, transaction_id, label)
        return Lookup(records, flow=flow)

    def _in_flight(self, server: str, port: int, tags: tuple[str, ...]) -> asyncio.Semaphore | None:
        """The bound on unanswered queries to a resolver: a burst of thousands overflows a home router's queue,
        and the probe would blame the names it dropped. A non-resolver is exempt: it answers nothing (unless a
        censor forges it), so each query would hold its place for the whole timeout."""
        if Tag.NON_RESOLVER.value in tags:
            return None
        return self._resolver_load.setdefault((server, port), asyncio.Semaphore(QUERIES_IN_FLIGHT))

    async def dns_doh(
        self, url: str, name: str, query_type: str, *, clock: Clock, transaction_id: int, tags: tuple[str, ...]
    ) -> DNSQuery:
        from probe.net.dns import Question

        if self._doh is None:
            return Question("doh", url, name, query_type, transaction_id, tags).failed(
                Failure.INVALID_ARGUMENT.value, clock(), clock()
            )
        async with self._sockets:
            return await self._doh.query(url, name, query_type, clock=clock, transaction_id=transaction_id, tags=tags)

    async def tcp(
        self,
        ip: str,
        port: int,
        *,
        clock: Clock,
        transaction_id: int,
        tags: tuple[str, ...],
        connected: Connected | None = None,
        first_message: str | None = None,
    ) -> Exchange:
        from probe.net import firstexchange, tcp

        await self._watch(ip)
        app = None
        since = time.time()
        async with self._sockets:
            record, sock, local_port = await tcp.connect(
                ip, port, timeout=self.timeout, clock=clock, transaction_id=transaction_id, tags=tags
            )
            if sock is not None:
                if first_message is None:
                    sock.close()
                else:
                    with sock:
                        if connected is not None:  # every try of the round is connected before a first message
                            await connected()
                            connected = None
                        address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
                        app = await firstexchange.exchange(
                            sock,
                            first_message,
                            address=address,
                            timeout=self.timeout,
                            clock=clock,
                            transaction_id=transaction_id,
                            tags=tags,
                        )
                        if self._capture is not None and app.failure in ("connection_reset", "eof_error"):
                            await asyncio.sleep(LINGER_AFTER_FAILURE)
        if connected is not None:
            await connected()
        return Exchange(record, app=app, flow=self._flow("tcp", local_port, ip, port, since, clock, transaction_id))

    async def tls(
        self,
        ip: str,
        port: int,
        server_name: str,
        *,
        clock: Clock,
        transaction_id: int,
        tags: tuple[str, ...],
        connected: Connected | None = None,
        ca: str | None = None,
    ) -> Exchange:
        from probe.net import tcp, tls

        context = self._handshake_contexts.get(ca)
        if context is None:
            context = self._handshake_contexts[ca] = self._trust.handshake_context(ca)

        await self._watch(ip)
        since = time.time()
        async with self._sockets:
            connect, sock, local_port = await tcp.connect(
                ip, port, timeout=self.timeout, clock=clock, transaction_id=transaction_id, tags=tags
            )
            if connected is not None:
                await connected()
            if sock is None:
                return Exchange(connect, flow=self._flow("tcp", local_port, ip, port, since, clock, transaction_id))
            with sock:
                address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
                async with self._handshakes:
                    handshake, events = await tls.handshake(
                        sock,
                        address,
                        server_name,
                        trust=self._trust,
                        context=context,
                        timeout=self.timeout,
                        clock=clock,
                        transaction_id=transaction_id,
                        tags=tags,
                    )
                if self._capture is not None and handshake.failure in _CLOSED_BY_PEER:
                    await asyncio.sleep(LINGER_AFTER_FAILURE)
        flow = self._flow("tcp", local_port, ip, port, since, clock, transaction_id)
        return Exchange(connect, handshake, events, flow=flow)

    async def transfer(
        self,
        ip: str,
        port: int,
        server_name: str,
        path: str,
        *,
        ca: str | None,
        verify: bool,
        cap: int,
        stall_window: float,
        clock: Clock,
        transaction_id: int,
        tags: tuple[str, ...],
        host: str | None = None,
    ) -> Transfer:
        from probe.net import transfer

        await self._watch(ip)
        async with self._sockets:
            return await transfer.fetch(
                ip,
                port,
                server_name,
                path,
                context=self._trust.transfer_context(ca, verify=verify),
                cap=cap,
                connect_timeout=self.timeout,
                stall_window=stall_window,
                deadline=TRANSFER_DEADLINE * self.timeout,
                clock=clock,
                transaction_id=transaction_id,
                tags=tags,
                host=host,
            )

    async def _watch(self, address: str) -> None:
        """Have the sniffer keep `address`'s packets from now on, before we contact it. In a thread: the capture
        process answers once it has read what it holds, which under load (1000 endpoints) can take long enough to
        hold up every other measurement, and a lagging loop makes the run's timeouts count for nothing."""
        capture = self._capture
        if capture is not None and not capture.watching(address):
            await asyncio.to_thread(capture.watch, address)

    def _flow(
        self,
        proto: Transport,
        local_port: int | None,
        remote: str,
        port: int,
        since: float,
        clock: Clock,
        transaction_id: int,
        label: str | None = None,
    ) -> Flow | None:
        if self._capture is None or local_port is None:
            return None
        now = time.time()
        return Flow(proto, local_port, remote, port, since, now + CAPTURE_SETTLE, now - clock(), transaction_id, label)

    async def packets(self, flows: Sequence[Flow]) -> list[tuple[PacketSummary, ...]]:
        """Read the flows' packets in one request, in a thread (the capture process answers once it has read
        what it holds), after the last of them has settled."""
        capture = self._capture
        if capture is None or not flows:
            return [() for _ in flows]
        await asyncio.sleep(max(0.0, max(f.until for f in flows) - time.time()))
        return await asyncio.to_thread(capture.flows, flows)


@contextlib.asynccontextmanager
async def _until_answered(limit: asyncio.Semaphore | None) -> AsyncIterator[Callable[[], None]]:
    """Hold a place in `limit` until the callback it yields is called (the first answer) or the block ends."""
    if limit is None:
        yield lambda: None
        return
    await limit.acquire()
    held = [True]

    def release() -> None:
        if held[0]:
            held[0] = False
            limit.release()

    try:
        yield release
    finally:
        release()
