"""A whole `probe run` against a DoH server that sends its answers a byte at a time (issue 21: the run lived on
for minutes, wrote no result and held the run lock), or answers of hundreds of megabytes. Everything runs in an
empty network namespace with its loopback up: the control's and the target's TLS server and the DoH server are
real processes there, and the run is bounded in memory (`ulimit -v`). The run must end within the bound the docs
state, three timeout chains, and write its result file."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.runner import timeout_chain
from tests import netns as empty
from tests.net.hostile import certificates, serve_in, target_list

TIMEOUT = 1.0
LATE_WINDOW = 2.0  # the runner's default (RunConfig.late_window)
MEMORY = 2 * 1024**3  # address space for the run: far above what it needs, far below a 300 MB answer held twice


@pytest.fixture
def netns() -> Iterator[str]:
    with empty.empty_netns("hp") as name:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


@pytest.mark.parametrize(
    ("mode", "failure"), [("trickle", "generic_timeout_error"), ("huge", "response_too_large")], ids=["trickle", "huge"]
)
def test_a_run_against_a_hostile_doh_server_ends_in_time_and_writes_its_file(
    mode: str, failure: str, netns: str, tmp_path: Path
) -> None:
    """`trickle`: a byte every 0.2 s; `huge`: 300 MB as fast as the probe reads (it drove a run to 2.9 GB)."""
    certs = tmp_path / "certs"
    ca = certificates(certs)
    targets = target_list(tmp_path / "targets.toml", [("control", "control.example"), ("line", "line.example")])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBE_", "XDG_"))}
    env["PROBE_HOME"] = str(tmp_path / "home")
    probe = ["ip", "netns", "exec", netns, sys.executable, "-m", "probe"]
    subprocess.run([*probe, "init", "--accept-risks", "--no-upload"], env=env, capture_output=True, check=True)
    servers = [
        serve_in(netns, "tls", 8443, certs, tmp_path / "tls.log"),
        serve_in(netns, mode, 8444, certs, tmp_path / "doh.log"),
    ]
    bound = 3 * timeout_chain(TIMEOUT, LATE_WINDOW)
    results = tmp_path / "results"
    try:
        started = time.monotonic()
        run = subprocess.run(
            [*probe, "run", "--targets", str(targets), "--resolver", "127.0.0.1", "--ca-file", str(ca),
             "--doh", "https://127.0.0.1:8444/dns-query", "--timeout", str(TIMEOUT), "--no-capture",
             "--results-dir", str(results), "--json"],
            env=env, capture_output=True, text=True, timeout=bound + 30, preexec_fn=_limit_memory, check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    finally:
        for server in servers:
            server.stop()
    assert run.returncode in (0, 3), run.stderr
    assert elapsed < bound, f"the run took {elapsed:.1f} s, over three timeout chains ({bound:.0f} s)"
    summary = json.loads(run.stdout)
    assert Path(summary["result_file"]).is_file()
    lines = [json.loads(line) for line in Path(summary["result_file"]).read_text().splitlines()]
    doh = [q for line in lines for q in line["test_keys"]["queries"] if q["engine"] == "doh"]
    # Each DoH query ended with the cut, or at its deadline while the server was busy flooding the others.
    assert doh and all(q["failure"] in (failure, "generic_timeout_error") for q in doh), doh
    assert any(q["failure"] == failure for q in doh), doh
