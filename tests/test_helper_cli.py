"""`probe helper key` and `probe helper serve` at their edges: the key is made once and printed for probes to
configure; bad options exit 2 naming the problem before anything starts (nothing is measured, no port is bound)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app


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
