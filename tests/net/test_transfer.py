"""Capped transfers over real TLS on loopback: a complete response, the cap, a freeze (stall), a slow trickle, a
close before the end; and the per-endpoint trust anchor (a certificate from any other issuer fails there)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from probe.anchors import ANCHORS
from probe.failures import CertificateError
from probe.model import Transfer
from probe.net.certs import TrustStore
from probe.net.clock import relative_clock
from probe.net.transfer import fetch

NAME = "www.lab.example"
CA = trustme.CA(organization_name="transfer test CA")
OTHER_CA = trustme.CA(organization_name="another CA")
Body = Callable[[asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(body: Body, ca: trustme.CA = CA) -> AsyncIterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(NAME).configure_cert(context)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await body(writer)
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()


def context(tmp_path: Path, ca: trustme.CA = CA, *, pinned: bool = False, verify: bool = True) -> ssl.SSLContext:
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    if pinned:
        return TrustStore((), system=False, anchors={"signal": pem}).transfer_context("signal")
    return TrustStore((pem,), system=False).transfer_context(verify=verify)


async def get(port: int, ctx: ssl.SSLContext, *, stall: float = 1.0, deadline: float = 3.0) -> Transfer:
    return await fetch(
        "127.0.0.1", port, NAME, "/big", context=ctx, cap=65536, connect_timeout=2.0, stall_window=stall,
        deadline=deadline, clock=relative_clock(), transaction_id=3, tags=("target",),
    )  # fmt: skip


def head(length: int | None = None, chunked: bool = False) -> bytes:
    fields = f"Content-Length: {length}\r\n" if length is not None else ""
    fields += "Transfer-Encoding: chunked\r\n" if chunked else ""
    return f"HTTP/1.1 200 OK\r\n{fields}Connection: close\r\n\r\n".encode()


async def big(writer: asyncio.StreamWriter) -> None:
    writer.write(head(300_000) + b"x" * 300_000)
    await writer.drain()


async def small(writer: asyncio.StreamWriter) -> None:
    writer.write(head(1000) + b"y" * 1000)
    await writer.drain()
    await asyncio.sleep(5)  # keep-alive: the length, not a close, says the response ended


async def chunked(writer: asyncio.StreamWriter) -> None:
    writer.write(head(chunked=True) + b"5\r\nhello\r\n0\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(5)


async def frozen(writer: asyncio.StreamWriter) -> None:
    writer.write(head(300_000) + b"z" * 16000)  # then nothing, ever: a freeze after 16 KB
    await writer.drain()
    await asyncio.sleep(5)


async def trickle(writer: asyncio.StreamWriter) -> None:
    writer.write(head(300_000))
    for _ in range(100):
        writer.write(b"t" * 500)
        await writer.drain()
        await asyncio.sleep(0.05)


async def cut(writer: asyncio.StreamWriter) -> None:
    writer.write(head(300_000) + b"c" * 5000)
    await writer.drain()


async def test_a_big_response_is_read_up_to_the_cap_with_samples(tmp_path: Path) -> None:
    async with server(big) as port:
        t = await get(port, context(tmp_path))
    assert (t.failure, t.num_bytes, t.server_name, t.path, t.no_tls_verify) == (None, 65536, NAME, "/big", False)
    assert t.t_request is not None and t.t_last_byte is not None and t.t0 <= t.t_request <= t.t_last_byte <= t.t
    assert t.samples and t.samples[-1].num_bytes == 65536
    assert all(a.t <= b.t and a.num_bytes <= b.num_bytes for a, b in zip(t.samples, t.samples[1:], strict=False))


@pytest.mark.parametrize("body", [small, chunked], ids=["content_length", "chunked"])
async def test_a_response_that_ends_before_the_cap_is_complete_without_waiting(body: Body, tmp_path: Path) -> None:
    async with server(body) as port:
        t = await get(port, context(tmp_path), stall=2.0)
    assert t.failure is None and 0 < t.num_bytes < 2000 and t.t - t.t0 < 1.0


async def test_a_freeze_after_16_kb_is_a_stall(tmp_path: Path) -> None:
    async with server(frozen) as port:
        t = await get(port, context(tmp_path), stall=0.3)
    assert t.failure == "transfer_stalled" and 16000 < t.num_bytes < 17500  # on the wire: records, tickets
    assert t.t_last_byte is not None and t.t - t.t_last_byte >= 0.3


async def test_a_slow_trickle_at_the_deadline_is_slow_not_stalled(tmp_path: Path) -> None:
    async with server(trickle) as port:
        t = await get(port, context(tmp_path), stall=0.5, deadline=0.6)
    assert t.failure == "generic_timeout_error" and 0 < t.num_bytes < 65536


async def test_a_close_before_the_response_ends_is_eof(tmp_path: Path) -> None:
    async with server(cut) as port:
        t = await get(port, context(tmp_path))
    assert t.failure in ("eof_error", "connection_reset") and t.num_bytes >= 5000


async def test_a_pinned_anchor_refuses_any_other_issuer_and_the_control_context_validates_nothing(
    tmp_path: Path,
) -> None:
    async with server(big, ca=OTHER_CA) as port:
        refused = await get(port, context(tmp_path, CA, pinned=True))
        control = await get(port, context(tmp_path, CA, verify=False))
    assert refused.failure == "ssl_unknown_authority" and refused.t_request is None and refused.num_bytes == 0
    assert control.failure is None and control.no_tls_verify and control.num_bytes == 65536
    async with server(big, ca=CA) as port:
        accepted = await get(port, context(tmp_path, CA, pinned=True))
    assert accepted.failure is None


async def test_the_control_sni_asks_for_the_targets_host(tmp_path: Path) -> None:
    """The control SNI's transfer sends the target's Host (inside TLS, where a censor does not see it), so that a
    server serving that host answers both with the same page; the record says which Host it asked for."""
    seen: list[tuple[str | None, bytes]] = []
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    CA.issue_cert(NAME).configure_cert(tls)
    names: list[str | None] = []
    tls.sni_callback = lambda _sock, name, _ctx: names.append(name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head_ = await reader.readuntil(b"\r\n\r\n")
        seen.append((names[-1], next(line for line in head_.split(b"\r\n") if line.lower().startswith(b"host:"))))
        await small(writer)
        writer.transport.abort()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    port = srv.sockets[0].getsockname()[1]
    try:
        control = await fetch(
            "127.0.0.1", port, "example.org", "/big", context=context(tmp_path, verify=False), cap=65536,
            connect_timeout=2.0, stall_window=1.0, deadline=3.0, clock=relative_clock(), transaction_id=4,
            tags=("control_sni",), host=NAME,
        )  # fmt: skip
        target = await get(port, context(tmp_path))
    finally:
        srv.close()
    assert seen == [("example.org", b"Host: " + NAME.encode()), (NAME, b"Host: " + NAME.encode())]
    assert (control.server_name, control.host, control.failure) == ("example.org", NAME, None)
    assert target.host is None  # the SNI's own host: not repeated


def test_a_pinned_handshake_context_trusts_its_anchor_alone(tmp_path: Path) -> None:
    pem = tmp_path / "other.pem"
    OTHER_CA.cert_pem.write_to_path(str(pem))
    store = TrustStore((pem,), system=True)
    pinned = store.handshake_context("signal")  # the bundled Signal CA, not the system store nor --ca-file
    der = pinned.get_ca_certs(binary_form=True)
    subjects = {x509.load_der_x509_certificate(d).subject.rfc4514_string() for d in der}
    assert subjects == {ANCHORS["signal"].subject}
    with pytest.raises(CertificateError, match="cannot load anchor signal"):
        TrustStore((), anchors={"signal": tmp_path / "missing.pem"})
