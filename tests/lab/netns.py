"""Thin helpers over iproute2: run a command (in a namespace), and make or remove namespaces and veth links.

Every helper names the namespace it acts in; nothing here touches the host's own interfaces or routes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence


class LabCommandError(RuntimeError):
    """A setup command failed; the message carries the command and what it printed."""


def run(
    args: Sequence[str], *, ns: str | None = None, input: str | None = None, check: bool = True, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run `args` (inside namespace `ns` when given) and return the finished process."""
    argv = [*(("ip", "netns", "exec", ns) if ns else ()), *args]
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        said = done.stderr.strip() or done.stdout.strip()
        raise LabCommandError(f"{' '.join(argv)} exited {done.returncode}: {said}")
    return done


def add_namespace(name: str) -> None:
    run(["ip", "netns", "add", name])
    run(["ip", "link", "set", "lo", "up"], ns=name)


def attach_namespace(name: str, pid: int) -> None:
    """Name the network namespace process `pid` lives in (a container's), as `ip netns add` would a new one."""
    run(["ip", "netns", "attach", name, str(pid)])
    run(["ip", "link", "set", "lo", "up"], ns=name)


def delete_namespace(name: str) -> None:
    """Remove a namespace (and with it every interface inside); quiet when it is already gone."""
    run(["ip", "netns", "delete", name], check=False)


def namespaces() -> tuple[str, ...]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return tuple(line.split()[0] for line in out.splitlines() if line.strip())


def veth(ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
    """A veth pair with one end in each namespace (made there directly: the host never sees it), both up, with
    transmit checksum offload off so packets a sniffer captures carry finished checksums (lab.md)."""
    run(["ip", "-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", ns_b])
    for ns, name in ((ns_a, if_a), (ns_b, if_b)):
        run(["ethtool", "-K", name, "tx", "off"], ns=ns, check=False)
        run(["ip", "-n", ns, "link", "set", name, "up"])


def address(ns: str, ifname: str, cidr: str) -> None:
    """Add an address; an IPv6 one without duplicate address detection, so it is usable at once (DAD would hold
    it "tentative" for a second or two, and the first packets of a test would fail)."""
    nodad = ("nodad",) if ":" in cidr else ()
    run(["ip", "-n", ns, "addr", "add", cidr, "dev", ifname, *nodad])


def mac(ns: str, ifname: str) -> str:
    """The link-layer address of an interface."""
    return str(json.loads(run(["ip", "-n", ns, "-j", "link", "show", "dev", ifname]).stdout)[0]["address"])


def neighbour(ns: str, ifname: str, ip: str, lladdr: str) -> None:
    """A permanent neighbour entry: packets to `ip` go out at once, without neighbour discovery."""
    run(["ip", "-n", ns, "neigh", "replace", ip, "lladdr", lladdr, "dev", ifname, "nud", "permanent"])


def route(ns: str, prefix: str, via: str) -> None:
    run(["ip", "-n", ns, "route", "add", prefix, "via", via])


def sysctl(ns: str, *settings: str) -> None:
    run(["sysctl", "-q", "-w", *settings], ns=ns)
