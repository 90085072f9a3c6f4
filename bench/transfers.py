"""What does looking past the handshake cost (issue 16)? `probe run` on the bundled lists in the lab's clean
network, as it is by default (transfers, first exchanges, Signal's backends by TLS under their pinned CA) and as it
was before issue 16 (the same lists without `transfer`, `first_message` and `ca`, Signal's backends connect-only,
and `--no-transfer`), alternating.

Run as root (network namespaces): .venv/bin/python -m bench.transfers [--rounds 5] [--timeout 2]
Prints each run's wall time and what it spent past the handshake: bytes read and written by the transfers (and their
count), and by the first exchanges; then the median wall time of each mode and their ratio (goal: at most 1.2x the
time before) and the largest byte count (goal: under 4 MiB). Beside the bundled lists runs one lab data centre that
speaks MTProto (the bundled ones are real addresses the lab cannot route), so the first exchange is paid for too.
The lab's own list (tests/lab/lab_targets.toml) stays out: its server is slow on purpose. The lab's addresses are
documentation ranges inside namespaces made here; nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from probe import targets
from tests.lab.lab import Lab
from tests.lab.plan import LabPlan
from tests.lab.verdicts import prepare_home, probe_argv, probe_env

BUDGET = 4 * 1024 * 1024
DATA_CENTRE = """version = "bench"
[[endpoint]]
service = "telegram"
host = "203.0.113.200"
port = 443
protocol = "tcp"
first_message = "mtproto"
"""


def before_issue_16(text: str) -> str:
    """A target list as it was before issue 16: no transfer, no first message, and an endpoint under a pinned CA
    (Signal's backends) connect-only again."""
    blocks = text.split("[[endpoint]]")
    for i, block in enumerate(blocks[1:], 1):
        if re.search(r'^ca = "', block, re.M):
            block = re.sub(r'^protocol = "tls"$', 'protocol = "tcp"', block, flags=re.M)
        blocks[i] = re.sub(r"^(ca|first_message|transfer) = .*\n", "", block, flags=re.M)
    return "[[endpoint]]".join(blocks)


def spent(result_file: Path) -> dict[str, int]:
    """Bytes the run spent past the handshake, from its result file."""
    out = {"transfers": 0, "transfer_bytes": 0, "exchanges": 0, "exchange_bytes": 0}
    for line in result_file.read_text().splitlines():
        keys = json.loads(line)["test_keys"]
        for t in keys.get("transfers") or ():
            out["transfers"] += 1
            out["transfer_bytes"] += t["num_bytes"] + 200  # the request: about 200 bytes
        for a in keys.get("app_exchanges") or ():
            out["exchanges"] += 1
            out["exchange_bytes"] += a["sent"] + a["received"]
    return out


def run(lab: Lab, argv: list[str], home: Path) -> tuple[float, dict[str, int]]:
    start = time.monotonic()
    done = lab.in_client(argv, env=probe_env(home), timeout=300)
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"probe run failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    wrong = [e for e in summary["endpoints"] if e["verdict"] not in ("ok", "inconclusive")]
    if wrong:
        print(f"      wrong verdicts in a clean lab: {wrong[:3]}", file=sys.stderr)
    return wall, spent(Path(summary["result_file"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/transfers.py builds network namespaces: run it as root")
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
        folder = Path(tmp)
        (folder / "dc.toml").write_text(DATA_CENTRE)
        files = [*targets.bundled_paths(), folder / "dc.toml"]
        (folder / "before").mkdir()
        old_files = [folder / "before" / f.name for f in files]
        for new, old in zip(files, old_files, strict=True):
            old.write_text(before_issue_16(new.read_text()))
        plan = LabPlan.from_targets(targets.load(files))
        home = folder / "home"
        prepare_home(home)
        lab = Lab(folder / "lab", plan, control_sni="example.org", python=sys.executable)
        walls: dict[bool, list[float]] = {True: [], False: []}
        most = 0
        try:
            lab.build()
            with lab.censor(()):
                print(f"{'round':>5} {'mode':>12} {'wall s':>7} {'transfers':>9} {'KiB':>7} {'exchanges':>9} {'B':>5}")
                for n in range(args.rounds):
                    for past in (True, False):
                        argv = probe_argv(lab, folder / "results", target_files=files if past else old_files)
                        argv += ["--timeout", f"{args.timeout:g}", *([] if past else ["--no-transfer"])]
                        wall, cost = run(lab, argv, home)
                        walls[past].append(wall)
                        most = max(most, cost["transfer_bytes"] + cost["exchange_bytes"])
                        mode = "default" if past else "before"
                        print(f"{n:>5} {mode:>12} {wall:>7.1f} {cost['transfers']:>9} "
                              f"{cost['transfer_bytes'] / 1024:>7.0f} {cost['exchanges']:>9} "
                              f"{cost['exchange_bytes']:>5}", flush=True)  # fmt: skip
        finally:
            lab.teardown()
    with_, without = statistics.median(walls[True]), statistics.median(walls[False])
    print(f"median wall: {with_:.1f} s by default, {without:.1f} s as before issue 16: {with_ / without:.2f}x "
          f"(goal <= 1.2x); most bytes past the handshake in a run: {most / 1024:.0f} KiB "
          f"({most / BUDGET:.0%} of the {BUDGET // 1024} KiB budget)")  # fmt: skip


if __name__ == "__main__":
    main()
