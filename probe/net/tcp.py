"""TCP connect, as an observation: the errno is kept, never raised."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from probe.failures import classify
from probe.model import TCPConnect, TCPStatus
from probe.net.clock import Clock


async def connect(
    ip: str, port: int, *, timeout: float, clock: Clock, transaction_id: int, tags: tuple[str, ...] = ()
) -> tuple[TCPConnect, socket.socket | None]:
    """Open a TCP connection to ip:port. Returns the observation and, on success, the connected socket
    (non-blocking; the caller owns it and must close it)."""
    family = socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET
    loop = asyncio.get_running_loop()
    t0 = clock()
    sock: socket.socket | None = None
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (ip, port))
    except (OSError, TimeoutError) as exc:
        if sock is not None:
            sock.close()
        status = TCPStatus(failure=classify(exc), success=False)
        return TCPConnect(
            ip=ip, port=port, status=status, t0=t0, t=clock(), transaction_id=transaction_id, tags=tags
        ), None
    return TCPConnect(
        ip=ip, port=port, status=TCPStatus(success=True), t0=t0, t=clock(), transaction_id=transaction_id, tags=tags
    ), sock
