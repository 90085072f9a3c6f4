"""`probe targets list` / `probe targets validate`, and `probe run --service` measuring only what it names: exit
codes, messages that name file, line, entry and field, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from probe import targets as tl
from probe.cli import app
from tests import netns as namespaces

BAD = """\
version = "2026-11-28"

[[endpoint]]
service = "kakaotalk"
host = "ticket-loco.kakao.com"
port = 443
protocol = "tls"

[[endpoint]]
service = "line"
host = "legy.line-apps.com"
port = "443"
protocol = "https"
"""

MINE = """\
version = "mine-1"

[[endpoint]]
service = "control"
host = "example.org"
port = 443
protocol = "tls"

[[endpoint]]
service = "line"
host = "legy.line-apps.com"
port = 443
protocol = "tls"
"""


@pytest.fixture(autouse=True)
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings of the machine running the tests (`probe targets list` honours `run.targets`, `run.services`)."""
    monkeypatch.setenv("PROBE_HOME", str(tmp_path / "home"))
    for name in ("PROBE_TARGETS", "PROBE_SERVICES"):
        monkeypatch.delenv(name, raising=False)


def probe(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def bundled_ids(service: str | None = None) -> set[str]:
    return {t.id or "" for t in tl.load() if service is None or t.service == service}


def test_list_shows_every_list_with_its_version_and_every_endpoint() -> None:
    result = probe("targets", "list")
    assert result.exit_code == 0, result.output
    for lst in tl.load_lists():
        assert f"{Path(lst.source).name}  version {lst.version}" in result.stdout
    for endpoint_id in bundled_ids():
        assert f"  {endpoint_id}  " in result.stdout
    assert "tcp://ticket-loco.kakao.com:995" in result.stdout
    assert result.stdout.rstrip().endswith(f"{len(tl.load())} endpoints in {len(tl.BUNDLED)} lists")


def test_list_service_shows_that_service_and_the_controls_only() -> None:
    result = probe("targets", "list", "--service", "line")
    assert result.exit_code == 0, result.output
    shown = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ") and "://" in line}
    assert shown == bundled_ids("line") | bundled_ids("control")


def test_list_shows_what_probe_run_would_measure_by_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_SERVICES", "signal")
    result = probe("targets", "list")
    assert result.exit_code == 0, result.output
    shown = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ") and "://" in line}
    assert shown == bundled_ids("signal") | bundled_ids("control")


def test_list_json_carries_versions_and_every_field() -> None:
    result = probe("targets", "list", "--json", "--service", "telegram", "--service", "sentinel")
    assert result.exit_code == 0, result.output
    lists = json.loads(result.stdout)["lists"]
    assert [Path(lst["file"]).name for lst in lists] == ["controls.toml", "telegram.toml", "sentinels.toml"]
    telegram = lists[1]
    assert telegram["version"] and all(e["list_version"] == telegram["version"] for e in telegram["endpoints"])
    dc1 = telegram["endpoints"][0]
    assert (dc1["id"], dc1["host"], dc1["protocol"], dc1["group"]) == ("telegram.dc1.443", "149.154.175.50", "tcp",
                                                                        "telegram.dc1")  # fmt: skip
    assert dc1["source"].startswith("ooni/probe-cli")


def test_list_unknown_service_is_bad_input() -> None:
    result = probe("targets", "list", "--service", "icq")
    assert result.exit_code == 2
    assert "unknown --service icq; the target list has: control, kakaotalk, line" in result.stderr
    assert "Traceback" not in result.output


def test_list_of_a_user_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(MINE)
    result = probe("targets", "list", "--targets", str(path))
    assert result.exit_code == 0, result.output
    assert "mine.toml  version mine-1  (2 endpoints)" in result.stdout
    assert re.search(r"\n  -  +tls://legy\.line-apps\.com:443", result.stdout)  # no id: shown as "-"
    # What probe run measures with this list: the bundled controls it lacks come with it, unless --no-controls
    # (example.org:443 is the list's own control, so the bundled one is not shown twice).
    assert re.search(r"controls\.toml  version \S+  \(12 endpoints\)", result.stdout)
    assert "control.apple " in result.stdout and "control.example " not in result.stdout
    bare = probe("targets", "list", "--targets", str(path), "--no-controls")
    assert bare.exit_code == 0, bare.output
    assert "controls.toml" not in bare.stdout and "control.apple" not in bare.stdout
    assert bare.stdout.rstrip().endswith("2 endpoints in 1 list")


def test_list_without_controls_leaves_out_the_bundled_controls() -> None:
    result = probe("targets", "list", "--no-controls", "--json")
    assert result.exit_code == 0, result.output
    endpoints = [e for lst in json.loads(result.stdout)["lists"] for e in lst["endpoints"]]
    assert endpoints and not [e for e in endpoints if e["role"] == "control"]


def test_validate_names_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    result = probe("targets", "validate", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    err = result.stderr
    assert err.startswith("probe: invalid target list (3 problems):")
    assert f"{path}:3: endpoint 1 (ticket-loco.kakao.com:443): field 'protocol': ticket-loco.kakao.com speaks" in err
    assert f"{path}:9: endpoint 2 (legy.line-apps.com): field 'port': required, an integer from 1 to 65535" in err
    assert f"{path}:9: endpoint 2 (legy.line-apps.com): field 'protocol': required, one of tls, tcp; got 'https'" in err
    assert "Traceback" not in result.output


def test_validate_a_good_file_and_strict(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(MINE)
    result = probe("targets", "validate", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: valid, version mine-1, 2 endpoints (control, line)\n"
    strict = probe("targets", "validate", "--strict", str(path))
    assert strict.exit_code == 2
    assert f"{path}: field 'version': 'mine-1': a bundled list is versioned by the date" in strict.stderr
    assert f"{path}:3: endpoint 1 (example.org:443): field 'id': required in a bundled list" in strict.stderr


def test_validate_without_a_file_checks_the_bundled_lists_strictly() -> None:
    result = probe("targets", "validate")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == len(tl.BUNDLED)


def test_validate_checks_files_together_and_names_missing_ones(tmp_path: Path) -> None:
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text(MINE)
    two.write_text(MINE.replace("mine-1", "mine-2"))
    result = probe("targets", "validate", str(one), str(two), str(tmp_path / "nope.toml"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope.toml'}: cannot read: No such file or directory" in result.stderr
    assert f"{two}:3: endpoint 1 (example.org:443): duplicate endpoint tls://example.org:443" in result.stderr


def test_run_refuses_a_bad_list_before_measuring(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    result = probe("run", "--targets", str(path), "--results-dir", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "field 'protocol': ticket-loco.kakao.com speaks" in result.stderr
    assert not (tmp_path / "r").exists()


# --- `probe run --service line` in an empty network namespace ------------------------------------------------------


@pytest.fixture
def empty_netns() -> Iterator[str]:
    """A network namespace with nothing in it (not even lo up): whatever `probe run` sends goes nowhere."""
    with namespaces.empty_netns("pt") as name:
        yield name


@pytest.mark.lab
def test_run_service_line_measures_only_line_and_the_controls(empty_netns: str, tmp_path: Path) -> None:
    env = {**os.environ, "PROBE_HOME": str(tmp_path / "home")}
    results = tmp_path / "results"
    inside = ["ip", "netns", "exec", empty_netns, sys.executable, "-m", "probe"]
    consent = subprocess.run([*inside, "init", "--accept-risks", "--no-upload"], env=env, capture_output=True,
                             text=True, timeout=60, check=False)  # fmt: skip
    assert consent.returncode == 0, consent.stderr
    command = [*inside, "run", "--service", "line", "--json", "--no-upload", "--results-dir", str(results),
               "--timeout", "2"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3, done.stderr  # offline: said so, and the result file is still written
    summary = json.loads(done.stdout)
    assert summary["vantage"]["status"] == "offline"
    assert {e["service"] for e in summary["endpoints"]} == {"line", "control"}
    result_file = Path(summary["result_file"])
    assert result_file.is_file() and results in result_file.parents
    lines = [json.loads(line) for line in result_file.read_text().splitlines()]
    keys = [line["test_keys"]["target"] for line in lines]
    assert {k["service"] for k in keys} == {"line", "control"}
    assert sorted(k["id"] for k in keys) == sorted(bundled_ids("line") | bundled_ids("control"))
    versions = {Path(lst.source).name: lst.version for lst in tl.load_lists()}
    for k in keys:
        expected = versions["controls.toml" if k["service"] == "control" else "line.toml"]
        assert k["list_version"] == expected, k
