"""The network edge: DNS (UDP, DoH), TCP and TLS operations that return observations, never raise.

`Network` is the seam measure.py talks through; `SystemNetwork` is the real thing, and unit tests hand in fakes
that return the same records.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from probe.model import DNSQuery, NetworkEvent, TCPConnect, TLSHandshake
from probe.net.clock import Clock

if TYPE_CHECKING:  # the implementations import httpx, dnspython and cryptography: load them when used
    from probe.net.certs import TrustStore
    from probe.net.doh import DoHClient


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
    ) -> tuple[DNSQuery, ...]: ...

    async def dns_doh(
        self, url: str, name: str, query_type: str, *, clock: Clock, transaction_id: int, tags: tuple[str, ...]
    ) -> DNSQuery: ...

    async def tcp(
        self, ip: str, port: int, *, clock: Clock, transaction_id: int, tags: tuple[str, ...]
    ) -> TCPConnect: ...

    async def tls(
        self, ip: str, port: int, server_name: str, *, clock: Clock, transaction_id: int, tags: tuple[str, ...]
    ) -> tuple[TCPConnect, TLSHandshake | None, tuple[NetworkEvent, ...]]: ...


class SystemNetwork:
    """The real network, with a bound on open sockets so a run of a thousand endpoints cannot exhaust them."""

    def __init__(
        self,
        *,
        timeout: float,
        late_window: float,
        trust: TrustStore,
        doh: DoHClient | None,
        max_sockets: int = 512,
    ) -> None:
        self.timeout = timeout
        self.late_window = late_window
        self._trust = trust
        self._handshake_context = trust.handshake_context()  # loading the anchors once, not per handshake
        self._doh = doh
        self._sockets = asyncio.Semaphore(max_sockets)

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
    ) -> tuple[DNSQuery, ...]:
        from probe.net import dns

        async with self._sockets:
            return await dns.query_udp(
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
            )

    async def dns_doh(
        self, url: str, name: str, query_type: str, *, clock: Clock, transaction_id: int, tags: tuple[str, ...]
    ) -> DNSQuery:
        from probe.failures import Failure
        from probe.net.dns import Question

        if self._doh is None:
            return Question("doh", url, name, query_type, transaction_id, tags).failed(
                Failure.INVALID_ARGUMENT.value, clock(), clock()
            )
        async with self._sockets:
            return await self._doh.query(url, name, query_type, clock=clock, transaction_id=transaction_id, tags=tags)

    async def tcp(self, ip: str, port: int, *, clock: Clock, transaction_id: int, tags: tuple[str, ...]) -> TCPConnect:
        from probe.net import tcp

        async with self._sockets:
            record, sock = await tcp.connect(
                ip, port, timeout=self.timeout, clock=clock, transaction_id=transaction_id, tags=tags
            )
            if sock is not None:
                sock.close()
            return record

    async def tls(
        self, ip: str, port: int, server_name: str, *, clock: Clock, transaction_id: int, tags: tuple[str, ...]
    ) -> tuple[TCPConnect, TLSHandshake | None, tuple[NetworkEvent, ...]]:
        from probe.net import tcp, tls

        async with self._sockets:
            connect, sock = await tcp.connect(
                ip, port, timeout=self.timeout, clock=clock, transaction_id=transaction_id, tags=tags
            )
            if sock is None:
                return connect, None, ()
            with sock:
                address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
                handshake, events = await tls.handshake(
                    sock,
                    address,
                    server_name,
                    trust=self._trust,
                    context=self._handshake_context,
                    timeout=self.timeout,
                    clock=clock,
                    transaction_id=transaction_id,
                    tags=tags,
                )
            return connect, handshake, events
