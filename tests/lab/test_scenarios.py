"""The scenario catalogue as data, checked without root: names, verdict names, selections and rule templates.

These run everywhere (they need no namespace); they catch a typo in a verdict name or a rule template, and a target
list change that leaves a scenario censoring nothing, before the lab itself runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from probe.measure import CONTROL_SNI
from probe.model import Verdict
from tests.lab.censor import (
    DNSInjection,
    FinInjection,
    Interception,
    ResolverLie,
    Rules,
    ServerRules,
    ServfailRewrite,
)
from tests.lab.lab import Lab
from tests.lab.plan import LabPlan, lab_targets
from tests.lab.scenarios import SCENARIOS, Scenario, expected_verdicts

PLAN = LabPlan.from_targets(lab_targets())
CHECK_KINDS = {"dns", "doh", "tcp", "tcp_rtt", "tls", "mtproto", "fetch"}


def test_scenario_names_are_unique() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_expected_verdicts_are_contract_names_for_every_endpoint(scenario: Scenario) -> None:
    expected = expected_verdicts(scenario, PLAN)
    measured = [e for e in PLAN.endpoints if not (scenario.no_controls and e.target.is_control)]
    assert set(expected) == {e.key for e in measured}
    assert set(expected.values()) <= {v.value for v in Verdict}
    for select, confidence in scenario.confidences:
        assert confidence in ("high", "medium", "low") and PLAN.select(select)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_selection_picks_endpoints_and_the_censor_is_selective(scenario: Scenario) -> None:
    """A selection that matches nothing would censor nothing; a scenario that expects a block must leave some
    served endpoints `ok`, or it could not show that the censor is selective."""
    selections = [s for s, _ in scenario.verdicts]
    kinds = ResolverLie | DNSInjection | FinInjection | ServfailRewrite | ServerRules | Interception
    selections += [p.select for p in scenario.censor if isinstance(p, kinds)]
    selections += [p.select for p in scenario.censor if isinstance(p, Rules) and p.select is not None]
    selections += [c.select for c in scenario.selftest]
    for select in selections:
        assert PLAN.select(select), f"{scenario.name}: {select} matches no endpoint the lab serves"
    expected = expected_verdicts(scenario, PLAN)
    served = [expected[e.key] for e in PLAN.served if e.key in expected]
    if scenario.verdicts:
        assert "ok" in served and set(served) != {"ok"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_self_tests_are_well_formed(scenario: Scenario) -> None:
    assert scenario.selftest, "every censor proves itself"
    for check in scenario.selftest:
        assert check.kind in CHECK_KINDS
        assert check.server in ("system", "non_resolver") and check.sni in ("target", "control")
        assert check.ca == "lab" or all(e.target.ca for e in PLAN.select(check.select))
        assert 0 <= check.share[0] <= check.share[1] <= 1 and check.repeat >= 1


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_rule_templates_expand(scenario: Scenario, tmp_path: Path) -> None:
    """Every template's placeholders exist, and what comes out is iptables-restore syntax for a known table; the
    IPv6 rules name IPv6 addresses only."""
    lab = Lab(tmp_path, PLAN, CONTROL_SNI, "python3")
    for family, lines in lab.server_rules(scenario.censor).items():
        assert all(line.startswith("-A INPUT ") and "{" not in line for line in lines)
        assert family in (4, 6)
    families = lab.expand(scenario.censor)
    assert set(families) <= {4, 6}
    for family, tables in families.items():
        assert set(tables) <= {"filter", "nat"}
        for lines in tables.values():
            assert all(line.startswith(("-A FORWARD ", "-A PREROUTING ")) and "{" not in line for line in lines)
            if family == 6:
                assert not any(re.search(r"\b\d+\.\d+\.\d+\.\d+\b", line) for line in lines), lines


def test_xfail_reasons_name_the_issue() -> None:
    for s in SCENARIOS:
        assert s.xfail is None or s.xfail.startswith("issue 4 (Classify): "), s.name
