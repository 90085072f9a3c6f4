"""Regenerate the golden folders: `python -m tests.golden.make [NAME...]` (explicit, never during a test run).

Each scenario's script goes through the real runner over the fake network; the result file it writes is kept as
`measurements.jsonl` and the hand-written expectations as `expected.json`, with the id of the rule that decides
each endpoint (refused when the verdict differs from the hand-written one: fix the rules, not the truth).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from probe import jsonlines
from probe.runner import RunConfig, run_async
from tests.fakes import FakeNetwork, fake_helper
from tests.golden.judge import judge, judge_families
from tests.golden.scenarios import SCENARIOS, Scenario

HERE = Path(__file__).parent
OBSERVATIONS = ("queries", "tcp_connect", "tls_handshakes", "network_events", "packets", "app_exchanges", "transfers")


def key(service: str, input_: str) -> str:
    return f"{service} {input_}"


def _strip(data: bytes, hosts: tuple[str, ...]) -> bytes:
    """Empty the observations of the lines for `hosts`."""
    out = []
    for line in jsonlines.decode_lines(data):
        if line["test_keys"]["target"]["host"] in hosts:
            line["test_keys"].update({name: [] for name in OBSERVATIONS})
        out.append(jsonlines.canonical_line(line))
    return b"".join(out)


async def make(scenario: Scenario, folder: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(targets=scenario.targets, resolver="192.0.2.53",
                           doh_urls=("https://192.0.2.54/dns-query",), timeout=2.0, results_dir=Path(tmp))  # fmt: skip
        helper = fake_helper(scenario.helper, scenario.targets, scenario.script) if scenario.helper else None
        outcome = await run_async(config, net=FakeNetwork(scenario.script), helper=helper)
    data = _strip(outcome.data, scenario.strip) if scenario.strip else outcome.data
    got, got_families = judge(data), judge_families(data)
    problems = []
    expected = {}
    for t in scenario.targets:
        name = key(t.service, t.input)
        verdict, confidence, rule = got[name]
        want: dict[str, Any] = {"verdict": scenario.verdict(t.host), "rule_id": rule}
        if t.host in scenario.confidence:
            want["confidence"] = scenario.confidence[t.host]
        if verdict != want["verdict"] or confidence != want.get("confidence", confidence):
            problems.append(f"{scenario.name}: {name}: {verdict} ({confidence}, {rule}), expected {want}")
        for family, wanted in scenario.families.get(t.host, {}).items():
            verdict, confidence, rule = got_families[name].get(family, ("absent", "", None))
            if verdict != wanted:
                problems.append(f"{scenario.name}: {name} over {family}: {verdict} ({rule}), expected {wanted}")
            want.setdefault("families", {})[family] = {"verdict": wanted, "rule_id": rule}
        expected[name] = want
    folder.mkdir(exist_ok=True)
    (folder / "measurements.jsonl").write_bytes(data)
    document = {"comment": scenario.comment, "expected": expected}
    (folder / "expected.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return problems


async def main(names: list[str]) -> int:
    problems = []
    for scenario in SCENARIOS:
        if names and scenario.name not in names:
            continue
        problems += await make(scenario, HERE / scenario.name)
        print(scenario.name)
    print("\n".join(problems), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
