"""`probe schedule`: intervals and calendars, and install / show / remove against a scratch crontab (a stand-in
`crontab` command that keeps the table in a file) and a scratch systemd unit folder; the units and calendars are
checked by the real `systemd-analyze`."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.local import config, consent, schedule
from tests.netns import need

FAKE_CRONTAB = """#!/bin/sh
# crontab -l / crontab - against a file, as the real one does against the spool
table="$FAKE_CRONTAB_FILE"
case "$1" in
  -l) if [ -f "$table" ]; then cat "$table"; else echo "no crontab for $(id -un)" >&2; exit 1; fi ;;
  -) cat > "$table" ;;
  *) echo "usage" >&2; exit 2 ;;
esac
"""

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
"""


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A probe home with consent, a scratch crontab and a scratch systemd folder."""
    for variable in (*config.ENVIRONMENT.values(), config.CONFIG_VARIABLE, "XDG_CONFIG_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PROBE_HOME", str(tmp_path / "home"))
    crontab = tmp_path / "crontab"
    crontab.write_text(FAKE_CRONTAB)
    crontab.chmod(0o755)
    systemctl = tmp_path / "systemctl"
    systemctl.write_text(FAKE_SYSTEMCTL)
    systemctl.chmod(0o755)
    monkeypatch.setenv("PROBE_CRONTAB", str(crontab))
    monkeypatch.setenv("FAKE_CRONTAB_FILE", str(tmp_path / "table"))
    monkeypatch.setenv("PROBE_SYSTEMD_DIR", str(tmp_path / "units"))
    monkeypatch.setenv("PROBE_SYSTEMCTL", str(systemctl))
    monkeypatch.setenv("FAKE_SYSTEMCTL_LOG", str(tmp_path / "systemctl.log"))
    monkeypatch.chdir(tmp_path)
    consent.record(upload=False)
    return tmp_path


def invoke(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, list(args))
    assert "Traceback" not in done.output
    return done.exit_code, done.output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6h", 21600), ("30m", 1800), ("1d", 86400), ("1h30m", 5400), ("3600", 3600), ("1w", 604800)],
)
def test_durations(text: str, seconds: int) -> None:
    assert schedule.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "six hours", "6x", "h6", "6h-"])
def test_bad_durations_say_what_to_write(text: str) -> None:
    with pytest.raises(schedule.ScheduleError, match="30m, 6h, 1d"):
        schedule.parse_duration(text)


@pytest.mark.parametrize(
    ("every", "fires_per_week"),
    [(600, 1008), (1800, 336), (3600, 168), (6 * 3600, 28), (8 * 3600, 21), (86400, 7), (604800, 1)],
)
def test_calendars_fire_at_the_interval(every: int, fires_per_week: int) -> None:
    calendar = schedule.calendar_for(every, random.Random(every))
    assert calendar is not None
    moment = datetime(2026, 11, 30, 0, 0)  # a Monday
    times = []
    for _ in range(fires_per_week + 1):
        moment = calendar.next_after(moment)
        times.append(moment)
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert gaps == {every}


def test_offsets_are_drawn_at_install_so_probes_spread() -> None:
    drawn = {schedule.calendar_for(6 * 3600, random.Random(seed)) for seed in range(40)}
    assert len(drawn) > 20


def test_intervals_without_a_calendar() -> None:
    assert schedule.calendar_for(90 * 60, random.Random(1)) is None
    assert schedule.calendar_for(5 * 3600, random.Random(1)) is None


@pytest.mark.parametrize("every", [600, 3600, 6 * 3600, 86400, 604800])
def test_calendars_mean_the_same_to_systemd(every: int) -> None:
    """systemd's own parser agrees with our next start."""
    need(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed (./scripts/test installs it)")
    calendar = schedule.calendar_for(every, random.Random(every + 7))
    assert calendar is not None
    done = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=3", calendar.on_calendar()],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": "UTC", "SYSTEMD_COLORS": "0"},
    )
    elapses = [line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if "Next elapse" in line]
    assert elapses, done.stdout
    theirs = datetime.strptime(elapses[0].rsplit(" ", 1)[0], "%a %Y-%m-%d %H:%M:%S")
    ours = calendar.next_after(datetime.now(UTC).replace(tzinfo=None))
    assert abs((theirs - ours).total_seconds()) <= 60  # the minute may turn between the two


def test_cron_install_show_remove_keeps_the_rest_of_the_crontab(scratch: Path) -> None:
    table = scratch / "table"
    table.write_text("MAILTO=me@example.org\n0 3 * * * /usr/local/bin/backup\n")
    code, out = invoke("schedule", "install", "--every", "6h", "--cron")
    assert code == 0, out
    assert "every 6h" in out and str(scratch / "home" / "state" / "probe.log") in out
    text = table.read_text()
    assert text.startswith("MAILTO=me@example.org\n0 3 * * * /usr/local/bin/backup\n")
    block = schedule.find_block(text)
    assert block is not None
    line = next(ln for ln in block.splitlines() if not ln.startswith("#"))
    fields = line.split()
    minute, hours = int(fields[0]), [int(h) for h in fields[1].split(",")]
    assert 0 <= minute < 60 and len(hours) == 4 and {b - a for a, b in itertools.pairwise(hours)} == {6}
    assert fields[2:5] == ["*", "*", "*"]
    assert "sleep $(shuf -i 0-3600 -n 1)" in line  # half of 6h, capped at 1h
    assert f"PROBE_HOME={scratch / 'home'}" in line
    assert line.split(" >/dev/null")[0].endswith(" run")  # the default folder does not depend on where cron starts
    assert line.endswith(f">/dev/null 2>>{scratch / 'home' / 'state' / 'probe.log'}")
    assert "%" not in line.replace("\\%", "")

    code, out = invoke("schedule", "install", "--every", "30m", "--delay", "5m", "--cron")
    assert code == 0, out
    text = table.read_text()
    assert text.count(schedule.BEGIN) == 1  # replaced, not added
    assert "sleep $(shuf -i 0-300 -n 1)" in text

    code, out = invoke("schedule", "show")
    assert code == 0
    assert "cron, every 30m (+ up to 5m random delay), next run 20" in out

    code, out = invoke("schedule", "remove")
    assert code == 0 and "crontab entry" in out
    assert table.read_text() == "MAILTO=me@example.org\n0 3 * * * /usr/local/bin/backup\n"
    code, out = invoke("schedule", "show")
    assert "No schedule installed" in out


def test_install_needs_consent(scratch: Path) -> None:
    config.save(config.Settings())
    code, out = invoke("schedule", "install", "--cron")
    assert code == 2
    assert "probe init" in out
    assert not (scratch / "table").exists()


def test_bad_intervals_exit_2(scratch: Path) -> None:
    for args, problem in [
        (["--every", "90m", "--cron"], "cron can run every"),
        (["--every", "1m", "--cron"], "more often than every 10 minutes"),
        (["--every", "6h", "--delay", "7h", "--cron"], "--delay must be between 0"),
        (["--every", "soon"], "write a duration"),
        (["--cron", "--systemd"], "choose one"),
    ]:
        code, out = invoke("schedule", "install", *args)
        assert code == 2, (args, out)
        assert problem in out, (args, out)
    assert not (scratch / "table").exists()


def test_systemd_user_timer(scratch: Path) -> None:
    code, out = invoke("schedule", "install", "--every", "12h", "--systemd", "--user")
    assert code == 0, out
    units = scratch / "units"
    timer = (units / "probe.timer").read_text()
    service = (units / "probe.service").read_text()
    assert "RandomizedDelaySec=3600s" in timer
    assert "Persistent=true" in timer
    assert "OnCalendar=*-*-* " in timer
    assert f"StandardError=append:{scratch / 'home' / 'state' / 'probe.log'}" in service
    assert f'Environment="PROBE_HOME={scratch / "home"}"' in service
    assert "ExecStart=" in service and " run\n" in service and "--results-dir" not in service
    calls = (scratch / "systemctl.log").read_text().splitlines()
    assert calls == ["--user daemon-reload", "--user enable --now probe.timer"]
    code, out = invoke("schedule", "show")
    assert "systemd in " in out and "every 12h" in out

    code, out = invoke("schedule", "remove")
    assert code == 0 and "systemd user timer" in out
    assert list(units.iterdir()) == []
    assert "--user disable --now probe.timer" in (scratch / "systemctl.log").read_text()


def test_systemd_any_interval_and_system_scope(scratch: Path) -> None:
    code, out = invoke("schedule", "install", "--every", "90m", "--systemd", "--system")
    assert code == 0, out
    timer = (scratch / "units" / "probe.timer").read_text()
    assert "OnUnitActiveSec=5400s" in timer and "OnCalendar" not in timer
    assert (scratch / "systemctl.log").read_text().splitlines()[0] == "daemon-reload"  # no --user


def test_switching_kinds_leaves_one_schedule(scratch: Path) -> None:
    assert invoke("schedule", "install", "--cron")[0] == 0
    assert invoke("schedule", "install", "--systemd", "--user")[0] == 0
    assert schedule.find_block((scratch / "table").read_text()) is None
    assert [s.kind for s in schedule.installed()] == ["systemd"]


@pytest.mark.parametrize("every", ["6h", "90m"])
def test_systemd_accepts_the_units(scratch: Path, every: str) -> None:
    """`systemd-analyze verify` loads both units without a single warning (unknown keys, bad values, a command
    that is not executable)."""
    need(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed (./scripts/test installs it)")
    assert invoke("schedule", "install", "--every", every, "--systemd", "--user")[0] == 0
    units = scratch / "units"
    done = subprocess.run(
        ["systemd-analyze", "verify", str(units / "probe.timer"), str(units / "probe.service")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    problems = [ln for ln in done.stderr.splitlines() if "probe." in ln]
    assert done.returncode == 0 and not problems, done.stderr


def test_status_shows_the_schedule_and_next_run(scratch: Path) -> None:
    assert invoke("schedule", "install", "--every", "1d", "--cron")[0] == 0
    code, out = invoke("status", "--json")
    assert code == 0, out
    report = json.loads(out)
    (entry,) = report["schedule"]
    assert entry["kind"] == "cron" and entry["every_seconds"] == 86400 and entry["delay_seconds"] == 3600
    upcoming = datetime.strptime(entry["next_run"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert 0 < (upcoming - datetime.now(UTC)).total_seconds() <= 86400
