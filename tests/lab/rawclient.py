"""A raw client for the censor self-tests, run inside the client namespace with the project's Python.

It reads a JSON list of checks on stdin and prints a JSON list of results: one list of outcomes per check, one
outcome per repeat (repeats run concurrently). It uses plain sockets, `ssl`, dnspython and httpx, none of the
probe's code, so a censor is proven with tools that owe the probe nothing.

Outcomes:
  dns, doh  {"responses": [{"rcode": "NOERROR", "addresses": [...]}, ...]} in arrival order, or {"error": "timeout" |
            "refused" | "unreachable" | "...")}
  tcp       "connected" | "refused" | "timeout" | "unreachable" | "error:..."
  tcp_rtt   "delayed" (the connect took at least `slow` seconds) | "prompt" | a tcp failure
  tls       "ok" (valid for the name under the lab CA) | "wrong_name" | "untrusted" | "reset" | "timeout" | "closed"
            | "connect_refused" | "connect_timeout" | "unreachable" | "error:..."
  mtproto   "respq" (a resPQ with our nonce answered req_pq_multi) | "other" | "timeout" | "reset" | "closed" | the
            tcp outcomes of a failed connect
  fetch     a TLS GET of `path`, at most 64 KiB: "fast" (all of it at 1 MB/s or more) | "slow" | "frozen" (nothing
            for `stall` seconds after the handshake) | "reset" | "closed" | "error:..."
"""

from __future__ import annotations

import errno
import json
import os
import socket
import ssl
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def dns_udp(check: dict[str, Any]) -> dict[str, Any]:
    """Send one query and collect every response to it for `window` seconds after the first."""
    import dns.message
    import dns.rcode

    query = dns.message.make_query(check["name"], check.get("qtype", "A"))
    responses: list[dict[str, Any]] = []
    error = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((check["ip"], check.get("port", 53)))
            sock.send(query.to_wire())
        except OSError as exc:
            return {"error": _errno_name(exc)}
        deadline = time.monotonic() + check["timeout"]
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(65535)
            except TimeoutError:
                break
            except OSError as exc:  # ICMP port unreachable: an injector may still answer, keep listening
                error = error or _errno_name(exc)
                continue
            try:
                response = dns.message.from_wire(data)
            except Exception:
                continue
            if not query.is_response(response):
                continue
            responses.append(_summary(response))
            if len(responses) == 1:
                deadline = min(deadline, time.monotonic() + check["window"])
    return {"responses": responses} if responses else {"error": error or "timeout"}


def doh(check: dict[str, Any]) -> dict[str, Any]:
    import dns.message
    import httpx

    query = dns.message.make_query(check["name"], check.get("qtype", "A"))
    query.id = 0
    context = ssl.create_default_context(cafile=check["ca_file"])
    try:
        with httpx.Client(http2=True, verify=context, timeout=check["timeout"], trust_env=False) as client:
            reply = client.post(
                check["url"],
                content=query.to_wire(),
                headers={"content-type": "application/dns-message", "accept": "application/dns-message"},
            )
    except httpx.TimeoutException:
        return {"error": "timeout"}
    except httpx.HTTPError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    if reply.status_code != 200:
        return {"error": f"http {reply.status_code}"}
    return {"responses": [_summary(dns.message.from_wire(reply.content))], "http_version": reply.http_version}


def _summary(response: Any) -> dict[str, Any]:
    import dns.rcode

    addresses = [r.address for rrset in response.answer for r in rrset if hasattr(r, "address")]
    return {"rcode": dns.rcode.to_text(response.rcode()), "addresses": addresses}


def tcp(check: dict[str, Any]) -> str:
    try:
        with socket.create_connection((check["ip"], check["port"]), timeout=check["timeout"]):
            return "connected"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return _errno_name(exc)


def tcp_rtt(check: dict[str, Any]) -> str:
    start = time.monotonic()
    outcome = tcp(check)
    if outcome != "connected":
        return outcome
    return "delayed" if time.monotonic() - start >= check["slow"] else "prompt"


def _connect(check: dict[str, Any]) -> socket.socket | str:
    """A connected socket, or what went wrong ("connect_refused", "connect_timeout", "unreachable", ...)."""
    try:
        return socket.create_connection((check["ip"], check["port"]), timeout=check["timeout"])
    except ConnectionRefusedError:
        return "connect_refused"
    except TimeoutError:
        return "connect_timeout"
    except OSError as exc:
        return _errno_name(exc)


def tls(check: dict[str, Any]) -> str:
    context = ssl.create_default_context(cafile=check["ca_file"])
    sock = _connect(check)
    if isinstance(sock, str):
        return sock
    with sock:
        try:
            with context.wrap_socket(sock, server_hostname=check["sni"]):
                return "ok"
        except ssl.SSLCertVerificationError as exc:
            # X509_V_ERR_HOSTNAME_MISMATCH = 62; anything else is a chain no trust anchor vouches for
            return "wrong_name" if exc.verify_code == 62 else "untrusted"
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            return "closed"
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            return "timeout"
        except OSError as exc:
            return f"error:{type(exc).__name__}: {exc}"


def _errno_name(exc: OSError) -> str:
    names = {errno.ECONNREFUSED: "refused", errno.ENETUNREACH: "unreachable", errno.EHOSTUNREACH: "unreachable"}
    return names.get(exc.errno or 0, f"error:{errno.errorcode.get(exc.errno or 0, exc)}")


def mtproto(check: dict[str, Any]) -> str:
    """req_pq_multi#be7e8ef1 in the intermediate transport (0xeeeeeeee, then int32 length and the message)."""
    nonce = os.urandom(16)
    body = struct.pack("<I", 0xBE7E8EF1) + nonce
    message = struct.pack("<qqi", 0, (int(time.time()) << 32), len(body)) + body
    sock = _connect(check)
    if isinstance(sock, str):
        return sock
    with sock:
        try:
            sock.sendall(b"\xee" * 4 + struct.pack("<i", len(message)) + message)
            data = b""
            while len(data) < 4 or len(data) < 4 + struct.unpack_from("<i", data)[0]:
                chunk = sock.recv(1024)
                if not chunk:
                    return "closed"
                data += chunk
                if len(data) > 1024:
                    return "other"
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            return "timeout"
        except OSError as exc:
            return f"error:{type(exc).__name__}"
    resp_pq = len(data) >= 4 + 20 + 20 and struct.unpack_from("<I", data, 24)[0] == 0x05162463
    return "respq" if resp_pq and data[28:44] == nonce else "other"


def fetch(check: dict[str, Any]) -> str:
    context = ssl.create_default_context(cafile=check["ca_file"])
    context.set_alpn_protocols(["http/1.1"])
    cap, stall, deadline = 65536, check["stall"], check["deadline"]
    try:
        raw = socket.create_connection((check["ip"], check["port"]), timeout=check["timeout"])
        sock = context.wrap_socket(raw, server_hostname=check["sni"])
    except OSError as exc:
        return f"error:{type(exc).__name__}"
    with sock:
        request = f"GET {check['path']} HTTP/1.1\r\nHost: {check['sni']}\r\nConnection: close\r\n\r\n"
        start = time.monotonic()
        got = 0
        try:
            sock.sendall(request.encode())
            while got < cap and time.monotonic() - start < deadline:
                sock.settimeout(stall)
                chunk = sock.recv(cap - got)
                if not chunk:
                    return "closed"
                got += len(chunk)
        except TimeoutError:  # after the handshake: a freeze mid-record delivers no plaintext at all
            return "frozen"
        except ConnectionResetError:
            return "reset"
        except OSError as exc:
            return f"error:{type(exc).__name__}"
    return "fast" if got >= cap and got / (time.monotonic() - start) >= 1e6 else "slow"


KINDS = {
    "dns": dns_udp,
    "doh": doh,
    "tcp": tcp,
    "tcp_rtt": tcp_rtt,
    "tls": tls,
    "mtproto": mtproto,
    "fetch": fetch,
}


def main() -> int:
    checks = json.load(sys.stdin)
    results = []
    # In order: some censors keep state (residual blocking), so one check may depend on the one before it.
    for check in checks:
        with ThreadPoolExecutor(max_workers=min(64, check["repeat"])) as pool:
            results.append(list(pool.map(KINDS[check["kind"]], [check] * check["repeat"])))
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
