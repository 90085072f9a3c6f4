"""The lab itself: three network namespaces, the servers, and a censor that can be swapped per scenario.

    client (probe, raw self-test client; resolv.conf -> the system resolver; no default route)
      | veth  198.51.100.2/28 -- 198.51.100.1/28, 2001:db8:0:1::2/64 -- 2001:db8:0:1::1/64
    censor (a router for both families; iptables and ip6tables rules and scapy injectors of the scenario)
      | veth  198.51.100.17/28 -- 198.51.100.18/28, 2001:db8:0:2::1/64 -- 2001:db8:0:2::2/64
    server (every lab address and its IPv6 twin on its loopback: unbound x2, nginx)

The server namespace lives for the whole session; the censor namespace is made fresh for every scenario (and torn
down after it), so no conntrack entry, `recent` list or injector of one scenario can leak into the next, and the
client namespace is made fresh with it, so no connection of one scenario can either (see `_build_router`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab import plan as addr
from tests.lab import servers
from tests.lab.censor import (
    ICMP6_REJECT,
    CensorPart,
    Delay,
    DNSInjection,
    FinInjection,
    Interception,
    ResolverLie,
    Rules,
    ServerRules,
    ServfailRewrite,
    dns_name_hex,
    sni_wire,
)
from tests.lab.netns import (
    LabCommandError,
    add_namespace,
    address,
    delete_namespace,
    mac,
    neighbour,
    route,
    run,
    sysctl,
    veth,
)
from tests.lab.pki import LabPKI, make_pki
from tests.lab.plan import LabPlan

HERE = Path(__file__).resolve().parent
NETNS_ETC = Path("/etc/netns")
_TABLES = {4: "iptables", 6: "ip6tables"}
_RESTORE = {4: "iptables-restore", 6: "ip6tables-restore"}
INTERCEPT_PORT = 10443  # where the interception box listens on the censor router (connections are DNATed to it)


@dataclass
class Lab:
    """A running lab. Build it with `build()`, always `teardown()` in a `finally`."""

    folder: Path
    plan: LabPlan
    control_sni: str
    python: str  # the interpreter (the project's venv) for the injectors and the raw client
    prefix: str = field(default_factory=lambda: f"plab{os.getpid()}")
    # Makes the client namespace of that name, new with every censor: a plain one, or a container's
    # (tests/docker/test_lab.py names a new container's namespace with `ip netns attach`).
    new_client: Callable[[str], None] = add_namespace
    pki: LabPKI | None = None
    _servers: dict[str, servers.Server] = field(default_factory=dict)

    # names (interface names stay within the kernel's 15 characters: prefix is "plab" + pid)
    @property
    def client_ns(self) -> str:
        return f"{self.prefix}-cli"

    @property
    def censor_ns(self) -> str:
        return f"{self.prefix}-cen"

    @property
    def server_ns(self) -> str:
        return f"{self.prefix}-srv"

    @property
    def censor_client_if(self) -> str:
        return "toclient"

    @property
    def censor_server_if(self) -> str:
        return "toserver"

    @property
    def resolv_conf(self) -> Path:
        return NETNS_ETC / self.client_ns / "resolv.conf"

    # --- session-wide parts --------------------------------------------------------------------------------------

    def build(self) -> None:
        """Make the client and server namespaces, the certificates, and start the servers."""
        tls_names = sorted({n for n, _ in self.plan.tls_names()} | {self.control_sni})
        pinned = self.plan.pinned_names()
        self.pki = make_pki(self.folder / "pki", tls_names, [addr.CONTROL_RESOLVER], tls_names, pinned)
        www = self.folder / "www"
        www.mkdir(parents=True, exist_ok=True)
        (www / "payload.bin").write_bytes(os.urandom(servers.PAYLOAD_BYTES))  # incompressible
        self.new_client(self.client_ns)
        add_namespace(self.server_ns)
        # Every query to a port where nothing listens gets its ICMP port unreachable at once (no rate limit), so
        # "a host that runs no DNS server" looks the same to every probe query, however many arrive together.
        sysctl(self.server_ns, "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0")
        # Every server address sits on the server's loopback (this kernel has no dummy interfaces).
        infra = [addr.SYSTEM_RESOLVER, addr.CONTROL_RESOLVER, addr.INTERCEPTOR]
        for ip in infra + list(self.plan.service_addresses()):
            address(self.server_ns, "lo", f"{ip}/32")
        for ip in [addr.twin(ip) for ip in infra] + list(self.plan.service_addresses(6)):
            address(self.server_ns, "lo", f"{ip}/128")
        self.resolv_conf.parent.mkdir(parents=True, exist_ok=True)
        self.resolv_conf.write_text(f"nameserver {addr.SYSTEM_RESOLVER}\n")
        self._start_system_resolver({})
        doh_cert = self.pki.leaf[addr.CONTROL_RESOLVER]
        conf = self.folder / "unbound-control.conf"
        conf.write_text(
            servers.unbound_config(
                self.folder,
                "control",
                self.plan.names,
                self.plan.aaaa,
                {},
                interfaces=[f"{addr.CONTROL_RESOLVER}@53", f"{addr.CONTROL_RESOLVER}@443"],
                doh=(doh_cert.key, doh_cert.chain),
            )
        )
        self._servers["unbound-control"] = servers.start(
            self.server_ns,
            "unbound-control",
            ["unbound", "-d", "-c", str(conf)],
            self.folder,
            [("udp", addr.CONTROL_RESOLVER, 53), ("tcp", addr.CONTROL_RESOLVER, 443)],
        )
        nginx = self.folder / "nginx.conf"
        nginx.write_text(servers.nginx_config(self.folder, self.plan, self.pki, self.control_sni))
        tcp_sockets = [
            ("tcp", a, p) for f in (4, 6) for a, p in self.plan.sockets("tls", f) + self.plan.sockets("tcp", f)
        ]
        self._servers["nginx"] = servers.start(
            self.server_ns,
            "nginx",
            ["nginx", "-c", str(nginx), "-p", str(self.folder), "-e", str(self.folder / "nginx-error.log")],
            self.folder,
            tcp_sockets + [("tcp", addr.INTERCEPTOR, 443), ("tcp", addr.INTERCEPTOR6, 443)],
        )
        app = self.plan.app_sockets()
        if app:
            assert {p for p, _, _ in app} == {"mtproto"}, "a lab server for every first_message protocol"
            self._servers["mtproto"] = servers.start(
                self.server_ns,
                "mtproto",
                [self.python, str(HERE / "mtproto_server.py"), *(f"{a}:{p}" for _, a, p in app)],
                self.folder,
                [("tcp", a, p) for _, a, p in app],
            )

    def _start_system_resolver(self, overrides: servers.Overrides) -> None:
        old = self._servers.pop("unbound-system", None)
        if old is not None:
            old.stop()
        conf = self.folder / "unbound-system.conf"
        conf.write_text(
            servers.unbound_config(
                self.folder, "system", self.plan.names, self.plan.aaaa, overrides, interfaces=[addr.SYSTEM_RESOLVER]
            )
        )
        self._servers["unbound-system"] = servers.start(
            self.server_ns,
            "unbound-system",
            ["unbound", "-d", "-c", str(conf)],
            self.folder,
            [("udp", addr.SYSTEM_RESOLVER, 53)],
        )

    def teardown(self) -> None:
        """Stop every server, delete the namespaces and the client's resolv.conf; safe after a partial build."""
        errors = []
        for server in self._servers.values():
            try:
                server.stop()
            except Exception as exc:  # keep tearing down: one stuck process must not leave the rest behind
                errors.append(f"{server.name}: {exc}")
        self._servers.clear()
        for ns in (self.censor_ns, self.client_ns, self.server_ns):
            delete_namespace(ns)
        shutil.rmtree(NETNS_ETC / self.client_ns, ignore_errors=True)
        if errors:
            raise LabCommandError("teardown: " + "; ".join(errors))

    # --- the censor, per scenario --------------------------------------------------------------------------------

    @contextmanager
    def censor(self, parts: Sequence[CensorPart]) -> Iterator[None]:
        """A fresh censor router between client and servers with `parts` applied; removed on exit."""
        injectors: list[subprocess.Popen[str]] = []
        lies = self._lies(parts)
        server_rules = self.server_rules(parts)
        try:
            self._build_router()
            if lies:
                self._start_system_resolver(lies)
            self._apply_rules(parts)
            for family, lines in server_rules.items():
                text = "*filter\n" + "".join(f"{line}\n" for line in lines) + "COMMIT\n"
                run([_RESTORE[family], "--noflush"], ns=self.server_ns, input=text)
            for argv in self._injector_commands(parts):
                injectors.append(self._start_injector(argv))
            yield
        finally:
            for process in injectors:
                _stop(process)
            for family in server_rules:
                run([_TABLES[family], "-F", "INPUT"], ns=self.server_ns, check=False)
            self._remove_router()
            if lies:
                self._start_system_resolver({})

    def _remove_router(self) -> None:
        # Deleting a namespace destroys its interfaces lazily (a kernel work queue), so the links' far ends could
        # outlive `ip netns delete` for a moment; deleting one end of a veth removes both at once.
        for ns in (self.client_ns, self.server_ns):
            run(["ip", "-n", ns, "link", "del", "eth0"], check=False)
        delete_namespace(self.censor_ns)
        # The server's side of the scenario's connections goes too (the client's goes with its namespace; the
        # interception box's, from the censor, with the censor's). A server socket whose replies the censor dropped
        # resends them for minutes, one in TIME-WAIT stays a minute, and the next client binds its ports afresh
        # (the probe binds before it connects): it may take the same port to the same server, and its SYN then
        # meets the old connection (a challenge ACK, a reset, the SYN resent a second later) and the old one's
        # segments join its flow. Killed with the links gone, whatever reset they send reaches no one.
        peers = [word for link in (addr.CLIENT_LINK, addr.SERVER_LINK) for word in ("or", "dst", link)][1:]
        run(["ss", "-K", "-t", "-n", "state", "all", "(", *peers, ")"], ns=self.server_ns, check=False)

    def _build_router(self) -> None:
        ns = self.censor_ns
        self._remove_router()
        # A fresh client as well. A socket closed with its data unacknowledged (a ClientHello the last censor
        # dropped) lives on in the kernel, orphaned, and resends that data for a minute (tcp_orphan_retries): in
        # the same client namespace it would cross the new censor, and a censor that keeps state would act on it
        # before the probe's first packet (LINE's ClientHellos left by tls_sni_drop put the client into
        # tls_residual_blocking's `recent` lists: every LINE connection of its run dropped). Sockets of a deleted
        # namespace live on there, without a link, until they give up.
        delete_namespace(self.client_ns)
        self.new_client(self.client_ns)
        add_namespace(ns)
        sysctl(
            ns,
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
            "net.ipv6.conf.all.forwarding=1",
        )
        # A censor that refuses with ICMP (REJECT --reject-with icmp-*) answers every SYN: without this the kernel
        # lets some six ICMP errors a second through to one host, and a probe's burst of tries would see silence.
        sysctl(ns, "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0")
        veth(ns, self.censor_client_if, self.client_ns, "eth0")
        veth(ns, self.censor_server_if, self.server_ns, "eth0")
        # Wire-sized packets through the censor, as on a real path: with segmentation offload a server's 64 KB
        # burst crosses the censor as one packet, and a byte count (connbytes), a loss rate or a shaper acts on
        # whole bursts instead of segments.
        for where, ifname in ((ns, self.censor_client_if), (ns, self.censor_server_if)):
            run(["ethtool", "-K", ifname, "gro", "off", "gso", "off", "tso", "off"], ns=where, check=False)
        for where in (self.client_ns, self.server_ns):
            run(["ethtool", "-K", "eth0", "gro", "off", "gso", "off", "tso", "off"], ns=where, check=False)
        for ifname in (self.censor_client_if, self.censor_server_if):
            sysctl(ns, f"net.ipv4.conf.{ifname}.rp_filter=0")
        p = addr.LINK_PREFIX
        address(ns, self.censor_client_if, f"{addr.CENSOR_CLIENT_SIDE}/{p}")
        address(ns, self.censor_server_if, f"{addr.CENSOR_SERVER_SIDE}/{p}")
        address(self.client_ns, "eth0", f"{addr.CLIENT}/{p}")
        address(self.server_ns, "eth0", f"{addr.SERVER}/{p}")
        p6 = addr.LINK_PREFIX6
        address(ns, self.censor_client_if, f"{addr.CENSOR_CLIENT_SIDE6}/{p6}")
        address(ns, self.censor_server_if, f"{addr.CENSOR_SERVER_SIDE6}/{p6}")
        address(self.client_ns, "eth0", f"{addr.CLIENT6}/{p6}")
        address(self.server_ns, "eth0", f"{addr.SERVER6}/{p6}")
        # IPv6 neighbour discovery on a link made a moment ago loses its first solicitations, and the first
        # connections over IPv6 would time out: the four ends know each other's link-layer address from the start.
        links = (
            (ns, self.censor_client_if, addr.CENSOR_CLIENT_SIDE6, self.client_ns, "eth0", addr.CLIENT6),
            (ns, self.censor_server_if, addr.CENSOR_SERVER_SIDE6, self.server_ns, "eth0", addr.SERVER6),
        )
        for ns_a, if_a, ip_a, ns_b, if_b, ip_b in links:
            neighbour(ns_a, if_a, ip_b, mac(ns_b, if_b))
            neighbour(ns_b, if_b, ip_a, mac(ns_a, if_a))
        # The client gets routes to the lab prefixes only, no default route: a packet to any other address (a
        # real-world fallback address in a target list) fails locally with ENETUNREACH and never leaves.
        for prefix in addr.LAB_PREFIXES:
            route(self.client_ns, prefix, addr.CENSOR_CLIENT_SIDE)
            route(ns, prefix, addr.SERVER)
        for prefix in addr.LAB_PREFIXES6:
            route(self.client_ns, prefix, addr.CENSOR_CLIENT_SIDE6)
            route(ns, prefix, addr.SERVER6)
        route(self.server_ns, addr.CLIENT_LINK, addr.CENSOR_SERVER_SIDE)
        route(self.server_ns, addr.CLIENT_LINK6, addr.CENSOR_SERVER_SIDE6)

    def _names(self, family: int) -> dict[str, str]:
        v6 = addr.twin if family == 6 else str
        return {
            "client_if": self.censor_client_if,
            "server_if": self.censor_server_if,
            "client": addr.CLIENT6 if family == 6 else addr.CLIENT,
            "system_resolver": v6(addr.SYSTEM_RESOLVER),
            "control_resolver": v6(addr.CONTROL_RESOLVER),
            "interceptor": v6(addr.INTERCEPTOR),
            "sinkhole": v6(addr.SINKHOLE),
            "router": addr.CENSOR_CLIENT_SIDE6 if family == 6 else addr.CENSOR_CLIENT_SIDE,
        }

    def _lies(self, parts: Sequence[CensorPart]) -> dict[str, tuple[str, str | None]]:
        out: dict[str, tuple[str, str | None]] = {}
        for part in parts:
            if isinstance(part, ResolverLie):
                for e in self.plan.select(part.select):
                    out[e.target.host] = (part.answer, part.answer6)
        return out

    def expand(self, parts: Sequence[CensorPart]) -> dict[int, dict[str, list[str]]]:
        """address family (4: iptables, 6: ip6tables) -> table -> restore lines of every part, each written once."""
        out: dict[int, dict[str, list[str]]] = {}

        def add(family: int, table: str, line: str) -> None:
            lines = out.setdefault(family, {}).setdefault(table, [])
            if line not in lines:
                lines.append(line)

        for part in parts:
            if isinstance(part, Rules):
                for family in part.families:
                    for line in self._expand_rules(part, family):
                        add(family, part.table, line)
            elif isinstance(part, DNSInjection | ServfailRewrite):  # the lab's DNS runs over IPv4 (AAAA included)
                if isinstance(part, DNSInjection) and not part.resolver:
                    continue  # the resolver's own answers pass untouched
                for host in dict.fromkeys(e.target.host for e in self.plan.select(part.select)):
                    add(
                        4,
                        "filter",
                        f"-A FORWARD -p udp -s {addr.SYSTEM_RESOLVER} --sport 53 -m string --algo bm "
                        f'--hex-string "{dns_name_hex(host)}" -j DROP',
                    )
            elif isinstance(part, Interception):
                for e in self.plan.select(part.select):
                    for family in e.families:
                        box = f"[{addr.CENSOR_CLIENT_SIDE6}]" if family == 6 else addr.CENSOR_CLIENT_SIDE
                        add(
                            family,
                            "nat",
                            f"-A PREROUTING -i {self.censor_client_if} -d {e.address_of(family)} -p tcp "
                            f"--dport {e.target.port} -j DNAT --to-destination {box}:{INTERCEPT_PORT}",
                        )
            elif isinstance(part, Delay):
                for family in (4, 6):
                    add(family, "filter", "-A FORWARD -j NFQUEUE --queue-num 0")
            elif isinstance(part, FinInjection):
                for e in self.plan.select(part.select):
                    for family in e.families:
                        add(
                            family,
                            "filter",
                            f"-A FORWARD -i {self.censor_client_if} -p tcp --dport {e.target.port} "
                            f'-m string --algo bm --string "{e.sni}" -j DROP',
                        )
        return out

    def _expand_rules(self, part: Rules, family: int) -> list[str]:
        """One `Rules` part for one family: its templates once per selected endpoint that has an address of that
        family (or once, without a selection), filled with that family's addresses."""
        out = []
        templates = part.rules6 if family == 6 and part.rules6 is not None else part.rules
        endpoints = self.plan.select(part.select) if part.select else (None,)
        for e in endpoints:
            fill = self._names(family)
            if e is not None:
                ip = e.address_of(family)
                if ip is None:
                    continue
                fill.update(ip=ip, port=str(e.target.port), sni=e.sni, host=e.target.host, sni_wire=sni_wire(e.sni))
            for template in templates:
                line = template.format(**fill)
                if family == 6:
                    for v4, v6 in ICMP6_REJECT.items():
                        line = line.replace(f"--reject-with {v4}", f"--reject-with {v6}")
                out.append(line)
        return out

    def server_rules(self, parts: Sequence[CensorPart]) -> dict[int, list[str]]:
        """address family -> the INPUT rules of the server namespace (`ServerRules`), each written once, for every
        address of the selected endpoints (the server answers over both families)."""
        out: dict[int, list[str]] = {}
        for part in parts:
            if isinstance(part, ServerRules):
                for e in self.plan.select(part.select):
                    for family in e.families:
                        for template in part.rules:
                            ip = e.address_of(family)
                            line = template.format(ip=ip, port=e.target.port, sni=e.sni, host=e.target.host)
                            lines = out.setdefault(family, [])
                            if line not in lines:
                                lines.append(line)
        return out

    def _apply_rules(self, parts: Sequence[CensorPart]) -> None:
        for family, tables in self.expand(parts).items():
            text = "".join(
                f"*{table}\n" + "".join(f"{line}\n" for line in lines) + "COMMIT\n" for table, lines in tables.items()
            )
            run([_RESTORE[family], "--noflush"], ns=self.censor_ns, input=text)

    def _injector_commands(self, parts: Sequence[CensorPart]) -> list[list[str]]:
        script = str(HERE / "injectors.py")
        out = []
        for part in parts:
            if isinstance(part, DNSInjection):
                hosts = list(dict.fromkeys(e.target.host for e in self.plan.select(part.select)))
                out.append(
                    [
                        self.python,
                        script,
                        "dns",
                        "--client-if",
                        self.censor_client_if,
                        "--server-if",
                        self.censor_server_if,
                        "--resolver",
                        addr.SYSTEM_RESOLVER,
                        "--forged",
                        part.forged,
                        "--delay",
                        str(part.delay),
                        "--forged-delay",
                        str(part.forged_delay),
                        *(a for ip, at in part.more for a in ("--more", f"{ip}@{at}")),
                        *(("--aaaa", part.aaaa) if part.aaaa else ()),
                        *(() if part.resolver else ("--spare-resolver",)),
                        *hosts,
                    ]
                )
            elif isinstance(part, ServfailRewrite):
                hosts = list(dict.fromkeys(e.target.host for e in self.plan.select(part.select)))
                out.append(
                    [
                        self.python,
                        script,
                        "servfail",
                        "--server-if",
                        self.censor_server_if,
                        "--resolver",
                        addr.SYSTEM_RESOLVER,
                        *hosts,
                    ]
                )
            elif isinstance(part, Interception):
                names = list(dict.fromkeys(e.sni for e in self.plan.select(part.select)))
                boxes = (addr.CENSOR_CLIENT_SIDE, f"[{addr.CENSOR_CLIENT_SIDE6}]")
                argv = [a for box in boxes for a in ("--listen", f"{box}:{INTERCEPT_PORT}")]
                out.append([self.python, str(HERE / "interceptor.py"), "mitm", *argv, *names])
            elif isinstance(part, Delay):
                argv = ["--low", str(part.low), "--high", str(part.high)]
                out.append([self.python, str(HERE / "delayer.py"), "delay", *argv])
            elif isinstance(part, FinInjection):
                chosen = self.plan.select(part.select)
                ports = sorted({str(e.target.port) for e in chosen})
                out.append(
                    [
                        self.python,
                        script,
                        "fin",
                        "--client-if",
                        self.censor_client_if,
                        *(a for p in ports for a in ("--port", p)),
                        *dict.fromkeys(e.sni for e in chosen),
                    ]
                )
        return out

    def _start_injector(self, argv: list[str]) -> subprocess.Popen[str]:
        log = self.folder / f"injector-{argv[2]}.log"
        with log.open("a") as sink:  # a file, not a pipe: nobody reads stderr while the injector runs
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.censor_ns, *argv],
                stdout=subprocess.PIPE,
                stderr=sink,
                stdin=subprocess.DEVNULL,
                text=True,
            )
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until "ready" or the process ends
        if line.strip() != "ready":
            _stop(process)
            raise LabCommandError(f"injector {shlex.join(argv[1:])} did not start: {line}{log.read_text()[-2000:]}")
        return process

    # --- running things in the client namespace ------------------------------------------------------------------

    def in_client(
        self, argv: Sequence[str], *, input: str | None = None, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside the client namespace (its /etc/resolv.conf names the system resolver)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.client_ns, *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if process.stdout is not None:
        process.stdout.close()
