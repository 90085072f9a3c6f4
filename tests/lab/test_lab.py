"""The censorship lab: the topology itself, then for every scenario a censor self-test and the probe's verdicts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from _pytest.mark.structures import ParameterSet

from tests.lab import plan as addr
from tests.lab import selftest
from tests.lab.censor import Rules
from tests.lab.lab import HERE, NETNS_ETC, Lab
from tests.lab.netns import namespaces, run
from tests.lab.plan import Select
from tests.lab.scenarios import SCENARIOS, Scenario
from tests.lab.selftest import Check
from tests.lab.verdicts import VerdictMismatch, check, compare, overloaded, run_probe

pytestmark = pytest.mark.lab


class CensorBroken(AssertionError):
    """The censor did not do what its scenario says: the probe cannot be judged against it."""


def test_client_has_only_lab_routes(lab: Lab) -> None:
    """No default route, in either family: an address outside the lab fails at once with ENETUNREACH, and no
    packet leaves."""
    with lab.censor(()):
        for family in ("-4", "-6"):
            routes = run(["ip", "-n", lab.client_ns, family, "route", "show"]).stdout
            assert "default" not in routes
        # 192.0.2.0/24 is a documentation range the lab does not route: the host's own eth0 lives there; the lab
        # routes only two /64s of 2001:db8::/32
        outside = ("192.0.2.99", "2001:db8:ff::1")
        probes = [{"kind": "tcp", "ip": ip, "port": 443, "timeout": 1.0, "repeat": 1} for ip in outside]
        done = lab.in_client([lab.python, str(HERE / "rawclient.py")], input=json.dumps(probes))
        assert json.loads(done.stdout) == [["unreachable"], ["unreachable"]], done.stderr


def test_both_families_reach_every_server(lab: Lab) -> None:
    """Dual-stack: a service address and its IPv6 twin serve the same name, and the resolvers answer AAAA."""
    endpoint = lab.plan.first(Select(("kakaotalk",), ("tls",)))
    assert endpoint.address6 == addr.twin(str(endpoint.address))
    checks = [
        Check("tls over IPv4", "tls", Select(("kakaotalk",), ("tls",)), "ok"),
        Check("tls over IPv6", "tls", Select(("kakaotalk",), ("tls",)), "ok", family=6),
        Check("AAAA from the system resolver", "dns", Select(("kakaotalk",)), "genuine", family=6),
        Check("AAAA from the DoH control", "doh", Select(("kakaotalk",)), "genuine", family=6),
    ]
    with lab.censor(()):
        report = selftest.run(lab, checks)
    assert report.passed, report.text


def test_teardown_leaves_nothing_behind(lab: Lab, tmp_path: Path) -> None:
    """A second lab (another prefix) builds and tears down cleanly beside the session's: no namespace and no
    /etc/netns entry survives."""
    other = Lab(tmp_path, lab.plan, lab.control_sni, lab.python, prefix=f"{lab.prefix}x")
    try:
        other.build()
        with other.censor(()):
            assert other.resolv_conf.read_text() == f"nameserver {addr.SYSTEM_RESOLVER}\n"
    finally:
        other.teardown()
    left = [ns for ns in namespaces() if ns.startswith(other.prefix)]
    assert left == []
    assert not (NETNS_ETC / other.client_ns).exists()
    assert lab.client_ns in namespaces()  # the session's lab is untouched


# Connect, send, close at once: the censor drops the data, so the socket lives on in the kernel (FIN-WAIT-1),
# orphaned, resending it with backoff (0.2, 0.4, 0.8, 1.6, 3.2 s...) as a probe's dropped ClientHello does.
_LEAVE_BEHIND = """
import socket, sys
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
sock.sendall(sys.argv[3].encode() * 8)
sock.close()
"""


_CONNECT_AND_CLOSE = """
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
"""


def _dropped(lab: Lab, marker: str) -> int:
    """Packets the censor's rule for `marker` dropped so far."""
    rules = run(["iptables", "-L", "FORWARD", "-v", "-n", "-x"], ns=lab.censor_ns).stdout
    return sum(int(line.split()[0]) for line in rules.splitlines() if marker in line)


def test_no_connection_outlives_its_censor(lab: Lab) -> None:
    """A connection the client left behind under one censor never meets the next: every scenario's censor sees
    its own traffic only. (A ClientHello that tls_sni_drop's censor had dropped, resent by the kernel after the
    probe had gone, once reached tls_residual_blocking's fresh censor and put the client into its penalty box.)"""
    endpoint = lab.plan.first(selftest.CONTROLS)
    marker = f"left-behind-{os.getpid()}"
    drop = Rules((f'-A FORWARD -i {{client_if}} -p tcp -m string --algo bm --string "{marker}" -j DROP',))
    with lab.censor((drop,)):
        argv = [lab.python, "-c", _LEAVE_BEHIND, str(endpoint.address), str(endpoint.target.port), marker]
        done = lab.in_client(argv, timeout=30)
        assert done.returncode == 0, done.stderr
        for _ in range(40):  # the first censor sees the data (at once, or resent 0.2 s later) and drops it
            if _dropped(lab, marker):
                break
            time.sleep(0.05)
        assert _dropped(lab, marker) >= 1
    with lab.censor((drop,)):
        left = run(["ss", "-t", "-n", "-H", "state", "all"], ns=lab.client_ns).stdout.strip()
        assert left == "", f"the client still has the last scenario's sockets:\n{left}"
        time.sleep(4)  # longer than the orphan's resend interval at this point (at most 3.2 s)
        assert _dropped(lab, marker) == 0


def test_no_server_connection_outlives_its_censor(lab: Lab) -> None:
    """The server keeps no connection of one scenario into the next: its replies to a client that is gone would
    cross the next censor, and a new connection that binds the same port would meet the old one."""
    endpoint = lab.plan.first(selftest.CONTROLS)
    mute = Rules(("-A FORWARD -i {server_if} -p tcp --tcp-flags SYN NONE -j DROP",))  # all but the SYN-ACK
    with lab.censor((mute,)):
        # Connect and close: the server's FIN is dropped, so its side stays (LAST-ACK), resending the FIN.
        argv = [lab.python, "-c", _CONNECT_AND_CLOSE, str(endpoint.address), str(endpoint.target.port)]
        done = lab.in_client(argv, timeout=30)
        assert done.returncode == 0, done.stderr
        left = _server_sockets(lab)
        assert left, "the server closed its side at once: this test proves nothing"
    with lab.censor((mute,)):  # muted again: the old connection's resent FIN must not reach the new client
        assert _server_sockets(lab) == "", "the server still has the last scenario's connections"


def _server_sockets(lab: Lab) -> str:
    """The server's TCP sockets with the client at the far end, in any state (one line each)."""
    return run(["ss", "-t", "-n", "-H", "state", "all", "dst", addr.CLIENT], ns=lab.server_ns).stdout.strip()


def _prove(lab: Lab, scenario: Scenario) -> selftest.Report:
    with lab.censor(scenario.censor):
        return selftest.run(lab, scenario.selftest)


def _group(scenario: Scenario) -> pytest.MarkDecorator:
    """One worker per scenario (pytest-xdist): its verdict tests run behind the censor its self-test proved."""
    return pytest.mark.xdist_group(f"lab-{scenario.name}")


@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.name, marks=_group(s)) for s in SCENARIOS])
def test_censor_selftest(lab: Lab, scenario: Scenario, proven: dict[str, bool]) -> None:
    report = _prove(lab, scenario)
    proven[scenario.name] = report.passed
    assert report.passed, report.text


def _verdict_params() -> list[ParameterSet]:
    """Every scenario with packet capture (the probe runs as root in the lab), and the scenarios whose verdicts
    rest on injected packets once more with --no-capture: the same verdicts must come from sockets alone."""
    out = []
    for s in SCENARIOS:
        xfail = pytest.mark.xfail(strict=s.xfail_strict, raises=VerdictMismatch, reason=s.xfail or "")
        marks = [_group(s), *([xfail] if s.xfail else [])]
        out.append(pytest.param(s, True, id=s.name, marks=marks))
        if s.without_capture:
            out.append(pytest.param(s, False, id=f"{s.name}-no-capture", marks=marks))
    return out


@pytest.mark.parametrize(("scenario", "capture"), _verdict_params())
def test_probe_verdicts(
    lab: Lab, scenario: Scenario, capture: bool, proven: dict[str, bool], probe_home: Path, tmp_path: Path
) -> None:
    """`probe run --json` in the client namespace behind the scenario's censor: every endpoint's verdict, the
    vantage status and the exit code as the scenario expects. The censor must have proven itself first (here or
    in its self-test); a broken censor is a plain failure, never an expected one."""
    if not proven.get(scenario.name):
        report = _prove(lab, scenario)
        if not report.passed:
            raise CensorBroken(report.text)
        proven[scenario.name] = True
    for attempt in (1, 2):
        with lab.censor(scenario.censor):
            outcome = run_probe(lab, tmp_path / f"results-{attempt}", probe_home, capture=capture, scenario=scenario)
        if attempt == 1 and compare(scenario, lab, outcome) and overloaded(outcome):
            continue  # the probe said the machine was too busy for it to keep time: once more, then judge
        break
    check(scenario, lab, outcome)
