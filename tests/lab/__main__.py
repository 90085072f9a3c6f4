"""Run one lab scenario by hand (as root): build the lab, apply the censor, run its self-test, then either run
the probe and print its verdicts beside the expected ones, or hold the lab open for your own commands.

    .venv/bin/python -m tests.lab SCENARIO            # self-test, probe run, comparison
    .venv/bin/python -m tests.lab SCENARIO --hold     # self-test, then wait: run commands in the client namespace
    .venv/bin/python -m tests.lab --list              # the scenarios
    .venv/bin/python -m tests.lab --plan              # every endpoint's lab address
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from probe.measure import CONTROL_SNI
from tests.lab import plan as addr
from tests.lab import selftest
from tests.lab.lab import Lab
from tests.lab.plan import LabPlan, lab_targets
from tests.lab.scenarios import SCENARIOS, by_name
from tests.lab.verdicts import compare, prepare_home, probe_argv, probe_env, run_probe


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", nargs="?")
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    parser.add_argument("--plan", action="store_true", help="print every endpoint's lab address and exit")
    parser.add_argument("--hold", action="store_true", help="keep the lab up until Enter is pressed")
    parser.add_argument("--no-capture", action="store_true", help="run the probe with --no-capture")
    parser.add_argument("--keep", type=Path, help="work in this folder (kept afterwards) instead of a temporary one")
    args = parser.parse_args(argv)
    if args.plan:
        for e in LabPlan.from_targets(lab_targets()).endpoints:
            where = e.address or "not served (outside the lab ranges: no route, expected inconclusive)"
            where += f"  {e.address6}" if e.address6 else ""
            print(f"{e.target.service:<10} {e.target.input:<40} {where}")
        return 0
    if args.list or not args.scenario:
        for s in SCENARIOS:
            print(f"{s.name:<24} {s.description}")
        return 0
    scenario = by_name(args.scenario)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="probe-lab-"))
    folder.mkdir(parents=True, exist_ok=True)
    lab = Lab(folder / "lab", LabPlan.from_targets(lab_targets()), CONTROL_SNI, sys.executable)
    (folder / "lab").mkdir(exist_ok=True)
    try:
        lab.build()
        with lab.censor(scenario.censor):
            report = selftest.run(lab, scenario.selftest)
            print("\n".join(report.lines))
            if not report.passed:
                return 1
            if args.hold:
                home = folder / "home"
                prepare_home(home)
                assert lab.pki is not None
                print(f"\nclient namespace: {lab.client_ns}   censor: {lab.censor_ns}   servers: {lab.server_ns}")
                print(f"lab CA: {lab.pki.ca_file}   DoH: https://{addr.CONTROL_RESOLVER}/dns-query")
                print("the probe, as the tests run it:")
                env = " ".join(f"{k}={v}" for k, v in probe_env(home).items() if k.startswith("PROBE"))
                argv = probe_argv(lab, folder / "results", scenario=scenario)
                print(f"  {env} ip netns exec {lab.client_ns} {' '.join(argv)}")
                input("\nthe lab is up; press Enter to tear it down ")
                return 0
        home = folder / "home"
        prepare_home(home)
        with lab.censor(scenario.censor):  # a fresh censor: the self-test may have left state (residual blocking)
            outcome = run_probe(lab, folder / "results", home, capture=not args.no_capture, scenario=scenario)
        for e in outcome.summary.get("endpoints", []):
            print(
                f"{e['service']:<10} {e['protocol']}://{e['host']}:{e['port']:<6} {e['verdict']:<14} "
                f"{e['confidence']:<7} {'; '.join(e['evidence'])[:160]}"
            )
        problems = compare(scenario, lab, outcome)
        vantage = json.dumps(outcome.summary.get("vantage"))
        print(f"vantage {vantage}, exit {outcome.returncode}, result file {outcome.summary.get('result_file')}\n")
        print("\n".join(["differences from the scenario's expectations:", *problems] if problems else ["as expected"]))
        return 1 if problems else 0
    finally:
        lab.teardown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
