"""Golden scenarios: stored observations in, verdicts out (tests/golden/<phenomenon>/).

The observations are read back from the stored result file, so this also proves that a result file alone is
enough to judge a run again, as the dataset will when the rules improve. Each endpoint's expectation names the
rule that must decide it (`rule_id`), not only the verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probe.model import Verdict
from tests.golden.judge import judge as judge_file
from tests.golden.scenarios import NAMES

GOLDEN = Path(__file__).parent.parent / "golden"
BLOCKING = {v.value for v in Verdict} - {"ok", "inconclusive"}


def judge(name: str) -> tuple[dict[str, tuple[str, str, str | None]], dict[str, dict[str, str]]]:
    got = judge_file((GOLDEN / name / "measurements.jsonl").read_bytes())
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


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("trap_") or n in ("clean", "lossy_link")])
def test_traps_never_yield_a_blocking_verdict(name: str) -> None:
    got, _ = judge(name)
    assert not [e for e, (v, _, _) in got.items() if v in BLOCKING]
