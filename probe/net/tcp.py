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
) -> tuple[TCPConnect, socket.socket | None, int | None]:
    """Open a TCP connection to ip:port. Returns the observation, on success the connected socket (non-blocking;
    the caller owns it and must close it), and the local port used (for matching captured packets)."""
    family = socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET
    loop = asyncio.get_running_loop()
    t0 = clock()
    sock: socket.socket | None = None
    local_port: int | None = None
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        # Take the local port now: after a refused connect the kernel forgets it, and the capture needs it.
        sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        local_port = _local_port(sock)
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (ip, port))
    except (OSError, TimeoutError) as exc:
        if sock is not None:
            sock.close()
        status = TCPStatus(failure=classify(exc), success=False)
        record = TCPConnect(ip=ip, port=port, status=status, t0=t0, t=clock(), transaction_id=transaction_id, tags=tags)
        return record, None, local_port
    status = TCPStatus(success=True)
    record = TCPConnect(ip=ip, port=port, status=status, t0=t0, t=clock(), transaction_id=transaction_id, tags=tags)
    return record, sock, local_port


def _local_port(sock: socket.socket | None) -> int | None:
    """The local port the kernel gave the socket at connect() (None if it never got that far)."""
    if sock is None:
        return None
    try:
        port = sock.getsockname()[1]
    except OSError:
        return None
    return int(port) or None
