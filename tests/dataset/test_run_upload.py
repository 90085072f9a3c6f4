"""End to end with a real `probe run`: inside an empty network namespace (loopback only, nothing else reachable:
the run is offline and says so), with uploads on and the collector running in the same namespace.

- The collector is down when the run ends: the signed result is sealed into the spool, nothing is lost, and the
  backoff is written; `probe upload` delivers it once the collector is up.
- Spool drops counted before the run are reported in the new result file's annotations, then cleared.
- A run with the collector up delivers its file by itself (the drain after measuring).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe import jsonlines, signing
from probe.collector import layout
from probe.collector.store import FileStore
from probe.local import keys
from probe.local.spool import Dropped, Spool
from tests import netns as empty
from tests.dataset.servers import Process, free_port

PROBE = [sys.executable, "-m", "probe"]


@pytest.fixture
def netns() -> Iterator[str]:
    """An empty namespace with its loopback up: the probe reaches the collector there, and nothing else."""
    with empty.empty_netns("du") as name:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name


def _env(home: Path, collector_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBE_", "XDG_"))}
    return {**env, "PROBE_HOME": str(home), "PROBE_UPLOAD": "1", "PROBE_COLLECTOR_URL": collector_url}


def _in(netns: str, env: dict[str, str], *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    line = ["ip", "netns", "exec", netns, *PROBE, *map(str, args)]
    return subprocess.run(line, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _run(netns: str, env: dict[str, str], results: Path) -> subprocess.CompletedProcess[str]:
    # No route leaves the namespace: the resolver and DoH named here are unreachable documentation addresses.
    return _in(
        netns,
        env,
        "run",
        "--results-dir",
        results,
        "--timeout",
        "1",
        "--resolver",
        "203.0.113.53",
        "--doh",
        "https://203.0.113.54/dns-query",
        "--no-capture",
        "--service",
        "line",
    )


def _start_collector(netns: str, store: Path, port: int, log: Path, env: dict[str, str]) -> Process:
    argv = ["ip", "netns", "exec", netns, *PROBE, "collector", "serve", "--store", str(store), "--port", str(port)]
    process = Process(argv, log, env)
    process.start()
    wait = f"""
import httpx, time
for _ in range(300):
    try:
        httpx.get("http://127.0.0.1:{port}/health").raise_for_status()
        break
    except httpx.HTTPError:
        time.sleep(0.1)
else:
    raise SystemExit(1)
"""
    ready = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", wait], timeout=60, check=False)
    assert ready.returncode == 0, process.log_text()
    return process


@pytest.mark.lab
def test_probe_run_queues_when_the_collector_is_down_and_delivers_later(netns: str, tmp_path: Path) -> None:
    home, results, store = tmp_path / "home", tmp_path / "results", tmp_path / "store"
    port = free_port()
    env = _env(home, f"http://127.0.0.1:{port}")
    consent = _in(netns, env, "init", "--accept-risks", "--upload")
    assert consent.returncode == 0, consent.stderr
    # Earlier drops the cap made, not yet reported.
    spool = Spool(home / "state" / "spool")
    spool.root.mkdir(parents=True, exist_ok=True)
    (spool.root / "dropped.json").write_text(
        json.dumps({"files": 2, "measurements": 40, "bytes": 9000, "dead_files": 0, "since": "2026-11-01T00:00:00Z"})
    )

    first = _run(netns, env, results)
    assert first.returncode == 3, first.stderr  # offline: said so, and the result file is written
    assert "Traceback" not in first.stderr
    [queued] = spool.ready()
    [written] = sorted(results.rglob("*.jsonl"))
    assert queued.data_path.read_bytes() == written.read_bytes()
    assert queued.signature_path.read_bytes() == Path(str(written) + ".minisig").read_bytes()
    lines = list(jsonlines.decode_lines(written.read_bytes()))
    assert all(line["annotations"]["spool_dropped_files"] == "2" for line in lines)
    assert all(line["annotations"]["spool_dropped_measurements"] == "40" for line in lines)
    assert spool.dropped() == Dropped()  # reported once, then cleared
    assert (spool.root / "upload-state.json").exists()  # the failed drain's backoff survives the process

    collector = _start_collector(netns, store, port, tmp_path / "collector.log", env)
    try:
        delivered = _in(netns, env, "upload", "--now", "--json")
        assert delivered.returncode == 0, delivered.stderr
        assert json.loads(delivered.stdout)["delivered"] == 1
        assert spool.ready() == []

        second = _run(netns, env, results)  # collector up: the run delivers its own file
        assert second.returncode == 3, second.stderr
        assert spool.ready() == []
    finally:
        collector.stop()

    public = keys.current_public(home / "config")
    assert public is not None
    raw = FileStore(store)
    bodies = [k for k in raw.keys(layout.RAW_PREFIX) if layout.parse_raw_body(k)]
    assert len(bodies) == 2
    files = sorted(results.rglob("*.jsonl"))
    assert sorted(raw.get(k) or b"" for k in bodies) == sorted(f.read_bytes() for f in files)
    for key in bodies:
        signing.verify_result(raw.get(key) or b"", raw.get(key + ".minisig") or b"", public)
    second_lines = list(jsonlines.decode_lines(max(files).read_bytes()))
    assert "spool_dropped_files" not in second_lines[0]["annotations"]


@pytest.mark.lab
def test_upload_all_sends_the_files_made_while_uploads_were_off(netns: str, tmp_path: Path) -> None:
    home, store, port = tmp_path / "home", tmp_path / "store", free_port()
    env = {**_env(home, f"http://127.0.0.1:{port}"), "PROBE_UPLOAD": "0"}
    assert _in(netns, env, "init", "--accept-risks", "--no-upload").returncode == 0
    elsewhere = tmp_path / "elsewhere"
    for folder in (tmp_path / "results", elsewhere):  # two folders: --all finds both
        assert _run(netns, env, folder).returncode == 3
    (elsewhere / "2026-01-01").mkdir()
    (elsewhere / "2026-01-01" / "unsigned.jsonl").write_bytes(b"{}\n")  # no .minisig beside it: left out
    spool = Spool(home / "state" / "spool")
    assert spool.ready() == []  # uploads were off: nothing queued

    collector = _start_collector(netns, store, port, tmp_path / "collector.log", env)
    try:
        sent = _in(netns, env, "upload", "--all", "--now")
        assert sent.returncode == 0, sent.stderr
        assert "queued 2 result files from " in sent.stdout and "1 without a signature left out" in sent.stdout
        again = _in(netns, env, "upload", "--all", "--now", "--json")  # the collector has them already
        assert again.returncode == 0 and json.loads(again.stdout)["duplicates"] == 2
    finally:
        collector.stop()
    bodies = [k for k in FileStore(store).keys(layout.RAW_PREFIX) if layout.parse_raw_body(k)]
    assert len(bodies) == 2
