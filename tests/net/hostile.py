"""Hostile peers for the tests of issue 21, real servers on a socket: a DoH server that sends its answer a byte at a
time, or a body of hundreds of megabytes; a TLS server with a chain longer than any CA issues; an HTTP server that
answers uploads a byte at a time. Used in the test's own event loop, or as a process of its own (in a network
namespace): `python -m tests.net.hostile MODE --port P --certs DIR`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import trustme

from tests.dataset.servers import Process

TRICKLE_EVERY = 0.2  # seconds between two bytes of a trickled answer
HUGE_BODY = 300 * 1024 * 1024  # the answer that drove the probe to 2.9 GB


def certificates(folder: Path, chain_length: int = 0) -> Path:
    """A CA (`ca.pem`, for --ca-file) and a server certificate for 127.0.0.1 (`server.pem` with its chain and key),
    issued through `chain_length` intermediate CAs."""
    folder.mkdir(parents=True, exist_ok=True)
    root = trustme.CA(path_length=chain_length)
    issuer = root
    for _ in range(chain_length):
        issuer = issuer.create_child_ca()
    issuer.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    root.cert_pem.write_to_path(str(folder / "ca.pem"))
    return folder / "ca.pem"


def server_context(folder: Path, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem")
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP/1.1 request (head and body) off `reader`; its body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return await reader.readexactly(length)


def answering(mode: str, content_type: bytes = b"application/dns-message"):  # type: ignore[no-untyped-def]
    """A connection handler: `trickle` sends a 200 whose body comes a byte every TRICKLE_EVERY seconds; `huge`
    sends a 200 announcing and sending HUGE_BODY bytes as fast as the client reads; `answer` answers each DNS
    query, one request after another on the connection (keep-alive)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if mode == "answer":
            await answer_over_http1(reader, writer)
            return
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            await read_request(reader)
            size = HUGE_BODY if mode == "huge" else 100_000
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\nContent-Length: %d\r\n\r\n" % size)
            sent = 0
            while sent < size:
                chunk = b"\0" * (65536 if mode == "huge" else 1)
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
                if mode == "trickle":
                    await asyncio.sleep(TRICKLE_EVERY)
        writer.close()

    return handle


async def answer_over_http1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every DNS query on an HTTP/1.1 connection until the client closes it."""
    import dns.message

    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
        while True:
            wire = dns.message.make_response(dns.message.from_wire(await read_request(reader))).to_wire()
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: %d\r\n\r\n"
            writer.write(head % len(wire) + wire)
            await writer.drain()
    writer.close()


def answering_h2(mode: str, answer_first: int = 0):  # type: ignore[no-untyped-def]
    """A connection handler that speaks HTTP/2 (offer it with `server_context(folder, ("h2",))`): `answer`
    answers every DNS query; `trickle` sends a 200 whose body comes a byte every TRICKLE_EVERY seconds; `huge` a
    200 of HUGE_BODY bytes as fast as the client's flow control lets it; `goaway` answers the first
    `answer_first` streams and then says GOAWAY, leaving the later ones unprocessed; `silent` takes every request
    and answers none."""
    import dns.message
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        conn.initiate_connection()
        bodies: dict[int, bytes] = {}
        answered = 0
        tasks: list[asyncio.Task[None]] = []

        def flush() -> None:
            writer.write(conn.data_to_send())

        async def slow(stream_id: int, size: int, every: float) -> None:
            conn.send_headers(stream_id, [(b":status", b"200"), (b"content-type", b"application/dns-message")])
            flush()
            sent = 0
            while sent < size:
                chunk = min(size - sent, 1 if every else 16384, conn.local_flow_control_window(stream_id))
                if chunk <= 0:
                    await asyncio.sleep(0.01)  # the client's window is shut: wait for its WINDOW_UPDATE
                    continue
                conn.send_data(stream_id, b"\0" * chunk)
                flush()
                await writer.drain()
                sent += chunk
                await asyncio.sleep(every)

        with contextlib.suppress(ConnectionError, ssl.SSLError, OSError, h2.exceptions.H2Error):
            flush()
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.DataReceived):
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                        bodies[event.stream_id] = bodies.get(event.stream_id, b"") + event.data
                    if not isinstance(event, h2.events.StreamEnded) or mode == "silent":
                        continue
                    stream_id = event.stream_id
                    if mode in ("trickle", "huge"):
                        size, every = (HUGE_BODY, 0.0) if mode == "huge" else (100_000, TRICKLE_EVERY)
                        tasks.append(asyncio.create_task(slow(stream_id, size, every)))
                        continue
                    if mode == "goaway" and answered >= answer_first:
                        conn.close_connection(last_stream_id=stream_id - 2)  # this one and later: not processed
                        break
                    answered += 1
                    wire = dns.message.make_response(dns.message.from_wire(bodies.pop(stream_id))).to_wire()
                    headers = [(b":status", b"200"), (b"content-type", b"application/dns-message"),
                               (b"content-length", b"%d" % len(wire))]  # fmt: skip
                    conn.send_headers(stream_id, headers)
                    conn.send_data(stream_id, wire, end_stream=True)
                flush()
                if conn.state_machine.state == h2.connection.ConnectionState.CLOSED:
                    break
        for task in tasks:
            task.cancel()
        writer.close()

    return handle


async def serve_forever(mode: str, port: int, certs: Path) -> None:
    context = None if mode == "http-trickle" else server_context(certs)
    handler = answering("trickle" if mode == "http-trickle" else mode, b"application/json")
    server = await asyncio.start_server(handler, "127.0.0.1", port, ssl=context)
    async with server:
        await server.serve_forever()


def serve_in(netns: str, mode: str, port: int, certs: Path, log: Path) -> Process:
    """`python -m tests.net.hostile MODE` started in `netns`, once it takes connections."""
    argv = ["ip", "netns", "exec", netns, sys.executable, "-m", "tests.net.hostile", mode, "--port", str(port)]
    process = Process([*argv, "--certs", str(certs)], log)
    process.start()
    wait = (
        "import socket, time\nfor _ in range(200):\n    try:\n"
        f"        socket.create_connection(('127.0.0.1', {port}), 1).close(); break\n"
        "    except OSError: time.sleep(0.05)\nelse: raise SystemExit(1)"
    )
    ready = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", wait], timeout=30, check=False)
    if ready.returncode != 0:
        process.stop()
        raise RuntimeError(f"the {mode} server did not start: {process.log_text()}")
    return process


def target_list(path: Path, endpoints: Sequence[tuple[str, str]], port: int = 8443) -> Path:
    """A target list of (service, host) endpoints, all served by the TLS server on 127.0.0.1:`port`."""
    path.write_text(
        'version = "test"\n'
        + "".join(
            f'[[endpoint]]\nservice = "{service}"\nhost = "{host}"\nport = {port}\nprotocol = "tls"\n'
            f'sni = "localhost"\nfallback_addresses = ["127.0.0.1"]\n'
            for service, host in endpoints
        )
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["trickle", "huge", "http-trickle", "tls"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certs", type=Path, required=True)
    options = parser.parse_args()
    if options.mode == "tls":  # a plain TLS server: handshakes complete, nothing more
        options.mode = "huge"
    asyncio.run(serve_forever(options.mode, options.port, options.certs))


if __name__ == "__main__":
    main()
