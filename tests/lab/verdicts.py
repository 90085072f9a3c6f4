"""Run `probe run --json` inside the client namespace and hold its verdicts against a scenario's expectations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe import targets
from probe.model import Verdict
from tests.lab import plan as addr
from tests.lab.lab import Lab
from tests.lab.plan import Endpoint
from tests.lab.scenarios import Scenario, expected_family_verdicts, expected_verdicts

PROBE = str(Path(sys.executable).with_name("probe"))
TIMEOUT = 2.0  # --timeout: the probe also keeps each DNS socket open 2 s after a first answer


class VerdictMismatch(AssertionError):
    """The probe ran to completion but judged the scenario wrongly (the only failure an xfail may excuse)."""


@dataclass(frozen=True)
class ProbeRun:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    summary: dict[str, Any]


def probe_argv(
    lab: Lab,
    results_dir: Path,
    *,
    capture: bool = True,
    scenario: Scenario | None = None,
    target_files: Sequence[Path] | None = None,
) -> list[str]:
    """The probe's command line in the lab: the lab's DoH control and CA, and no upload; what the scenario asks
    for beside (a longer timeout, its own lists, no controls). The lists: the bundled ones (without controls.toml
    for a scenario with its own lists) and the lab's own endpoints, unless `target_files` names others."""
    if target_files is None:
        own = scenario is not None and scenario.own_lists
        lists = [p for p in targets.bundled_paths() if not (own and p.name == "controls.toml")]
        target_files = (*lists, addr.LAB_LIST)
    assert lab.pki is not None
    timeout = scenario.timeout if scenario is not None and scenario.timeout else TIMEOUT
    argv = [
        PROBE,
        "run",
        "--json",
        "--timeout",
        f"{timeout:g}",
        "--doh",
        f"https://{addr.CONTROL_RESOLVER}/dns-query",
        "--ca-file",
        str(lab.pki.ca_file),
        "--results-dir",
        str(results_dir),
        "--no-upload",
        # the bundled lists unchanged, and the lab's own endpoints (plan.lab_targets)
        *(a for path in target_files for a in ("--targets", str(path))),
        # the lab's "Signal-style" private CA stands in for Signal's: the only anchor for Signal's names
        *(a for name, path in sorted(lab.pki.anchors.items()) for a in ("--anchor", f"{name}={path}")),
    ]
    if not capture:
        argv.append("--no-capture")
    if scenario is not None and scenario.no_controls:
        argv.append("--no-controls")
    return argv


def probe_env(home: Path) -> dict[str, str]:
    """A private home for the probe's keys, settings and spool; no proxies from the environment."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    return {
        **keep,
        "HOME": str(home),
        "PROBE_HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_DATA_HOME": str(home / "data"),
    }


def prepare_home(home: Path) -> None:
    """Record the consent a volunteer gives once (`probe init --accept-risks`, results kept local): without it a
    non-interactive run measures nothing."""
    home.mkdir(parents=True, exist_ok=True)
    argv = [PROBE, "init", "--accept-risks", "--no-upload"]
    done = subprocess.run(
        argv, capture_output=True, text=True, env=probe_env(home), stdin=subprocess.DEVNULL, check=False, timeout=60
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv[1:])} failed (exit {done.returncode}): {done.stderr[-2000:]}")


def run_probe(
    lab: Lab, results_dir: Path, home: Path, *, capture: bool = True, scenario: Scenario | None = None
) -> ProbeRun:
    """`probe run --json` in the client namespace; fails (not a mismatch) when it crashed or printed no JSON."""
    argv = probe_argv(lab, results_dir, capture=capture, scenario=scenario)
    return finished(argv, lab.in_client(argv, env=probe_env(home), timeout=180))


def finished(argv: list[str], done: subprocess.CompletedProcess[str]) -> ProbeRun:
    """The run `argv` made (here or in a container); fails (not a mismatch) when it crashed or printed no JSON."""
    if done.returncode not in (0, 3):
        raise AssertionError(f"probe run crashed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"probe run --json printed no JSON object ({exc}):\n{done.stdout[-2000:]}") from exc
    return ProbeRun(tuple(argv), done.returncode, done.stdout, done.stderr, summary)


def overloaded(run: ProbeRun) -> bool:
    """The probe said its own event loop fell behind in this run (`controls.overloaded` in the result file): its
    timeouts were no evidence, and it judged them `inconclusive`, as designed; the run says nothing of the censor.
    The suite runs four workers on two cores, beside Spark and Docker builds, so now and then that happens."""
    path = run.summary.get("result_file")
    if not path:
        return False
    with open(path, "rb") as results:
        first = results.readline(1 << 20)
    return bool(first) and json.loads(first)["test_keys"]["controls"].get("overloaded") is True


def compare(scenario: Scenario, lab: Lab, run: ProbeRun) -> list[str]:
    """Every difference between what the scenario expects and what the probe said (empty when all agree)."""
    expected = expected_verdicts(scenario, lab.plan)
    got: dict[tuple[str, str, int, str], dict[str, Any]] = {
        (e["service"], e["host"], e["port"], e["protocol"]): e for e in run.summary.get("endpoints", [])
    }
    problems = []
    blocking = {v.value for v in Verdict} - {"ok", "inconclusive"}
    lab_endpoints = {e.key: e for e in lab.plan.endpoints}
    excused = [k for k in expected if k in got and expected[k] == "ok" and got[k]["verdict"] == "inconclusive"]
    served = [k for k in expected if lab_endpoints[k].address is not None]
    if scenario.noisy and len(excused) > scenario.noisy * len(served):
        problems.append(f"{len(excused)} of {len(served)} served endpoints inconclusive (at most {scenario.noisy:.0%})")
    if run.returncode != scenario.exit_code:
        problems.append(f"exit code {run.returncode}, expected {scenario.exit_code}: {run.stderr.strip()[-300:]}")
    vantage = run.summary.get("vantage", {}).get("status")
    if vantage != scenario.vantage:
        problems.append(f"vantage {vantage}, expected {scenario.vantage}")
    for key in sorted(set(expected) | set(got)):
        where = f"{key[0]} {key[3]}://{key[1]}:{key[2]}"
        if key not in got:
            problems.append(f"{where}: missing from the probe's output (expected {expected[key]})")
        elif key not in expected:
            problems.append(f"{where}: not in the target list the lab serves")
        elif scenario.noisy and got[key]["verdict"] == "inconclusive" and expected[key] == "ok":
            continue  # counted above
        elif got[key]["verdict"] != expected[key] or (scenario.noisy and got[key]["verdict"] in blocking):
            evidence = "; ".join(got[key].get("evidence", []))
            problems.append(
                f"{where}: {got[key]['verdict']} ({got[key].get('confidence')}), expected {expected[key]} -- {evidence}"
            )
        elif (wanted := _confidence(scenario, lab_endpoints[key], "--no-capture" in run.argv)) is not None and (
            got[key]["confidence"] != wanted
        ):
            problems.append(
                f"{where}: {got[key]['verdict']} with confidence {got[key]['confidence']}, expected {wanted} -- "
                + "; ".join(got[key].get("evidence", []))
            )
        elif (
            scenario.captured_confidence is not None
            and "--no-capture" not in run.argv
            and expected[key] not in ("ok", "inconclusive")
            and got[key]["confidence"] != scenario.captured_confidence
        ):
            evidence = "; ".join(got[key].get("evidence", []))
            problems.append(
                f"{where}: {got[key]['verdict']} with confidence {got[key]['confidence']}, expected "
                f"{scenario.captured_confidence} with packet capture -- {evidence}"
            )
    return problems + compare_families(scenario, lab, got)


def compare_families(scenario: Scenario, lab: Lab, got: dict[tuple[str, str, int, str], dict[str, Any]]) -> list[str]:
    """Every difference between the verdicts per address family the scenario expects and the probe's (issue 15)."""
    problems = []
    for key, wanted in sorted(expected_family_verdicts(scenario, lab.plan).items()):
        if key not in got:
            continue  # said above
        families = got[key].get("families", {})
        for family in sorted(set(wanted) | set(families)):
            verdict = families.get(family, {}).get("verdict", "absent")
            if verdict != wanted.get(family, "absent"):
                evidence = "; ".join(families.get(family, {}).get("evidence", []))
                problems.append(
                    f"{key[0]} {key[3]}://{key[1]}:{key[2]} over {family}: {verdict}, expected "
                    f"{wanted.get(family, 'absent')} -- {evidence}"
                )
    return problems


def _confidence(scenario: Scenario, endpoint: Endpoint, no_capture: bool) -> str | None:
    """The confidence a scenario demands of this endpoint (with capture), if any."""
    if no_capture:
        return None
    return next((c for select, c in scenario.confidences if select.matches(endpoint)), None)


def check(scenario: Scenario, lab: Lab, run: ProbeRun) -> None:
    problems = compare(scenario, lab, run)
    if problems:
        raise VerdictMismatch(
            f"scenario {scenario.name}: the probe's verdicts differ (result file {run.summary.get('result_file')}):\n  "
            + "\n  ".join(problems)
        )
