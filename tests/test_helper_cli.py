"""`probe helper key` and `probe helper serve` at their edges: the key is made once and printed for probes to
configure; bad options exit 2 naming the problem before anything starts (nothing is measured, no port is bound);
serve killed outright leaves no measurer behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from tests import netns as namespaces


def test_the_key_is_made_once_and_printed(tmp_path: Path) -> None:
    first = CliRunner().invoke(app, ["helper", "key", "--state-dir", str(tmp_path), "--json"])
    again = CliRunner().invoke(app, ["helper", "key", "--state-dir", str(tmp_path), "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == json.loads(again.stdout)
    shown = json.loads(first.stdout)
    assert (tmp_path / "key" / "probe.pub").read_text().splitlines()[1] == shown["public_key"]
    assert (tmp_path / "key" / "probe.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "--port 0: must be 1-65535"),
        (["--every", "0"], "--timeout and --every must be positive"),
        (["--rate", "-1"], "--rate must be 0 or more"),
        # Issue 21: checked as probe run's options are (nan and inf passed: a limit off, a round never ending).
        (["--rate", "nan"], "--rate must be 0 or more"),
        (["--rate", "inf"], "--rate must be 0 or more"),
        (["--every", "inf"], "--timeout and --every must be positive"),
        (["--timeout", "nan"], "--timeout nan: Input should be a finite number"),
        (["--timeout", "1e308"], "--timeout 1e+308: Input should be less than or equal to 600"),
        (["--keep-days", "0"], "--keep-days and --keep-mb must be at least 1"),
        (["--probe-cc", "Germany"], "must be a two-letter country code"),
        (["--collector", "ftp://x"], "must be an http:// or https:// URL"),
        (["--doh", "http://1.1.1.1/dns-query"], "a DoH resolver is an https:// URL"),
        (["--service", "icq"], "unknown --service icq"),
        (["--targets", "/nonexistent/list.toml"], "bad target list"),
        (["--resolver", "dns.example"], "--resolver dns.example: "),
        (["--ca-file", "/nonexistent/ca.pem"], "--ca-file /nonexistent/ca.pem: no such file"),
    ],
)
def test_bad_options_exit_2_naming_the_problem(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["helper", "serve", "--state-dir", str(tmp_path / "state"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "state" / "view.json").exists()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_the_measurer_stops_when_serve_is_killed(tmp_path: Path) -> None:
    """A supervisor's SIGKILL leaves no measurer behind, measuring for nobody (in an empty namespace: the
    measurer reaches for the bundled targets)."""
    with namespaces.empty_netns("hk") as ns:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "probe", "helper", "serve", "--host", "127.0.0.1"]
        argv += ["--port", "18181", "--state-dir", str(tmp_path / "state"), "--every", "3600", "--timeout", "1"]
        serve = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        measurer = 0
        try:
            children = Path(f"/proc/{serve.pid}/task/{serve.pid}/children")
            deadline = time.monotonic() + 30
            while not children.read_text().split():
                assert serve.poll() is None and time.monotonic() < deadline, "serve started no measurer"
                time.sleep(0.1)
            (measurer,) = (int(p) for p in children.read_text().split())
            serve.kill()
            serve.wait(10)
            deadline = time.monotonic() + 10
            while _alive(measurer) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _alive(measurer), "the measurer outlived probe helper serve"
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait(10)
            if measurer and _alive(measurer):
                os.kill(measurer, signal.SIGKILL)
