"""Volunteer operations on real runs: `probe run` as the real program inside an empty network namespace (nothing
but a down loopback, so it can only write an offline result file, and never touches the host's network).

Consent (missing, declined, given at a terminal, given with --accept-risks), the run lock, the progress bar only on
a terminal, the run history and `probe status`, retention after a run, GeoIP from a real MaxMind-format file, the
privacy scan of the result file, and the command a crontab entry runs, installed with the real `crontab` into a
private mount namespace.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probe.local import schedule
from tests import netns as empty
from tests import privacy

PROBE = str(Path(sys.executable).with_name("probe"))
USER_MARKER = "volunteer-user-q7"  # USER, LOGNAME and HOME point at names that cannot occur by chance
HOST_MARKER = "volunteer-laptop-q7"  # the host name the probe sees (its own UTS namespace)


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    empty.need(shutil.which("unshare") is not None, "util-linux (unshare) is missing")
    with empty.empty_netns("pv") as name:
        yield name


class Volunteer:
    """A volunteer's machine as far as the probe sees it: a home, a working folder, an environment."""

    def __init__(self, root: Path, netns: str) -> None:
        self.root = root
        self.netns = netns
        self.home = root / "probe-home"
        self.cwd = root / "work-folder"
        self.cwd.mkdir(parents=True)
        self.fake_home = root / USER_MARKER
        self.fake_home.mkdir()
        self.results = root / "results"

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        return {
            **keep,
            "PROBE_HOME": str(self.home),
            "HOME": str(self.fake_home),
            "USER": USER_MARKER,
            "LOGNAME": USER_MARKER,
        }

    def argv(self, *args: str | Path, isolated: bool = True) -> list[str]:
        """The probe's command line; `isolated`: in the empty namespace, under its own host name."""
        line = [PROBE, *map(str, args)]
        if not isolated:
            return line
        rename = f"hostname {HOST_MARKER} && exec " + " ".join(f"'{a}'" for a in line)
        return ["ip", "netns", "exec", self.netns, "unshare", "--uts", "sh", "-c", rename]

    def probe(self, *args: str | Path, isolated: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args, isolated=isolated),
            env=self.env(),
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def converse(
        self, args: list[str | Path], answers: list[tuple[str, str]], isolated: bool = True
    ) -> tuple[int, str]:
        """Run the probe on a terminal (a pty for stdin, stdout and stderr) and answer its questions."""
        master, slave = pty.openpty()
        process = subprocess.Popen(
            self.argv(*args, isolated=isolated),
            env={**self.env(), "COLUMNS": "120"},
            cwd=self.cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            preexec_fn=_interruptible,
        )
        os.close(slave)
        output = b""
        pending = list(answers)
        interrupted, heard = 0.0, 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the other side closed
                    break
                if not chunk:
                    break
                output += chunk
            if pending and pending[0][0].encode() in output.split(b"\n")[-1]:
                answer = pending.pop(0)[1]
                if answer == CTRL_C:  # what the terminal does on Ctrl-C: SIGINT to the process
                    interrupted, heard = time.monotonic(), len(output)
                    process.send_signal(signal.SIGINT)
                else:
                    os.write(master, answer.encode() + b"\n")
            if process.poll() is not None and not ready:
                break
            if interrupted and process.poll() is None and time.monotonic() - interrupted > 1 and len(output) == heard:
                # A signal that lands between Python's check for signals and its blocking read of the terminal
                # waits for the next one: press Ctrl-C again, as a person would when nothing happens. Not once the
                # probe has answered: on a loaded machine it may still be exiting, and a second signal then would
                # interrupt its exit (status 120) rather than the question.
                interrupted = time.monotonic()
                process.send_signal(signal.SIGINT)
        os.close(master)
        return process.wait(timeout=10), output.decode(errors="replace")

    def status(self) -> dict[str, Any]:
        done = self.probe("status", "--json", isolated=False)
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def result_files(self) -> list[Path]:
        return sorted(self.results.glob("*/*.jsonl")) if self.results.exists() else []


def _interruptible() -> None:
    """Ctrl-C reaches the probe as it reaches a person's: a suite started in the background (`cmd &` in a script)
    ignores SIGINT, every process it starts inherits that, and Python then installs no handler of its own."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def volunteer(tmp_path: Path, netns: str) -> Volunteer:
    return Volunteer(tmp_path, netns)


AGREE = "want this machine to run probe?"
CTRL_C = "\x03"
UPLOAD = "Upload result files to"


def test_without_consent_a_non_interactive_run_measures_nothing(volunteer: Volunteer) -> None:
    done = volunteer.probe("run", "--results-dir", volunteer.results, "--timeout", "1")
    assert done.returncode == 2
    assert "no recorded consent, so nothing was measured" in done.stderr
    assert "probe init" in done.stderr
    assert "Traceback" not in done.stderr
    assert volunteer.result_files() == []
    assert not (volunteer.home / "state" / "runs.json").exists()
    assert not (volunteer.home / "config" / "probe.key").exists()  # not even a key is made


def test_init_without_a_terminal_prints_the_text_and_records_nothing(volunteer: Volunteer) -> None:
    done = volunteer.probe("init", isolated=False)
    assert done.returncode == 2
    assert "WHAT LEAVES THIS MACHINE" in done.stdout and "THE RISKS" in done.stdout
    assert "--accept-risks" in done.stderr
    assert volunteer.status()["consent"] == {"given": False, "version": 0, "current_version": 1, "when": None}


def test_init_on_a_terminal_asks_and_records(volunteer: Volunteer) -> None:
    code, out = volunteer.converse(["init"], [(AGREE, "n")], isolated=False)
    assert code == 2 and "consent declined" in out
    assert volunteer.status()["consent"]["given"] is False
    code, out = volunteer.converse(["init"], [(AGREE, "y"), (UPLOAD, "n")], isolated=False)
    assert code == 0, out
    assert "WHAT PROBE DOES" in out and "results stay on this machine" in out
    report = volunteer.status()
    assert report["consent"]["given"] is True
    assert report["upload"]["enabled"] is False


@pytest.mark.parametrize("command", ["init", "run"])
def test_ctrl_c_at_the_consent_question_is_no_consent(volunteer: Volunteer, command: str) -> None:
    argv: list[str | Path] = ["init"] if command == "init" else ["run", "--results-dir", volunteer.results]
    code, out = volunteer.converse(argv, [(AGREE, CTRL_C)], isolated=False)
    assert code == 2, out
    assert "no consent given" in out and "Traceback" not in out
    assert volunteer.status()["consent"]["given"] is False
    assert volunteer.result_files() == []


def test_run_on_a_terminal_asks_for_consent_then_measures_with_a_progress_bar(volunteer: Volunteer) -> None:
    code, out = volunteer.converse(["run", "--results-dir", volunteer.results, "--timeout", "1"], [(AGREE, "n")])
    assert code == 2 and "consent declined: nothing was measured" in out
    assert volunteer.result_files() == []
    code, out = volunteer.converse(
        ["run", "--results-dir", volunteer.results, "--timeout", "1"], [(AGREE, "y"), (UPLOAD, "n")]
    )
    assert code == 3, out  # offline: nothing could be measured, and it says so
    assert "Consent recorded" in out
    assert re.search(r"measuring \d+ endpoints  \[[#-]+\]  \d+/\d+ steps", out)  # the progress bar, on the terminal
    assert len(volunteer.result_files()) == 1


def test_off_a_terminal_only_errors_reach_stderr(volunteer: Volunteer) -> None:
    assert volunteer.probe("init", "--accept-risks", isolated=False).returncode == 0
    done = volunteer.probe("run", "--results-dir", volunteer.results, "--timeout", "1")
    assert done.returncode == 3
    assert done.stdout == ""  # offline: no table of inconclusive endpoints,
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("probe: no network"), done.stderr  # one line
    assert "measuring" not in done.stderr


def test_a_deleted_secret_key_makes_a_new_identity_said_loudly(volunteer: Volunteer) -> None:
    assert volunteer.probe("init", "--accept-risks", isolated=False).returncode == 0
    assert volunteer.probe("run", "--results-dir", volunteer.results, "--timeout", "1").returncode == 3
    before = volunteer.status()["key"]
    assert before["replaced"] is None
    (volunteer.home / "config" / "probe.key").unlink()
    done = volunteer.probe("run", "--results-dir", volunteer.results, "--timeout", "1")
    assert done.returncode == 3
    assert "was missing, so a new key pair was made: this probe is now a NEW identity" in done.stderr
    after = volunteer.status()["key"]
    assert after["key_id"] != before["key_id"]
    assert after["replaced"]["previous_key_id"] == before["key_id"]
    text = volunteer.probe("status", isolated=False)
    assert "a NEW identity since" in text.stdout
    quiet = volunteer.probe("run", "--results-dir", volunteer.results, "--timeout", "1")
    assert "NEW identity" not in quiet.stderr  # said when it happens; status keeps saying it


def test_runs_never_overlap(volunteer: Volunteer) -> None:
    from probe.local import locks

    assert volunteer.probe("init", "--accept-risks", isolated=False).returncode == 0
    lock = volunteer.home / "state" / "run.lock"
    with locks.exclusive(lock):
        done = volunteer.probe("run", "--results-dir", volunteer.results, "--timeout", "1")
    assert done.returncode == 3
    assert f"another probe run is in progress (pid {os.getpid()}" in done.stderr
    assert volunteer.result_files() == []
    again = volunteer.probe("run", "--results-dir", volunteer.results, "--timeout", "1")
    assert again.returncode == 3 and len(volunteer.result_files()) == 1  # released: the next run goes ahead


def test_a_bad_configuration_measures_nothing(volunteer: Volunteer) -> None:
    assert volunteer.probe("init", "--accept-risks", isolated=False).returncode == 0
    config_file = volunteer.home / "config" / "config.toml"
    config_file.write_text(config_file.read_text().replace("# days = 90", "days = 'forever'"))
    done = volunteer.probe("run", "--results-dir", volunteer.results)
    assert done.returncode == 2
    assert str(config_file) in done.stderr and "[retention] days: Input should be a valid integer" in done.stderr
    assert "Traceback" not in done.stderr
    assert volunteer.result_files() == []


def _old_result(folder: Path, name: str, size: int, age_days: float) -> Path:
    path = folder / "2026-01-01" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"{}\n" * (size // 3))
    signature = path.with_name(path.name + ".minisig")
    signature.write_text("sig")
    when = time.time() - age_days * 86400
    for f in (path, signature):
        os.utime(f, (when, when))
    return path


def test_retention_history_and_status_after_real_runs(volunteer: Volunteer) -> None:
    assert volunteer.probe("init", "--accept-risks", isolated=False).returncode == 0
    config_file = volunteer.home / "config" / "config.toml"
    config_file.write_text(
        config_file.read_text().replace("# days = 90", "days = 30").replace("# megabytes = 200", "megabytes = 1")
    )
    ancient = _old_result(volunteer.results, "ancient", 1000, 45)
    big = [_old_result(volunteer.results, f"big{i}", 400_000, 10 - i) for i in range(3)]
    readme = volunteer.results / "README.md"
    readme.write_text("the volunteer's own notes\n")

    done = volunteer.probe("run", "--json", "--results-dir", volunteer.results, "--timeout", "1")
    assert done.returncode == 3, done.stderr
    summary = json.loads(done.stdout)
    written = Path(summary["result_file"])
    assert written.exists() and Path(summary["signature_file"]).exists()
    assert not ancient.exists()  # older than 30 days
    assert not big[0].exists() and big[1].exists() and big[2].exists()  # the oldest went until under 1 MB
    assert readme.exists()

    report = volunteer.status()
    (last,) = report["runs"]
    assert last["vantage"] == "offline"
    assert last["result_file"] == str(written)
    assert last["pruned"] == 2
    assert set(last["services"]) == {s["service"] for s in summary["services"]}
    assert report["results"]["files"] == 3
    assert report["consent"]["given"] is True
    key = report["key"]
    shown = volunteer.probe("key", "show", isolated=False)
    assert key and key["probe_id"] in shown.stdout
    assert report["spool"]["ready"] == 0 and report["spool"]["oldest"] is None  # uploads are off

    text = volunteer.probe("status", isolated=False)
    assert text.returncode == 0
    assert "consent:   given (version 1" in text.stdout
    assert "last runs:" in text.stdout and "offline" in text.stdout
    folder_lines = [line.split(", ", 1)[0].strip() + " in " + line.rsplit(" in ", 1)[1] for line in
                    text.stdout.splitlines() if line.startswith("           ")]  # fmt: skip
    assert f"3 files in {volunteer.results}" in folder_lines, text.stdout  # every folder a run wrote to, each


def test_result_files_name_nothing_of_the_machine(volunteer: Volunteer, tmp_path: Path) -> None:
    """A real run with GeoIP (the volunteer gives an address to look up): the file carries the country and ASN,
    and none of the machine's addresses (host interfaces, resolvers, the address given for GeoIP), MACs, host
    name, user name, home, working folder, install path or machine id."""
    import mmdb_writer
    import netaddr

    db = tmp_path / "GeoLite2-ASN.mmdb"
    writer = mmdb_writer.MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    writer.insert_network(netaddr.IPSet(["203.0.113.0/24"]), {"autonomous_system_number": 64511})
    writer.to_db_file(str(db))
    assert volunteer.probe("init", "--accept-risks", isolated=False).returncode == 0
    config_file = volunteer.home / "config" / "config.toml"
    config_file.write_text(
        config_file.read_text()
        .replace('# probe_cc = ""', 'probe_cc = "KR"')
        .replace("# geoip_db = []", f'geoip_db = ["{db}"]')
        .replace('# geoip_address = ""', 'geoip_address = "203.0.113.77"')
    )
    done = volunteer.probe("run", "--json", "--results-dir", volunteer.results, "--timeout", "1")
    assert done.returncode == 3, done.stderr
    summary = json.loads(done.stdout)
    assert summary["vantage"]["probe_cc"] == "KR" and summary["vantage"]["probe_asn"] == "AS64511"
    data = Path(summary["result_file"]).read_bytes()
    first = json.loads(data.splitlines()[0])
    assert (first["probe_cc"], first["probe_asn"], first["probe_ip"]) == ("KR", "AS64511", "127.0.0.1")

    identity = privacy.machine(
        ["203.0.113.77"],
        [HOST_MARKER, USER_MARKER, volunteer.root, volunteer.home, volunteer.cwd, volunteer.results, db],
        netns=volunteer.netns,
    )
    assert any(str(a) == "203.0.113.77" for a in identity.addresses)
    assert privacy.leaks(data, identity) == []
    # the scan itself finds what it is looking for
    assert privacy.leaks(data.replace(b'"KR"', f'"{HOST_MARKER}"'.encode()), identity)
    assert privacy.leaks(data + b'{"x": "via 203.0.113.77:53"}\n', identity)


def test_the_crontab_entry_is_accepted_by_cron_and_its_command_runs(volunteer: Volunteer) -> None:
    """The real `crontab` installs the entry (into a private mount namespace over its spool, so the machine's own
    crontabs are untouched) and lists it back; the command of the entry, run by sh as cron would, measures (in the
    empty namespace), writes the history, and leaves only errors in the log."""
    empty.need(shutil.which("crontab") is not None, "cron is not installed (scripts/test installs it as root)")
    assert volunteer.probe("init", "--accept-risks", isolated=False).returncode == 0
    spool = "/var/spool/cron/crontabs"
    empty.need(Path(spool).is_dir(), f"{spool} does not exist")
    script = (
        f"mount -t tmpfs -o mode=1730 tmpfs {spool} && chgrp crontab {spool} && "
        f"'{PROBE}' schedule install --every 6h --delay 0 --cron && crontab -l"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=volunteer.env(),
        cwd=volunteer.cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    block = schedule.find_block(done.stdout)
    assert block is not None, done.stdout
    line = next(ln for ln in block.splitlines() if not ln.startswith("#"))
    command = line.split(None, 5)[5]
    assert "sleep" not in command  # --delay 0
    log = volunteer.home / "state" / "probe.log"
    ran = subprocess.run(
        ["ip", "netns", "exec", volunteer.netns, "sh", "-c", command],
        env={"PATH": "/usr/bin:/bin", "HOME": str(volunteer.fake_home)},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 3, ran.stderr  # offline, said so in the log
    assert ran.stdout == "" and ran.stderr == ""
    assert "no network" in log.read_text()
    assert all(ln.startswith("probe: ") for ln in log.read_text().splitlines())
    files = sorted((volunteer.home / "data" / "results").glob("*/*.jsonl"))
    assert len(files) == 1  # the default folder, in the data folder: cron started in /, the file went there
    report = volunteer.status()
    assert report["runs"][0]["result_file"] == str(files[0])
    text = volunteer.probe("status", isolated=False).stdout  # one folder: named on the line itself
    assert "results:   1 file, " in text and f" in {files[0].parent.parent} (kept 90 days" in text, text


def test_schedule_loop_runs_at_once_with_no_delay_and_stops_on_sigterm(volunteer: Volunteer) -> None:
    """The foreground scheduler of containers: a run right away (--delay 0), each in its own process; SIGTERM
    (what `docker stop` sends to PID 1) ends it cleanly."""

    assert volunteer.probe("init", "--accept-risks", isolated=False).returncode == 0
    argv = volunteer.argv("schedule", "loop", "--every", "10m", "--delay", "0")
    env = {**volunteer.env(), "PROBE_RESULTS_DIR": str(volunteer.results)}  # as the Docker image sets it
    process = subprocess.Popen(
        argv,
        env=env,
        cwd=volunteer.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (volunteer.home / "state" / "runs.json").exists():
            time.sleep(0.2)
        assert (volunteer.home / "state" / "runs.json").exists(), "no run within a minute"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out == ""
    assert "a run every 10m" in err
    assert len(volunteer.result_files()) == 1
    assert len(volunteer.status()["runs"]) == 1
