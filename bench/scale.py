"""Does a run's cost stay flat in the number of endpoints? `probe run` at N = 10, 100, 1000 endpoints against the
lab's real servers (unbound, nginx), a quarter of them behind an IP blackhole.

Run as root (network namespaces): .venv/bin/python -m bench.scale [--sizes 10 100 1000] [--timeout 2] [--runs 1]
[--capture both|on|off]
Prints, per N and capture mode: wall time, CPU time (user + system, the probe and its capture process), peak RSS
of the biggest process, and the wall time as a ratio of the per-endpoint timeout chain (target: at most 1.5,
whatever N) and of the smallest run's wall time; with `--runs K`, each run, then per N and mode how many runs got
every verdict right, the median wall time and its ratio to the smallest N's, and the highest peak (issue 15: with
capture, 10 of 10 right at N=1000, within 1.5x of N=10, at most 150 MB). The lab's addresses are documentation
ranges inside namespaces made here; nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from probe.model import Target
from probe.runner import timeout_chain
from tests.lab.censor import Rules
from tests.lab.lab import Lab
from tests.lab.plan import Endpoint, LabPlan
from tests.lab.verdicts import prepare_home, probe_argv, probe_env

LIVE = [f"203.0.113.{i}" for i in range(10, 16)]  # six addresses that answer
DEAD = ["203.0.113.20", "203.0.113.21"]  # two addresses behind the blackhole: a quarter of the endpoints
# The list's own international control; the bundled ones are left out (--no-controls): the bench's lab serves
# only its own names, and unreachable international controls would make the vantage point `restricted`.
CONTROL = Target(
    service="control", host="example.org", port=443, protocol="tls", role="vantage_online", list_version="bench"
)


def bench_plan(n: int) -> tuple[LabPlan, str]:
    """N tls endpoints spread over eight addresses (two of them blackholed), plus the control; and the TOML."""
    endpoints = [Endpoint(CONTROL, "203.0.113.30")]
    addresses = LIVE + DEAD
    for i in range(n):
        host = f"e{i}.bench.test"
        target = Target(service="bench", host=host, port=443, protocol="tls", list_version="bench")
        endpoints.append(Endpoint(target, addresses[i % len(addresses)]))
    names = tuple((e.target.host, str(e.address)) for e in endpoints)
    toml = ['version = "bench"']
    for e in endpoints:
        t = e.target
        toml += ["[[endpoint]]", f'service = "{t.service}"', f'host = "{t.host}"', "port = 443", 'protocol = "tls"']
        toml += [f'role = "{t.role}"'] if t.role else []
    return LabPlan(tuple(endpoints), names), "\n".join(toml) + "\n"


# A fresh parent per run, so that its children's resource usage is this run's alone: it runs the command and
# prints the usage of everything below it (the probe, and its capture process) as the last line of stderr.
_USAGE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
code = subprocess.run(sys.argv[1:]).returncode
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "wall": time.monotonic() - start, "cpu": u.ru_utime + u.ru_stime,
                  "rss_mb": u.ru_maxrss / 1024}), file=sys.stderr)
"""


def measure(lab: Lab, argv: list[str], env: dict[str, str], dead: set[str]) -> dict[str, float]:
    """Run the probe in the client namespace: wall, CPU and peak RSS (of the biggest process below it), and the
    verdicts: `tcp.timeout` for the hosts in `dead`, `ok` for the others."""
    done = subprocess.run(
        [sys.executable, "-c", _USAGE, "ip", "netns", "exec", lab.client_ns, *argv],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    usage = json.loads(done.stderr.strip().splitlines()[-1])
    if usage["code"] != 0:
        raise SystemExit(f"probe run failed ({usage['code']}): {done.stderr[-2000:]}")
    verdicts = [e for e in json.loads(done.stdout)["endpoints"] if e["service"] == "bench"]
    wrong = collections.Counter(
        f"{e['verdict']} ({e['confidence']}): {'; '.join(e['evidence'])}"
        for e in verdicts
        if e["verdict"] != ("tcp.timeout" if e["host"] in dead else "ok")
    )
    for line, count in wrong.most_common(5):  # a wrong verdict under load is a finding, not noise: say which
        print(f"      {count} wrong: {line}", file=sys.stderr)
    names = [e["verdict"] for e in verdicts]
    return {**usage, "ok": names.count("ok"), "blackholed": names.count("tcp.timeout")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=1, help="runs per N and capture mode")
    parser.add_argument("--capture", choices=("both", "on", "off"), default="both")
    args = parser.parse_args()
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.capture]
    if os.geteuid() != 0:
        raise SystemExit("bench/scale.py builds network namespaces: run it as root")
    chain = timeout_chain(args.timeout, 2.0)
    print(f"per-endpoint timeout chain at --timeout {args.timeout:g}: {chain:.1f} s")
    print(f"{'N':>5} {'capture':>8} {'wall s':>7} {'cpu s':>6} {'peak MB':>8} {'wall/chain':>10} {'wall/N=min':>10}"
          f" {'ok':>5} {'blackholed':>10}")  # fmt: skip
    first: dict[bool, float] = {}
    summary: list[str] = []
    for n in sorted(args.sizes):
        plan, toml = bench_plan(n)
        dead = {e.target.host for e in plan.endpoints if str(e.address) in DEAD}
        with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
            folder = Path(tmp)
            (folder / "bench.toml").write_text(toml)
            home = folder / "home"
            prepare_home(home)
            lab = Lab(folder / "lab", plan, control_sni=CONTROL.host, python=sys.executable)
            try:
                lab.build()
                # The bench's names are IPv4 only (no AAAA), like the runs its earlier figures come from.
                with lab.censor([Rules(tuple(f"-A FORWARD -d {ip} -j DROP" for ip in DEAD), families=(4,))]):
                    for capture in modes:
                        argv = probe_argv(
                            lab, folder / "results", capture=capture, target_files=[folder / "bench.toml"]
                        )
                        argv += ["--timeout", f"{args.timeout:g}", "--no-controls"]
                        runs = []
                        for _ in range(args.runs):
                            m = measure(lab, argv, probe_env(home), dead)
                            runs.append(m)
                            print(f"{n:>5} {'on' if capture else 'off':>8} {m['wall']:>7.1f} {m['cpu']:>6.1f}"
                                  f" {m['rss_mb']:>8.0f} {m['wall'] / chain:>10.2f}"
                                  f" {m['wall'] / first.get(capture, m['wall']):>10.2f}"
                                  f" {m['ok']:>5.0f} {m['blackholed']:>10.0f}", flush=True)  # fmt: skip
                        wall = statistics.median(r["wall"] for r in runs)
                        first.setdefault(capture, wall)
                        right = sum(r["ok"] == n - len(dead) and r["blackholed"] == len(dead) for r in runs)
                        summary.append(
                            f"N={n} capture {'on' if capture else 'off'}: every verdict right in {right} of "
                            f"{len(runs)} runs; median wall {wall:.1f} s ({wall / first[capture]:.2f}x the smallest "
                            f"N's); peak {max(r['rss_mb'] for r in runs):.0f} MB"
                        )
            finally:
                lab.teardown()
    print("\n".join(summary))


if __name__ == "__main__":
    main()
