"""Golden scenarios: stored observations in, verdicts out (tests/golden/<phenomenon>/).

The observations are read back from the stored result file, so this also proves that a result file alone is
enough to judge a run again, as the dataset will when the rules improve. Each endpoint's expectation names the
rule that must decide it (`rule_id`), not only the verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from probe.model import Verdict
from tests.golden.judge import judge as judge_file
from tests.golden.judge import judge_families, verdicts
from tests.golden.scenarios import NAMES

GOLDEN = Path(__file__).parent.parent / "golden"
BLOCKING = {v.value for v in Verdict} - {"ok", "inconclusive"}


def _data(name: str) -> bytes:
    return (GOLDEN / name / "measurements.jsonl").read_bytes()


def judge(name: str) -> tuple[dict[str, tuple[str, str, str | None]], dict[str, dict[str, Any]]]:
    got = judge_file(_data(name))
    expected = json.loads((GOLDEN / name / "expected.json").read_text())["expected"]
    return got, expected


@pytest.mark.parametrize("name", NAMES)
def test_golden_scenario(name: str) -> None:
    got, expected = judge(name)
    assert set(got) == set(expected)
    for endpoint, want in expected.items():
        verdict, confidence, rule = got[endpoint]
        assert verdict == want["verdict"], f"{endpoint}: {verdict} ({rule}), expected {want['verdict']}"
        assert rule == want["rule_id"], f"{endpoint}: decided by {rule}, expected {want['rule_id']}"
        if "confidence" in want:
            assert confidence == want["confidence"], f"{endpoint}: confidence {confidence} ({rule})"
    families = judge_families(_data(name))
    for endpoint, want in expected.items():
        for family, wanted in want.get("families", {}).items():
            verdict, _, rule = families[endpoint].get(family, ("absent", "", None))
            assert (verdict, rule) == (wanted["verdict"], wanted["rule_id"]), f"{endpoint} over {family} ({rule})"


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("trap_") or n in ("clean", "lossy_link")])
def test_traps_never_yield_a_blocking_verdict(name: str) -> None:
    got, _ = judge(name)
    assert not [e for e, (v, _, _) in got.items() if v in BLOCKING]


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("ipv")])
def test_a_block_of_one_family_is_not_a_block_of_the_service(name: str) -> None:
    """Where one address family works, the endpoint is not blocked, whatever the other family's verdict, and the
    evidence names the failing family (issue 15)."""
    for endpoint, verdict in verdicts(_data(name)).items():
        families = {f.family: f.verdict.value for f in verdict.families}
        if "ok" in families.values() and verdict.verdict.value in BLOCKING - {"dns.injection"}:
            raise AssertionError(f"{endpoint}: {verdict.verdict.value} though {families}")
        blocked = [f for f, v in families.items() if v in BLOCKING]
        if verdict.verdict.value == "ok" and blocked:
            assert any(f"over IP{blocked[0][2:]}" in e for e in verdict.evidence), verdict.evidence
