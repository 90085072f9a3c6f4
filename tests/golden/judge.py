"""Judge a stored result file again, as the dataset does when the rules improve: the observations and the
run-level facts a line keeps (the probe's own event-loop lag) are all it needs."""

from __future__ import annotations

import dataclasses

from probe import analysis, jsonlines, report
from probe.model import EndpointVerdict


def verdicts(data: bytes) -> dict[str, EndpointVerdict]:
    """`service input` -> the verdict of every line of a result file, judged again."""
    lines = list(jsonlines.decode_lines(data))
    measured = [report.measured_from_line(line) for line in lines]
    controls = [m for m in measured if m.target.is_control]
    vantage = analysis.assess(controls, [m for m in measured if not m.target.is_control])
    stored = lines[0]["test_keys"]["controls"] if lines else {}
    vantage = dataclasses.replace(
        vantage, loop_lag=float(stored.get("loop_lag", 0.0)), overloaded=bool(stored.get("overloaded", False))
    )
    return {f"{m.target.service} {m.target.input}": analysis.classify(m, vantage) for m in measured}


def judge(data: bytes) -> dict[str, tuple[str, str, str | None]]:
    """`service input` -> (verdict, confidence, rule id) for every line of a result file."""
    return {k: (v.verdict.value, v.confidence.value, v.rule_id) for k, v in verdicts(data).items()}


def judge_families(data: bytes) -> dict[str, dict[str, tuple[str, str, str | None]]]:
    """`service input` -> `ipv4`/`ipv6` -> (verdict, confidence, rule id), for the families each endpoint has."""
    return {
        k: {f.family: (f.verdict.value, f.confidence.value, f.rule_id) for f in v.families}
        for k, v in verdicts(data).items()
    }
