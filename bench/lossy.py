"""Loss and delay are not censorship: how often does the probe call blocking on a bad but uncensored path?

Runs the lab's `trap_lossy_path` (30% of packets dropped each way) and `trap_delayed_path` (every packet 0.4-0.8 s
late each way) scenarios, at --timeout 3, N times each (default 20), every endpoint of the bundled lists and of the
lab's own list (a data centre that answers MTProto's first message, a slow web server) each time, and prints per
scenario: the runs, the endpoints judged (those the lab serves), the false blocks (a blocking verdict for an
uncensored endpoint; goal 0), and the share that came out `inconclusive` (goal: under 10% at 30% loss).

Run as root (network namespaces):
    .venv/bin/python -m bench.lossy [--runs 20] [--scenarios trap_lossy_path trap_delayed_path]
It takes /tmp/probe-heavy.lock itself, for one scenario's runs at a time (timing verdicts go wrong on a machine
busy with something else), so the others' heavy runs can go in between the two scenarios.
The lab's addresses are documentation ranges inside namespaces made here; nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import collections
import collections.abc
import contextlib
import fcntl
import os
import sys
import tempfile
import time
from pathlib import Path

from probe.measure import CONTROL_SNI
from tests.lab.lab import Lab
from tests.lab.plan import LabPlan, lab_targets
from tests.lab.scenarios import by_name, expected_verdicts
from tests.lab.verdicts import prepare_home, run_probe

NOT_BLOCKING = {"ok", "inconclusive"}
HEAVY_LOCK = Path("/tmp/probe-heavy.lock")


@contextlib.contextmanager
def heavy() -> collections.abc.Iterator[None]:
    """The machine's heavy-run lock (the same one `flock /tmp/probe-heavy.lock` takes)."""
    with HEAVY_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--scenarios", nargs="+", default=["trap_lossy_path", "trap_delayed_path"])
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/lossy.py builds network namespaces: run it as root")
    print(f"{'scenario':<17} {'runs':>4} {'endpoints':>9} {'false blocks':>12} {'inconclusive':>12} {'s/run':>6}")
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
        folder = Path(tmp)
        home = folder / "home"
        prepare_home(home)
        # The lists a lab run measures (the bundled ones and the lab's own: its MTProto data centre, its slow server)
        lab = Lab(folder / "lab", LabPlan.from_targets(lab_targets()), CONTROL_SNI, sys.executable)
        try:
            lab.build()
            for name in args.scenarios:
                scenario = by_name(name)
                expected = expected_verdicts(scenario, lab.plan)
                served = {e.key for e in lab.plan.served} & set(expected)
                counts: collections.Counter[str] = collections.Counter()
                blocks: collections.Counter[str] = collections.Counter()
                spent = 0.0
                with heavy():
                    runs = []
                    for i in range(args.runs):
                        with lab.censor(scenario.censor):
                            started = time.monotonic()
                            runs.append(run_probe(lab, folder / "results", home, scenario=scenario))
                            spent += time.monotonic() - started
                        print(f"  {name} run {i + 1} done", file=sys.stderr, flush=True)
                for i, run in enumerate(runs):
                    for e in run.summary.get("endpoints", []):
                        key = (e["service"], e["host"], e["port"], e["protocol"])
                        if key not in served:
                            continue
                        counts[e["verdict"]] += 1
                        if e["verdict"] not in NOT_BLOCKING and expected[key] == "ok":
                            blocks[f"{e['host']}:{e['port']} {e['verdict']}"] += 1
                    print(f"  run {i + 1}: {dict(counts)}", file=sys.stderr, flush=True)
                judged = sum(counts.values())
                share = counts["inconclusive"] / judged if judged else 0.0
                per_run = spent / max(args.runs, 1)
                print(
                    f"{name:<17} {args.runs:>4} {judged:>9} {sum(blocks.values()):>12} {share:>12.1%} {per_run:>6.1f}"
                )
                for what, n in blocks.most_common():
                    print(f"    false block x{n}: {what}")
        finally:
            lab.teardown()


if __name__ == "__main__":
    main()
