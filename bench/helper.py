"""What the control vantage (`probe helper serve`) costs: its measurement loop over the bundled lists, and each
probe's request for the view.

Run as root (network namespaces): .venv/bin/python -m bench.helper [--probes 1000] [--seconds 20] [--rounds 3]

1. The loop: the lab (real unbound, nginx; no censor) serves the bundled lists; the helper's measurer runs
   `--rounds` rounds inside the lab's client namespace, as `probe helper serve` would (timeout 2 s). Prints wall
   and CPU per round, and the CPU share that costs at one round every 300 s.
2. The requests: the view that loop wrote, served by the helper's HTTP face (uvicorn, httptools, uvloop; one
   process, as `probe helper serve` runs it) on loopback, to `--probes` concurrent probes (each one connection, one
   GET with gzip, as a probe asks once per run) for `--seconds`. Prints requests/s, p50/p99 latency and the
   server's own CPU per request (its process's user + system time over the requests it served), which is the
   cost that matters: on these 2 cores the client takes its share of the CPU too.

Nothing leaves this machine: the lab lives in namespaces made here, the requests go to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUND = """
import asyncio, json, resource, sys, time
from pathlib import Path
from probe import targets
from probe.helper.measurer import Measurer
from probe.helper.settings import HelperSettings
from probe.local import keys
settings = HelperSettings(**json.loads(sys.argv[1]))
chosen = targets.load()
measurer = Measurer(settings, chosen, keys.load_or_create(settings.key_dir))
rows = []
for _ in range(int(sys.argv[2])):
    wall, u = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    asyncio.run(measurer.round(chosen))
    v = resource.getrusage(resource.RUSAGE_SELF)
    rows.append({"wall": time.monotonic() - wall, "cpu": v.ru_utime + v.ru_stime - u.ru_utime - u.ru_stime})
print(json.dumps({"rounds": rows, "endpoints": len(chosen), "view_bytes": settings.view_path.stat().st_size,
                  "verdicts": sorted({e.verdict or "" for e in measurer.entries.values()})}))
"""


def loop_cost(state: Path, rounds: int) -> dict[str, object]:
    from probe import targets
    from tests.lab import plan as addr
    from tests.lab.lab import Lab
    from tests.lab.plan import LabPlan

    lab = Lab(state.parent / "lab", LabPlan.from_targets(targets.load()), "example.org", sys.executable)
    try:
        lab.build()
        assert lab.pki is not None
        settings = {
            "state_dir": str(state),
            "resolver": addr.CONTROL_RESOLVER,
            "doh": [f"https://{addr.CONTROL_RESOLVER}/dns-query"],
            "ca_files": [str(lab.pki.ca_file)],
            "timeout": 2.0,
        }
        with lab.censor(()):
            done = lab.in_client([sys.executable, "-c", ROUND, json.dumps(settings), str(rounds)], timeout=600)
        if done.returncode != 0:
            raise SystemExit(f"the measurer failed: {done.stderr[-3000:]}")
        return dict(json.loads(done.stdout))
    finally:
        lab.teardown()


async def _probe(port: int, request: bytes, latencies: list[float], failures: list[str]) -> None:
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # to EOF: "Connection: close", as each probe's single request
        writer.close()
    except (OSError, asyncio.IncompleteReadError) as exc:
        failures.append(type(exc).__name__)
        return
    if not head.startswith(b"HTTP/1.1 200"):
        failures.append(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        return
    latencies.append(time.monotonic() - started)


async def _flood(port: int, probes: int, seconds: float) -> tuple[list[float], list[str], float]:
    request = (
        b"GET /v1/view HTTP/1.1\r\nHost: helper\r\nAccept-Encoding: gzip, deflate\r\n"
        b"User-Agent: probe-helper-client/1\r\nConnection: close\r\n\r\n"
    )
    latencies: list[float] = []
    failures: list[str] = []
    end = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < end:
            await _probe(port, request, latencies, failures)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(probes)))
    return latencies, failures, time.monotonic() - started


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request_cost(state: Path, probes: int, seconds: float) -> dict[str, float]:
    from probe.helper.settings import SETTINGS_VARIABLE, HelperSettings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a thousand probes: a thousand sockets each side
    # The rate limit is passed through, not switched off: every request pays for its bucket, as in the field.
    settings = HelperSettings(state_dir=str(state), rate=1e9, burst=10**9)
    server = subprocess.Popen(
        [sys.executable, "-c", "import uvicorn, sys; uvicorn.run('probe.helper.app:app_from_environment', "
         f"factory=True, host='127.0.0.1', port={port}, log_level='warning', access_log=False, backlog=4096)"],
        env={**os.environ, SETTINGS_VARIABLE: settings.to_environment()},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        import uvloop

        before = _cpu(server.pid)
        latencies, failures, wall = uvloop.run(_flood(port, probes, seconds))
        cpu = _cpu(server.pid) - before
    finally:
        server.terminate()
        server.wait(10)
    latencies.sort()
    served = len(latencies)
    return {
        "requests": served,
        "failures": len(failures),
        "per_second": served / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (served - 1))],
        "server_cpu_ms": 1000 * cpu / max(1, served),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/helper.py builds network namespaces for the measurement loop: run it as root")
    folder = Path(tempfile.mkdtemp(prefix="probe-bench-helper-"))
    try:
        state = folder / "state"
        loop = loop_cost(state, args.rounds)
        rounds = loop["rounds"]
        assert isinstance(rounds, list)
        print(f"measurement loop, bundled lists ({loop['endpoints']} endpoints, view {loop['view_bytes']} bytes, "
              f"verdicts {loop['verdicts']}):")  # fmt: skip
        for n, r in enumerate(rounds, 1):
            print(f"  round {n}: {r['wall']:.1f} s wall, {r['cpu']:.2f} s CPU = {100 * r['cpu'] / 300:.2f}% of a core "
                  f"at one round every 300 s")  # fmt: skip
        cost = request_cost(state, args.probes, args.seconds)
        print(f"view requests, {args.probes} concurrent probes on loopback, {args.seconds:g} s:")
        print(f"  {cost['requests']:.0f} served ({cost['failures']:.0f} failed): {cost['per_second']:.0f} requests/s, "
              f"p50 {cost['p50_ms']:.0f} ms, p99 {cost['p99_ms']:.0f} ms; server CPU {cost['server_cpu_ms']:.3f} ms "
              f"per request")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
