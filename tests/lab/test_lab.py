"""The censorship lab: the topology itself, then for every scenario a censor self-test and the probe's verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _pytest.mark.structures import ParameterSet

from tests.lab import plan as addr
from tests.lab import selftest
from tests.lab.lab import HERE, NETNS_ETC, Lab
from tests.lab.netns import namespaces, run
from tests.lab.scenarios import SCENARIOS, Scenario
from tests.lab.verdicts import VerdictMismatch, check, run_probe

pytestmark = pytest.mark.lab


class CensorBroken(AssertionError):
    """The censor did not do what its scenario says: the probe cannot be judged against it."""


def test_client_has_only_lab_routes(lab: Lab) -> None:
    """No default route: an address outside the lab fails at once with ENETUNREACH, and no packet leaves."""
    with lab.censor(()):
        routes = run(["ip", "-n", lab.client_ns, "-4", "route", "show"]).stdout
        assert "default" not in routes
        probe = {"kind": "tcp", "ip": "192.0.2.99", "port": 443, "timeout": 1.0, "repeat": 1}
        # 192.0.2.0/24 is a documentation range the lab does not route: the host's own eth0 lives there
        done = lab.in_client([lab.python, str(HERE / "rawclient.py")], input=json.dumps([probe]))
        assert json.loads(done.stdout) == [["unreachable"]], done.stderr


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
    with lab.censor(scenario.censor):
        outcome = run_probe(lab, tmp_path / "results", probe_home, capture=capture, scenario=scenario)
    check(scenario, lab, outcome)
