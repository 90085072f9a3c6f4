"""Honest uploads while the collector is attacked (issue 21): their p99 latency, quiet and under attack.

Run: .venv/bin/python -m bench.hostile [--slow 1000] [--addresses 100] [--uploads 400] [--clients 4] [--seconds 20]

The attack, from a process of its own: `--slow` connections spread over `--addresses` loopback addresses
(127.1.0.x, so that the per-address cap lets them in: the harder case), each sending a request head a few bytes a
second and reconnecting whenever the collector closes it (slowloris); and two clients uploading, again and again, a
validly signed file padded with blank lines to just under the size limit (before issue 21 each cost 6-7 s of CPU).
Meanwhile `--clients` honest probes upload real result files. Prints the honest uploads' p50/p99 quiet and under
attack, their ratio (goal: under 5x), failures, what the attackers achieved, and the collector's peak memory.
Everything runs on the same cores (the attacker too): the figures are for this machine, a ratio matters most.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.ingest import percentile, requests, run_clients
from probe.collector.ingest import DEFAULT_MAX_BYTES
from probe.minisign import SecretKey
from tests.dataset.files import make_file, sign_bytes
from tests.dataset.servers import Collector


def padded_request(url: str) -> bytes:
    """A validly signed upload: a real result file, then blank lines up to just under the size limit."""
    secret = SecretKey.generate()
    signed = make_file(secret)
    data = signed.data + b"\n" * (DEFAULT_MAX_BYTES - len(signed.data) - 1024)
    return requests(url, [(sign_bytes(data, secret), secret.public_key().to_base64())])[0]


async def attack(url: str, slow: int, addresses: int, seconds: float) -> dict[str, int]:
    host, port = url.removeprefix("http://").split(":")
    padded = padded_request(url)
    counts = {"slow_connections": 0, "slow_closed_by_collector": 0, "slow_refused_at_connect": 0}
    stop = time.monotonic() + seconds

    async def slowloris(number: int) -> None:
        source = f"127.1.0.{number % addresses + 1}"
        while time.monotonic() < stop:
            try:
                reader, writer = await asyncio.open_connection(host, int(port), local_addr=(source, 0))
            except OSError:
                counts["slow_refused_at_connect"] += 1
                await asyncio.sleep(1)
                continue
            counts["slow_connections"] += 1
            try:
                writer.write(b"PUT /v1/results/" + b"0" * 64 + b" HTTP/1.1\r\n")
                while time.monotonic() < stop:
                    writer.write(b"X: y\r\n")  # a few bytes a second, never the blank line
                    await writer.drain()
                    with contextlib.suppress(TimeoutError):
                        if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                            raise ConnectionResetError
            except (ConnectionError, OSError):
                counts["slow_closed_by_collector"] += 1
            finally:
                writer.close()

    async def padder() -> None:
        while time.monotonic() < stop:
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(padded)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                status = head[9:12].decode()
                counts[f"padded_{status}"] = counts.get(f"padded_{status}", 0) + 1
                writer.close()
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                counts["padded_failed"] = counts.get("padded_failed", 0) + 1

    await asyncio.gather(*(slowloris(n) for n in range(slow)), padder(), padder())
    return counts


def honest(url: str, uploads: int, clients: int) -> tuple[list[float], int]:
    keys = [SecretKey.generate() for _ in range(clients)]
    files = [(make_file(keys[n % clients]), keys[n % clients].public_key().to_base64()) for n in range(uploads)]
    _, latencies, failures = run_clients(url, requests(url, files), clients)
    return latencies, failures


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the collector (one worker: the process itself)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=1000)
    parser.add_argument("--addresses", type=int, default=100)
    parser.add_argument("--uploads", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--attacker", metavar="URL", help=argparse.SUPPRESS)  # the attacking child process
    options = parser.parse_args()
    if options.attacker:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        print(json.dumps(asyncio.run(attack(options.attacker, options.slow, options.addresses, options.seconds))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as work:
        collector = Collector(str(Path(work) / "store"), Path(work), args=["--rate", "0"])
        collector.start()
        try:
            assert collector.popen is not None
            quiet, quiet_failed = honest(collector.url, options.uploads, options.clients)
            argv = [sys.executable, "-m", "bench.hostile", "--attacker", collector.url, "--slow", str(options.slow),
                    "--addresses", str(options.addresses), "--seconds", str(options.seconds)]  # fmt: skip
            attacker = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env={**os.environ})
            time.sleep(min(5.0, options.seconds / 3))  # the slow connections open, the padded uploads begin
            attacked, attacked_failed = honest(collector.url, options.uploads, options.clients)
            during = attacker.poll() is None
            out, _ = attacker.communicate(timeout=options.seconds + 60)
            rss = peak_rss_mb(collector.popen.pid)
        finally:
            collector.stop()
    q50, q99 = percentile(quiet, 0.5) * 1000, percentile(quiet, 0.99) * 1000
    a50, a99 = percentile(attacked, 0.5) * 1000, percentile(attacked, 0.99) * 1000
    print(f"honest uploads, quiet:        p50 {q50:.1f} ms, p99 {q99:.1f} ms, {quiet_failed} not 201")
    print(f"honest uploads, under attack: p50 {a50:.1f} ms, p99 {a99:.1f} ms, {attacked_failed} not 201"
          f"{'' if during else ' (the attack ended before they did: raise --seconds)'}")  # fmt: skip
    print(f"p99 under attack / quiet: {a99 / q99:.2f}x (goal < 5x)")
    print(
        f"attack ({options.slow} slow connections over {options.addresses} addresses, 2 padded uploaders):",
        out.strip(),
    )
    print(f"collector peak RSS: {rss:.0f} MB")


if __name__ == "__main__":
    main()
