"""A volunteer's machine in the states that broke runs (issue 21), with the real probe in an empty network
namespace (offline runs: quick, and nothing leaves): a results folder that cannot be written, a full or foreign
state folder, a result signed and never queued, leftovers of killed runs, a linked config folder and an open
config.toml, private DoH URLs. No traceback anywhere; nothing measured or queued is lost.

Permissions are tested as root without capabilities (`setpriv --bounding-set=-all`): the suite runs as root,
which otherwise ignores modes; full disks are small tmpfs mounts in a private mount namespace (`unshare -m`)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import netns as namespaces
from tests.dataset.servers import free_port
from tests.dataset.test_run_upload import _start_collector

PROBE = [sys.executable, "-m", "probe"]
WITHOUT_CAPABILITIES = ("setpriv", "--bounding-set=-all", "--inh-caps=-all")


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    with namespaces.empty_netns("vh") as name:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name


@pytest.fixture
def home(tmp_path: Path, netns: str) -> Path:
    """A probe home with consent given, uploads off."""
    home = tmp_path / "home"
    done = probe(netns, home, "init", "--accept-risks", "--no-upload")
    assert done.returncode == 0, done.stderr
    return home


def probe(
    netns: str, home: Path, *args: str | Path, before: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PROBE_", "XDG_"))}
    argv = ["ip", "netns", "exec", netns, *before, *PROBE, *map(str, args)]
    return subprocess.run(
        argv, env={**clean, "PROBE_HOME": str(home), **(env or {})}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def run(netns: str, home: Path, *args: str | Path, before: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    done = probe(netns, home, "run", "--timeout", "1", "--service", "line", "--no-capture", *args, before=before)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def result_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.jsonl"))


def test_a_results_folder_that_is_a_file_is_found_before_measuring(netns: str, home: Path, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "results"
    not_a_folder.write_text("a file where the folder should be")
    done = run(netns, home, "--results-dir", not_a_folder)
    assert done.returncode == 3, done.stderr  # offline, and said so: the run itself went on
    assert f"the results folder {not_a_folder} cannot be written (it is a file, not a folder)" in done.stderr
    [written] = result_files(home / "state" / "results")
    assert written.with_name(written.name + ".minisig").is_file()
    # The fallback is remembered among the folders written to (issue 20): probe status counts its file.
    status = json.loads(probe(netns, home, "status", "--json").stdout)["results"]
    assert status["files"] == 1 and str(home / "state" / "results") in [f["folder"] for f in status["folders"]]


def test_a_read_only_results_folder_sends_the_result_to_the_state_folder(
    netns: str, home: Path, tmp_path: Path
) -> None:
    read_only = tmp_path / "results"
    read_only.mkdir(mode=0o555)
    done = run(netns, home, "--results-dir", read_only, before=WITHOUT_CAPABILITIES)
    assert done.returncode == 3 and "cannot be written (Permission denied)" in done.stderr, done.stderr
    assert result_files(home / "state" / "results") and not result_files(read_only)


def test_a_full_results_folder_is_found_before_measuring(netns: str, home: Path, tmp_path: Path) -> None:
    full = tmp_path / "results"
    full.mkdir()
    fill = f'mount -t tmpfs -o size=32k tmpfs {full} && head -c 1M /dev/zero > {full}/filler 2>/dev/null; exec "$@"'
    done = run(netns, home, "--results-dir", full, before=("unshare", "-m", "sh", "-c", fill, "sh"))
    assert done.returncode == 3 and "cannot be written (No space left on device)" in done.stderr, done.stderr
    assert result_files(home / "state" / "results")


def test_a_disk_that_fills_during_the_run_sends_the_result_to_the_state_folder(
    netns: str, home: Path, tmp_path: Path
) -> None:
    """The results folder has room for the check before measuring (64 kB) but not for the result of a run of every
    bundled target (some 160 kB offline): the signature, written first, is taken back, and the pair goes to the
    state folder (before issue 21: a traceback, the run lost, a lone .minisig left behind)."""
    small = tmp_path / "results"
    small.mkdir()
    fill = f'mount -t tmpfs -o size=128k tmpfs {small} && "$@"; code=$?; echo LEFT:; find {small} -type f; exit $code'
    done = probe(netns, home, "run", "--timeout", "1", "--no-capture", "--results-dir", small,
                 before=("unshare", "-m", "sh", "-c", fill, "sh"))  # fmt: skip
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    assert f"{small} could not take the result file; it went to {home / 'state' / 'results'}" in done.stderr
    assert done.stdout.split("LEFT:\n", 1)[1] == "", "a file was left in the full folder"
    [written] = result_files(home / "state" / "results")
    assert written.stat().st_size > 128 * 1024, "the result fits the small folder: the test tests nothing"
    assert written.with_name(written.name + ".minisig").is_file()


def test_results_and_state_both_unwritable_measure_nothing(netns: str, home: Path, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "results"
    not_a_folder.write_text("")
    (home / "state").mkdir(exist_ok=True)
    (home / "state" / "results").write_text("")
    done = run(netns, home, "--results-dir", not_a_folder)
    assert done.returncode == 2 and "nothing was measured" in done.stderr, done.stderr


def test_a_state_folder_of_another_user_is_a_message(netns: str, home: Path) -> None:
    state = home / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    (state / "spool" / "ready").mkdir(parents=True)
    for path in (state, state / "spool", state / "spool" / "ready"):
        os.chown(path, 65534, 65534)
        path.chmod(0o700)
    done = run(netns, home, before=WITHOUT_CAPABILITIES)
    assert done.returncode == 2 and "cannot take the run lock" in done.stderr, done.stderr
    status = probe(netns, home, "status", before=WITHOUT_CAPABILITIES)
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    assert "problem:   upload spool: cannot be read (Permission denied" in status.stdout


def test_a_full_state_folder_is_a_message_and_the_run_goes_on(netns: str, home: Path, tmp_path: Path) -> None:
    state = home / "state"
    state.mkdir(exist_ok=True)
    fill = f'mount -t tmpfs -o size=16k tmpfs {state} && head -c 1M /dev/zero > {state}/filler 2>/dev/null; exec "$@"'
    results = tmp_path / "results"
    done = run(netns, home, "--results-dir", results, before=("unshare", "-m", "sh", "-c", fill, "sh"))
    assert done.returncode == 3, done.stderr
    assert "cannot write the run history" in done.stderr
    assert result_files(results)


def test_a_result_that_could_not_be_queued_is_queued_by_the_next_upload(netns: str, home: Path, tmp_path: Path) -> None:
    """Issue 21: a run killed between signing and queueing left its result unqueued for good. Here the spool
    cannot take the file (its tmp/ is a file) at the end of the run: the file is marked, and the next `probe
    upload` queues it once and delivers it."""
    (home / "state" / "spool").mkdir(parents=True)
    (home / "state" / "spool" / "tmp").write_text("in the way")
    done = run(netns, home, "--results-dir", tmp_path / "results", "--upload")
    assert "cannot queue" in done.stderr and "the next run or upload tries again" in done.stderr, done.stderr
    [marker] = (home / "state" / "pending").glob("*.json")
    (home / "state" / "spool" / "tmp").unlink()
    port = free_port()
    collector = _start_collector(netns, tmp_path / "store", port, tmp_path / "collector.log", dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        upload = probe(netns, home, "upload", "--to", url, "--json")
        assert upload.returncode == 0, upload.stderr
        assert json.loads(upload.stdout)["delivered"] == 1
        assert "queued 1 result file(s) an interrupted run had left unqueued" in upload.stderr
        assert not marker.exists()
        again = probe(netns, home, "upload", "--to", url, "--json")
        assert json.loads(again.stdout)["delivered"] == 0  # once
    finally:
        collector.stop()


def test_leftovers_of_killed_runs_are_swept_and_fresh_ones_kept(netns: str, home: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    day = results / "2026-01-01"
    day.mkdir(parents=True)
    old = time.time() - 2 * 3600
    stale = [day / ".20260101T000000Z-a.jsonl.x1y2.tmp", day / "20260101T000000Z-b.jsonl.minisig",
             home / "state" / ".runs.json.x1y2.tmp"]  # fmt: skip
    fresh = [day / ".20260101T000000Z-c.jsonl.x1y2.tmp", day / "20260101T000000Z-d.jsonl.minisig"]
    kept = [day / "20260101T000000Z-e.jsonl.minisig", day / "20260101T000000Z-e.jsonl", day / "README.tmp"]
    for path in stale + fresh + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    for path in stale + kept:
        os.utime(path, (old, old))
    run(netns, home, "--results-dir", results)
    assert [p for p in stale if p.exists()] == []
    assert all(p.exists() for p in fresh + kept)


def test_a_linked_config_folder_keeps_its_mode_and_an_open_config_file_is_closed(netns: str, tmp_path: Path) -> None:
    elsewhere = tmp_path / "synced"
    elsewhere.mkdir(mode=0o755)
    elsewhere.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config").symlink_to(elsewhere)
    done = probe(netns, home, "init", "--accept-risks", "--no-upload")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755  # not changed behind the volunteer's back
    assert f"{home / 'config'} is a link to {elsewhere}, which others can read (mode 0755)" in done.stderr
    config = elsewhere / "config.toml"
    config.chmod(0o644)
    shown = probe(netns, home, "config", "show")
    assert f"{config} could be read by others (mode 0644); it is now 0600" in shown.stderr.replace(
        str(home / "config"), str(elsewhere)
    )
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_private_doh_urls_and_credentials_never_reach_the_result_file(netns: str, home: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    secret_doh = ["https://volunteer:s3cr3t@10.1.2.3/dns-query", "https://[fd00::1]:8443/dns-query?token=t0k3n",
                  "https://router.lan/dns-query"]  # fmt: skip
    run(netns, home, "--results-dir", results, *(arg for url in secret_doh for arg in ("--doh", url)))
    [written] = result_files(results)
    text = written.read_text()
    for leak in ("10.1.2.3", "fd00::1", "s3cr3t", "volunteer", "t0k3n", "router.lan"):
        assert leak not in text, leak
    assert "https://[private]/dns-query" in text
