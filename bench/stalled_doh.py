"""A run against a DoH server that takes every query and answers none in time (a byte every 0.2 s): how long does
the whole run take, in timeout chains, as the list grows?

DoH queries go 32 at a time, so before the stall rule each 32 of a run's 2 x hosts x DoH URLs queries cost a whole
timeout; now a URL is given up after 16 timeouts in a row over three timeouts or more (probe.net.doh.STALLED_AFTER,
STALLED_TIMEOUTS). Prints, per list size: the run's wall time, that time in chains
(`probe.runner.timeout_chain`; the documented bound is 3), the DoH queries sent and recorded unsent (`not_sent`),
and the peak memory of the runs so far. bench.scale measures runs without a hostile peer: a thousand endpoints take
more than a chain of CPU time on a slow machine whatever the DoH server does.

Run as root (an empty network namespace holds the servers and the run; nothing leaves it), under the heavy lock:
    flock /tmp/probe-heavy.lock .venv/bin/python -m bench.stalled_doh [--endpoints 300 1000] [--timeout 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from probe.runner import timeout_chain
from tests import netns as namespaces
from tests.net.hostile import certificates, serve_in, target_list

LATE_WINDOW = 2.0  # RunConfig's default


def run_once(netns: str, folder: Path, endpoints: int, timeout: float) -> tuple[float, int, int, int]:
    """(seconds, DoH queries sent, unsent, peak kB of the runs so far) of one run of `endpoints` endpoints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBE_", "XDG_"))}
    env["PROBE_HOME"] = str(folder / "home")
    probe = ["ip", "netns", "exec", netns, sys.executable, "-m", "probe"]
    subprocess.run([*probe, "init", "--accept-risks", "--no-upload"], env=env, capture_output=True, check=True)
    hosts = [("control", "control.example")] + [("line", f"h{n}.example") for n in range(endpoints - 1)]
    targets = target_list(folder / f"targets-{endpoints}.toml", hosts)
    started = time.monotonic()
    done = subprocess.run(
        [*probe, "run", "--targets", str(targets), "--resolver", "127.0.0.1", "--ca-file", str(folder / "ca.pem"),
         "--doh", "https://127.0.0.1:8444/dns-query", "--timeout", str(timeout), "--no-capture",
         "--results-dir", str(folder / "results"), "--json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode not in (0, 3):
        raise SystemExit(done.stderr)
    doh = [
        query
        for line in Path(json.loads(done.stdout)["result_file"]).read_text().splitlines()
        for query in json.loads(line)["test_keys"]["queries"]
        if query["engine"] == "doh"
    ]
    unsent = sum("not_sent" in q["tags"] for q in doh)
    return seconds, len(doh) - unsent, unsent, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/stalled_doh.py builds a network namespace: run it as root")
    chain = timeout_chain(args.timeout, LATE_WINDOW)
    print(f"--timeout {args.timeout:g}: a chain is {chain:g} s; the documented bound is 3 chains ({3 * chain:g} s)")
    print(f"{'endpoints':>9} {'wall s':>7} {'chains':>6} {'DoH sent':>8} {'unsent':>7} {'peak MB':>7}")
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp, namespaces.empty_netns("bsd") as netns:
        folder = Path(tmp)
        subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"], check=True)
        certificates(folder)
        servers = [
            serve_in(netns, "tls", 8443, folder, folder / "tls.log"),
            serve_in(netns, "trickle", 8444, folder, folder / "doh.log"),
        ]
        try:
            for endpoints in args.endpoints:
                seconds, sent, unsent, peak = run_once(netns, folder, endpoints, args.timeout)
                print(
                    f"{endpoints:>9} {seconds:>7.1f} {seconds / chain:>6.2f} {sent:>8} {unsent:>7} {peak / 1024:>7.0f}"
                )
        finally:
            for server in servers:
                server.stop()


if __name__ == "__main__":
    main()
