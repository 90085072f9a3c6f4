"""One name per phenomenon: a lab scenario (tests/lab/scenarios.py) is named like the golden scenario
(tests/golden/<name>) that records the same phenomenon, unless it is listed in LAB_ONLY with a reason."""

from __future__ import annotations

from pathlib import Path

from tests.lab.scenarios import LAB_ONLY, SCENARIOS

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def test_lab_scenarios_share_the_golden_sets_names() -> None:
    golden = {p.name for p in GOLDEN.iterdir() if (p / "expected.json").is_file()}
    strays = sorted(s.name for s in SCENARIOS if s.name not in golden and s.name not in LAB_ONLY)
    assert not strays, (
        f"lab scenarios without a golden twin: {', '.join(strays)}; name each after the golden scenario of the same "
        "phenomenon, or list it in LAB_ONLY with the reason it has none"
    )


def test_lab_only_lists_only_lab_scenarios_without_a_twin() -> None:
    golden = {p.name for p in GOLDEN.iterdir() if (p / "expected.json").is_file()}
    names = {s.name for s in SCENARIOS}
    assert set(LAB_ONLY) <= names, sorted(set(LAB_ONLY) - names)
    assert not set(LAB_ONLY) & golden, sorted(set(LAB_ONLY) & golden)
