"""Regenerate the golden folders: `python -m tests.golden.make` (explicit, never during a test run).

Each scenario's script goes through the real runner over the fake network; the result file it writes is kept as
`measurements.jsonl` and the hand-written expectations as `expected.json`.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from probe.runner import RunConfig, run_async
from tests.fakes import FakeNetwork
from tests.golden.scenarios import SCENARIOS, TARGETS, Scenario

HERE = Path(__file__).parent


def key(service: str, input_: str) -> str:
    return f"{service} {input_}"


async def make(scenario: Scenario, folder: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(targets=TARGETS, resolver="192.0.2.53", doh_urls=("https://192.0.2.54/dns-query",),
                           timeout=2.0, results_dir=Path(tmp))  # fmt: skip
        outcome = await run_async(config, net=FakeNetwork(scenario.script))
    folder.mkdir(exist_ok=True)
    (folder / "measurements.jsonl").write_bytes(outcome.data)
    expected = {
        key(t.service, t.input): {
            "verdict": scenario.verdict(t.host),
            **({"confidence": scenario.confidence[t.host]} if t.host in scenario.confidence else {}),
        }
        for t in TARGETS
    }
    document = {"comment": scenario.comment, "expected": expected}
    (folder / "expected.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


async def main() -> None:
    for scenario in SCENARIOS:
        await make(scenario, HERE / scenario.name)
        print(scenario.name)


if __name__ == "__main__":
    asyncio.run(main())
