"""Censor self-tests: before the probe is judged against a censor, a raw client in the client namespace shows that
the censor really censors (and that the clean path still works), so a broken censor fails loudly instead of
letting a wrong probe pass.

A `Check` is data: what to ask (dns, doh, tcp or tls), of which endpoint (the first the `Select` picks), over
which address family (`family` 6: AAAA questions, connections to the IPv6 twin; DNS itself always runs over IPv4
in the lab), and the outcome expected (see rawclient.py for the vocabulary; DNS answers are written "genuine" when
they are the lab's own address for the name, "nxdomain", "nodata", or the addresses, and several answers to one
query are joined by " then "). A check may repeat; then the share of repeats that give the outcome must fall in `share`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.lab import plan as addr
from tests.lab.lab import HERE, Lab
from tests.lab.plan import Select

CONTROLS = Select(("control",))
TIMEOUT = 1.0  # seconds per connect or handshake: the lab's round trips take well under a millisecond
DNS_TIMEOUT = 1.5
DNS_WINDOW = 0.5  # keep listening this long after the first DNS answer (the injector delays the genuine by 80 ms)
DELAYED = 0.7  # seconds a connect takes, at least, on a path that delays every packet 0.4-0.8 s each way
FETCH_STALL = 1.5  # seconds of silence that make a fetch "frozen"
FETCH_DEADLINE = 4.0


@dataclass(frozen=True)
class Check:
    """One self-test step."""

    what: str  # what it shows, in words
    kind: str  # dns | doh | tcp | tls | mtproto | fetch
    select: Select
    expect: str
    server: str = "system"  # dns: system | non_resolver (a control endpoint's address: no DNS server there)
    sni: str = "target"  # tls, fetch: target | control (the probe's control SNI)
    ca: str = "lab"  # tls, fetch: the lab CA, or the private CA of the endpoint's `ca` ("pinned")
    repeat: int = 1
    share: tuple[float, float] = (1.0, 1.0)  # the share of repeats that must give `expect`
    qtype: str | None = None  # dns, doh: the query type (A; AAAA with `family` 6)
    timeout: float = TIMEOUT  # tcp, tls: seconds per connect or handshake (longer on a delaying path)
    family: int = 4  # 6: AAAA questions and connections to the endpoint's IPv6 address


@dataclass(frozen=True)
class Report:
    passed: bool
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "censor self-test failed:\n  " + "\n  ".join(self.lines)


def concrete(lab: Lab, check: Check) -> dict[str, Any]:
    """The check as the raw client reads it: addresses, names and files filled in from the lab."""
    endpoint = lab.plan.first(check.select)
    ip = endpoint.address_of(check.family)
    assert ip is not None and lab.pki is not None
    out: dict[str, Any] = {"kind": check.kind, "repeat": check.repeat, "timeout": check.timeout}
    qtype = _qtype(check)
    if check.kind == "dns":
        servers = {"system": addr.SYSTEM_RESOLVER, "non_resolver": _non_resolver(lab)}
        out.update(
            ip=servers[check.server], name=endpoint.target.host, qtype=qtype, timeout=DNS_TIMEOUT, window=DNS_WINDOW
        )
    elif check.kind == "doh":
        out.update(
            url=f"https://{addr.CONTROL_RESOLVER}/dns-query",
            name=endpoint.target.host,
            qtype=qtype,
            ca_file=str(lab.pki.ca_file),
            timeout=DNS_TIMEOUT,
        )
    elif check.kind == "tcp":
        out.update(ip=ip, port=endpoint.target.port)
    elif check.kind == "tcp_rtt":
        out.update(ip=ip, port=endpoint.target.port, slow=DELAYED)
    elif check.kind in ("tls", "fetch"):
        sni = endpoint.sni if check.sni == "target" else lab.control_sni
        ca_file = lab.pki.ca_file if check.ca == "lab" else lab.pki.anchors[str(endpoint.target.ca)]
        out.update(ip=ip, port=endpoint.target.port, sni=sni, ca_file=str(ca_file))
        if check.kind == "fetch":
            out.update(path=endpoint.target.transfer or "/", stall=FETCH_STALL, deadline=FETCH_DEADLINE)
    elif check.kind == "mtproto":
        out.update(ip=ip, port=endpoint.target.port)
    else:
        raise ValueError(f"unknown check kind {check.kind!r}")
    return out


def _qtype(check: Check) -> str:
    return check.qtype or ("AAAA" if check.family == 6 else "A")


def _non_resolver(lab: Lab) -> str:
    address = lab.plan.first(CONTROLS).address
    assert address is not None
    return address


def label(lab: Lab, check: Check, outcome: Any) -> str:
    """One outcome of the raw client in the words checks expect."""
    if check.kind not in ("dns", "doh"):
        return str(outcome)
    if "error" in outcome:
        return str(outcome["error"])
    genuine = [lab.plan.first(check.select).address_of(6 if _qtype(check) == "AAAA" else 4)]
    words = []
    for response in outcome["responses"]:
        if response["rcode"] == "NXDOMAIN":
            words.append("nxdomain")
        elif response["rcode"] != "NOERROR":
            words.append(response["rcode"].lower())
        elif not response["addresses"]:
            words.append("nodata")
        elif response["addresses"] == genuine:
            words.append("genuine")
        else:
            words.append(",".join(response["addresses"]))
    return " then ".join(words)


def run(lab: Lab, checks: Sequence[Check]) -> Report:
    """Run every check, in order, in the client namespace; the report says which passed and what was seen."""
    done = lab.in_client([lab.python, str(HERE / "rawclient.py")], input=json.dumps([concrete(lab, c) for c in checks]))
    if done.returncode != 0:
        return Report(False, (f"the raw client failed (exit {done.returncode}): {done.stderr[-2000:]}",))
    results = json.loads(done.stdout)
    passed = True
    lines = []
    for check, outcomes in zip(checks, results, strict=True):
        labels = Counter(label(lab, check, o) for o in outcomes)
        share = labels[check.expect] / len(outcomes)
        ok = check.share[0] <= share <= check.share[1]
        passed &= ok
        seen = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in labels.most_common())
        low, high = check.share
        want = check.expect if check.share == (1.0, 1.0) else f"{check.expect} in {low:.0%}-{high:.0%} of tries"
        lines.append(f"{'PASS' if ok else 'FAIL'} {check.what}: expected {want}; saw {seen}")
    return Report(passed, tuple(lines))
