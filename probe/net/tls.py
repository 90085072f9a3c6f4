"""TLS handshake over an already connected socket, driven by hand through memory BIOs.

Driving OpenSSL ourselves (instead of asyncio's TLS transport) gives two things the verdicts need: every write and
read of the handshake as a df-008 network event (a reset after the ClientHello write and before any read is what
SNI filtering looks like), and the peer's whole chain even when it would not validate (what an interception box
presented). OpenSSL validates during the handshake (probe.net.certs); when it refuses, the chain it refused is
still read off the session.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import socket
import ssl

from probe.failures import Failure, classify
from probe.model import BinaryData, NetworkEvent, Tag, TLSHandshake
from probe.net.certs import TrustStore
from probe.net.clock import Clock

_READ_SIZE = 65536
# What is kept of a peer's chain: real chains are 2-5 certificates of 1-3 kB; a hostile network served 95 kB ones
# to each of a dozen handshakes per endpoint, and result files grew past the collector's limit (issue 21). OpenSSL
# itself reads at most 100 kB of a chain (its max_cert_list).
MAX_CHAIN_CERTIFICATES = 8
MAX_CHAIN_BYTES = 32 * 1024


async def handshake(
    sock: socket.socket,
    address: str,
    server_name: str,
    *,
    trust: TrustStore,
    timeout: float,
    clock: Clock,
    transaction_id: int,
    tags: tuple[str, ...] = (),
    context: ssl.SSLContext | None = None,
) -> tuple[TLSHandshake, tuple[NetworkEvent, ...]]:
    """Handshake with SNI `server_name` on `sock` (connected to `address`, "ip:port"), validating the chain for
    that name against `trust` (or the given `context`, made by `trust.handshake_context()`).

    The socket is left open; the caller closes it. Failures are data: the record's `failure` says what happened,
    and the events say when (after which write, before which read).
    """
    loop = asyncio.get_running_loop()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = (context or trust.handshake_context()).wrap_bio(incoming, outgoing, server_hostname=server_name)
    events: list[NetworkEvent] = []

    def event(operation: str, t0: float, num_bytes: int | None = None, failure: str | None = None) -> None:
        events.append(
            NetworkEvent(
                address=address,
                failure=failure,
                num_bytes=num_bytes,
                operation=operation,
                proto="tcp",
                t0=t0,
                t=clock(),
                transaction_id=transaction_id,
                tags=tags,
            )
        )

    async def flush() -> None:
        data = outgoing.read()
        if data:
            t0 = clock()
            try:
                await loop.sock_sendall(sock, data)
            except OSError as exc:
                event("write", t0, failure=classify(exc))
                raise
            event("write", t0, len(data))

    t0 = clock()
    failure: str | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    await flush()
                    t_read = clock()
                    try:
                        chunk = await loop.sock_recv(sock, _READ_SIZE)
                    except OSError as exc:
                        event("read", t_read, failure=classify(exc))
                        raise
                    except TimeoutError as exc:
                        event("read", t_read, failure=classify(exc))
                        raise
                    if chunk:
                        event("read", t_read, len(chunk))
                        incoming.write(chunk)
                    else:
                        event("read", t_read, failure=Failure.EOF_ERROR.value)  # the peer closed: no exception
                        incoming.write_eof()
            await flush()  # the client Finished
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        failure = classify(exc)
    chain, cut = _kept(_peer_chain(tls))
    if cut:
        tags = tags + (Tag.TRUNCATED.value,)
    cipher = tls.cipher()
    record = TLSHandshake(
        address=address,
        cipher_suite=cipher[0] if cipher else None,
        failure=failure,
        negotiated_protocol=tls.selected_alpn_protocol(),
        peer_certificates=tuple(chain) or None,
        server_name=server_name,
        t0=t0,
        t=clock(),
        tags=tags,
        tls_version=tls.version(),
        transaction_id=transaction_id,
    )
    return record, tuple(events)


def _kept(chain: list[BinaryData]) -> tuple[list[BinaryData], bool]:
    """The chain's first certificates, within MAX_CHAIN_CERTIFICATES and MAX_CHAIN_BYTES (of base64; the leaf is
    always kept), and whether some were left out."""
    kept: list[BinaryData] = []
    size = 0
    for certificate in chain[:MAX_CHAIN_CERTIFICATES]:
        size += len(certificate.data)
        if kept and size > MAX_CHAIN_BYTES:
            break
        kept.append(certificate)
    return kept, len(kept) < len(chain)


def _peer_chain(tls: ssl.SSLObject) -> list[BinaryData]:
    # CPython 3.10-3.12 expose the unverified chain only on the private _sslobj (public from 3.13 as
    # SSLObject.get_unverified_chain); the leaf alone is the fallback.
    native = getattr(tls, "_sslobj", None)
    getter = getattr(native, "get_unverified_chain", None) or getattr(tls, "get_unverified_chain", None)
    ders: list[bytes] = []
    if getter is not None:
        try:
            ders = [c.public_bytes(ssl._ssl.ENCODING_DER) for c in getter() or ()]  # type: ignore[attr-defined]
        except (ssl.SSLError, ValueError):
            ders = []
    if not ders:
        try:
            leaf = tls.getpeercert(binary_form=True)
        except (ValueError, ssl.SSLError):
            leaf = None
        ders = [leaf] if leaf else []
    return [_certificate(der) for der in ders]


@functools.lru_cache(maxsize=4096)
def _certificate(der: bytes) -> BinaryData:
    """One record per distinct certificate: a server presents the same chain to every try, and a run of a
    thousand endpoints would otherwise hold tens of thousands of copies of a few dozen certificates."""
    return BinaryData(data=base64.b64encode(der).decode("ascii"))
