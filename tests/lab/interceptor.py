"""An SNI-triggered TLS interception box for the censor namespace (Kazakhstan 2019-2020 style, issue 15).

    python interceptor.py mitm --listen IP:PORT [--listen [IPv6]:PORT] NAME...

Connections to the censored addresses are DNATed to `--listen` (one per address family). For each, the
ClientHello is peeked at (not consumed); when its SNI is one of NAMES, the box completes the handshake itself with
a certificate from its own CA, which nobody trusts, copying the genuine certificate's names: the target's name
comes fourth, after three other names of the operator, as itself for every other name and as a wildcard for the
rest, so the probe must find the name in any position and through a wildcard. Any other ClientHello (the probe's
control SNI) is passed on to the original destination (SO_ORIGINAL_DST) untouched, so the interception shows only
for the target names.

Prints "ready" once it listens, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import ssl
import struct
import sys
import threading

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h
PEEK_TIMEOUT = 3.0


def forged_names(name: str, index: int) -> list[str]:
    """Three other names of the operator first, then the target's: itself, or (every other name) a wildcard."""
    parent = name.split(".", 1)[1] if name.count(".") >= 2 else name
    own = name if index % 2 == 0 else f"*.{parent}"
    return [f"www.{parent}", parent, f"static.{parent}", own]


def server_name(hello: bytes) -> str | None:
    """The SNI of a TLS ClientHello record (RFC 8446 4.1.2, RFC 6066 3), or None."""
    try:
        if hello[0] != 0x16 or hello[5] != 0x01:
            return None
        at = 5 + 4 + 2 + 32  # record header, handshake header, version, random
        at += 1 + hello[at]  # session id
        at += 2 + struct.unpack_from("!H", hello, at)[0]  # cipher suites
        at += 1 + hello[at]  # compression methods
        end = at + 2 + struct.unpack_from("!H", hello, at)[0]
        at += 2
        while at + 4 <= end:
            kind, length = struct.unpack_from("!HH", hello, at)
            at += 4
            if kind == 0:  # server_name: list length, type 0 (host_name), name length, name
                size = struct.unpack_from("!H", hello, at + 3)[0]
                return hello[at + 5 : at + 5 + size].decode("ascii").lower()
            at += length
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    return None


def peek_hello(conn: socket.socket) -> bytes:
    """The whole first TLS record, read without consuming it."""
    conn.settimeout(PEEK_TIMEOUT)
    data = b""
    for _ in range(50):
        data = conn.recv(16384, socket.MSG_PEEK)
        if len(data) >= 5 and len(data) >= 5 + struct.unpack_from("!H", data, 3)[0]:
            break
        threading.Event().wait(0.02)
    return data


def original_destination(conn: socket.socket) -> tuple[str, int]:
    """Where the client meant to go, before DNAT: a sockaddr_in, or over IPv6 a sockaddr_in6 (IP6T_SO_ORIGINAL_DST
    has the same number, at the IPv6 level)."""
    if conn.family == socket.AF_INET6:
        raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
        port, packed = struct.unpack_from("!2xH4x16s", raw)
        return socket.inet_ntop(socket.AF_INET6, packed), port
    raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), port


def splice(a: socket.socket, b: socket.socket) -> None:
    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join(10)


def handle(conn: socket.socket, contexts: dict[str, ssl.SSLContext]) -> None:
    with conn:
        try:
            hello = peek_hello(conn)
            name = server_name(hello)
            if name in contexts:
                conn.settimeout(10)
                with contexts[name].wrap_socket(conn, server_side=True) as tls, contextlib.suppress(OSError):
                    tls.recv(1)  # until the client gives up on the certificate
                return
            conn.settimeout(None)
            with socket.create_connection(original_destination(conn), timeout=5) as upstream:
                upstream.settimeout(None)
                splice(conn, upstream)
        except (OSError, ssl.SSLError):
            return


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["mitm"])
    parser.add_argument("--listen", action="append", required=True, help="IP:PORT or [IPv6]:PORT, repeatable")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args(argv)

    import trustme

    authority = trustme.CA(organization_name="Copying interception CA")
    contexts = {}
    for index, name in enumerate(n.lower() for n in args.names):
        names = forged_names(name, index)
        leaf = authority.issue_cert(*names, common_name=name)  # the genuine subject, copied
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(context)
        contexts[name] = context
    servers = []
    for listen in args.listen:
        host, _, port = listen.rpartition(":")
        family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
        servers.append(socket.create_server((host.strip("[]"), int(port)), family=family, backlog=512))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def serve(server: socket.socket) -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn, contexts), daemon=True).start()

    for server in servers:
        threading.Thread(target=serve, args=(server,), daemon=True).start()
    print("ready", flush=True)
    stop.wait()
    for server in servers:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
