"""The real servers of the lab, from Debian's packages, started inside the server namespace: two unbound
resolvers (the system resolver a censor may tamper with, and the clean DoH control) and one nginx (the services'
TLS and TCP endpoints, and the interception server). Config files are generated from the lab plan; the generators
are pure functions so a reader can see exactly what runs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.lab import plan as addr
from tests.lab.netns import LabCommandError, run
from tests.lab.pki import LabPKI
from tests.lab.plan import LabPlan

# The lies of the system resolver: the name -> (its A answer: "nxdomain", "nodata" or an address instead of the
# genuine one; its AAAA answer: an address, or None for none at all, NOERROR with an empty answer).
Overrides = Mapping[str, tuple[str, str | None]]


def unbound_config(
    folder: Path,
    role: str,
    names: Sequence[tuple[str, str]],
    aaaa: Mapping[str, str],
    overrides: Overrides,
    *,
    interfaces: Sequence[str],
    doh: tuple[Path, Path] | None = None,
) -> str:
    """An authoritative-only unbound: local data for `names` and nothing else (`local-zone: "." static` answers
    every other name NXDOMAIN, so it never recurses toward the real root servers). Every name has an A record,
    and an AAAA record when `aaaa` has one; the DNS itself is served over IPv4 only."""
    lines = [
        "server:",
        *(f"  interface: {i}" for i in interfaces),
        "  do-ip6: no",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{folder}"',
        f'  pidfile: "{folder}/unbound-{role}.pid"',
        "  use-syslog: no",
        '  logfile: ""',
        "  verbosity: 0",
        "  num-threads: 1",
        "  access-control: 0.0.0.0/0 allow",
        '  module-config: "iterator"',
        '  local-zone: "." static',
    ]
    if doh is not None:
        key, chain = doh
        lines += [
            "  https-port: 443",
            f'  tls-service-key: "{key}"',
            f'  tls-service-pem: "{chain}"',
            '  http-endpoint: "/dns-query"',
        ]
    for name, ip in names:
        answer, answer6 = overrides.get(name, (ip, aaaa.get(name)))
        if answer == "nxdomain":
            lines.append(f'  local-zone: "{name}." always_nxdomain')
            continue
        if answer == "nodata":  # NOERROR without an answer, A and AAAA: the name taken out of the resolver (issue 15)
            lines.append(f'  local-zone: "{name}." always_nodata')
            continue
        lines.append(f'  local-data: "{name}. 300 IN A {answer}"')
        if answer6 is not None:
            lines.append(f'  local-data: "{name}. 300 IN AAAA {answer6}"')
    return "\n".join(lines) + "\n"


PAYLOAD_BYTES = 256 * 1024  # what every TLS server answers to any GET: more than a transfer's cap (64 KiB)


def nginx_config(folder: Path, lab: LabPlan, pki: LabPKI, control_sni: str) -> str:
    """Every tls endpoint's name on its address and port with a lab-CA certificate (SNI-selected; a private CA's
    for the names a list pins with `ca`), a default server on every TLS socket (the control SNI's certificate: a
    handshake for any other name completes, with a certificate for the wrong name), plain listeners for the tcp
    endpoints, and the interception server, which presents a certificate from the untrusted CA for whatever name
    it is asked. Every TLS server answers any GET with the same incompressible payload (`www/payload.bin`), so a
    transfer over the control SNI fetches what the target's does; at the slow addresses, slowly, for every name."""
    tls_sockets = [*lab.sockets("tls"), *((f"[{a}]", p) for a, p in lab.sockets("tls", 6))]
    slow = {*lab.slow_addresses(), *(f"[{a}]" for a in lab.slow_addresses(6))}
    out = [
        "user root;",
        "worker_processes 1;",
        "daemon off;",
        f"pid {folder}/nginx.pid;",
        f"error_log {folder}/nginx-error.log warn;",
        "events { worker_connections 4096; }",
        "http {",
        "  access_log off;",
        *(f"  {kind}_temp_path {folder}/nginx-{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi")),
        f"  scgi_temp_path {folder}/nginx-scgi;",
        "  ssl_protocols TLSv1.2 TLSv1.3;",
        "  default_type application/octet-stream;",
        f"  root {folder}/www;",
    ]

    def server(listens: Sequence[str], name: str | None, cert: tuple[Path, Path] | None, slow: bool = False) -> None:
        if not listens:
            return
        out.append("  server {")
        out.extend(f"    listen {listen};" for listen in listens)
        if name:
            out.append(f"    server_name {name};")
        if cert:
            out.append(f"    ssl_certificate {cert[1]};")
            out.append(f"    ssl_certificate_key {cert[0]};")
            out.append("    location / { try_files /payload.bin =404; }")
            if slow:
                out.append(f"    limit_rate {addr.SLOW_RATE};")
        else:
            out.append('    return 200 "probe lab\\n";')
        out.append("  }")

    default = pki.leaf[control_sni]
    for slowly in (False, True):
        listens = [f"{a}:{p} ssl default_server" for a, p in tls_sockets if (a in slow) == slowly]
        server(listens, None, (default.key, default.chain), slowly)
    ports = {p for _, p in tls_sockets}
    for name, ip in lab.tls_names():
        cert = pki.leaf[name]
        hosts = (ip, *(f"[{a}]" for n, a in lab.tls_names(6) if n == name))
        server([f"{a}:{p} ssl" for a, p in tls_sockets if a in hosts], name, (cert.key, cert.chain), ip in slow)
    for ip, port in lab.sockets("tcp") + tuple((f"[{a}]", p) for a, p in lab.sockets("tcp", 6)):
        server([f"{ip}:{port} default_server"], None, None)
    interceptors = [f"{host}:{p} ssl" for host in (addr.INTERCEPTOR, f"[{addr.INTERCEPTOR6}]") for p in sorted(ports)]
    rogue_default = pki.rogue_leaf[control_sni]
    server([f"{i} default_server" for i in interceptors], None, (rogue_default.key, rogue_default.chain))
    for name, rogue in sorted(pki.rogue_leaf.items()):
        if name != control_sni:
            server(interceptors, name, (rogue.key, rogue.chain))
    out.append("}")
    return "\n".join(out) + "\n"


@dataclass
class Server:
    """One server process inside a namespace."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def start(ns: str, name: str, argv: Sequence[str], folder: Path, listening: Sequence[tuple[str, str, int]]) -> Server:
    """Start `argv` in namespace `ns` and wait until every (proto, address, port) of `listening` is bound."""
    log = folder / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv], stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = Server(name, process, log)
    deadline = time.monotonic() + 10
    while True:
        if process.poll() is not None:
            raise LabCommandError(f"{name} exited {process.returncode} at start:\n{server.tail()}")
        if not _missing(ns, listening):
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise LabCommandError(f"{name} did not bind {_missing(ns, listening)} within 10 s:\n{server.tail()}")
        time.sleep(0.05)


def _missing(ns: str, listening: Sequence[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    bound: set[tuple[str, str, int]] = set()
    for proto, flag in (("tcp", "-Hltn"), ("udp", "-Hlun")):
        for line in run(["ss", flag], ns=ns).stdout.splitlines():
            local = line.split()[3]
            host, _, port = local.rpartition(":")
            bound.add((proto, host.strip("[]"), int(port)))
    return [s for s in listening if s not in bound]
