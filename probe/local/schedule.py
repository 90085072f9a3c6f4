"""Unattended runs: a crontab entry or a systemd timer (user or system), with a randomized delay, and what
`probe schedule show` and `probe status` say about them.

- Times: the run time within the interval is drawn once at install (minute, and hour or weekday), so that
  probes installed at the same moment do not all measure at the same moment; each run then waits a random delay
  (systemd: RandomizedDelaySec; cron: `sleep $(shuf ...)`), by default half the interval, at most an hour.
- Overlap: `probe run` itself holds an exclusive flock(2) on `run.lock` in the state folder (probe/local/locks.py), so
  a slow run, a manual run and a scheduled one never overlap, whichever started them.
- Logs: both append the run's stderr (errors only: the table goes nowhere) to `probe.log` in the state folder,
  which `probe run` trims (probe/local/retention.py); `probe status` shows the last runs from the run history.
- Test seams (and unusual systems): PROBE_CRONTAB names the crontab command, PROBE_SYSTEMD_DIR the unit folder,
  PROBE_SYSTEMCTL the systemctl command (empty: do not call it).

Everything the probe writes into a crontab sits between two marker lines; nothing else in it is touched.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from probe.local import paths

BEGIN = "# BEGIN probe schedule"
END = "# END probe schedule"
UNIT = "probe"  # probe.service + probe.timer
LOG_NAME = "probe.log"
MIN_EVERY = 10 * 60  # a run takes about a minute; more often than this only annoys the networks measured
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Variables that decide where the probe finds its configuration and state: a scheduled run must see the same.
CARRIED = ("PROBE_HOME", "PROBE_CONFIG", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME")


class ScheduleError(Exception):
    """The schedule cannot be installed, read or removed; the message says why and what to do."""


class NoCrontab(ScheduleError):
    """There is no crontab command on this machine (so no crontab entry either)."""


@dataclass(frozen=True)
class Calendar:
    """When runs start, before the random delay: these minutes of these hours (None: every hour), on this
    weekday (None: every day). An interval that fits no calendar (e.g. 90m) has none: systemd only."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...] | None = None
    weekday: int | None = None  # 0 = Monday

    def cron(self) -> str:
        """The first five fields of a crontab line."""
        hours = ",".join(map(str, self.hours)) if self.hours is not None else "*"
        weekday = str((self.weekday + 1) % 7) if self.weekday is not None else "*"  # cron: 0 = Sunday
        return f"{','.join(map(str, self.minutes))} {hours} * * {weekday}"

    def on_calendar(self) -> str:
        """systemd.time(7) calendar event."""
        hours = ",".join(f"{h:02d}" for h in self.hours) if self.hours is not None else "*"
        minutes = ",".join(f"{m:02d}" for m in self.minutes)
        day = f"{WEEKDAYS[self.weekday]} " if self.weekday is not None else ""
        return f"{day}*-*-* {hours}:{minutes}:00"

    def next_after(self, moment: datetime) -> datetime:
        """The first start strictly after `moment` (UTC; cron and systemd use local time, see `next_run`)."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(8 * 24 * 60):
            if (
                candidate.minute in self.minutes
                and (self.hours is None or candidate.hour in self.hours)
                and (self.weekday is None or candidate.weekday() == self.weekday)
            ):
                return candidate
            candidate += timedelta(minutes=1)
        raise AssertionError("a calendar fires at least weekly")


@dataclass(frozen=True)
class Plan:
    """What `install` writes: how often, how much random delay, the command, and where it logs."""

    every: int  # seconds
    delay: int  # seconds of random delay before each run
    calendar: Calendar | None
    command: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    log: Path


@dataclass(frozen=True)
class Installed:
    """A schedule found on this machine."""

    kind: str  # cron | systemd
    text: str  # the crontab block, or the timer and service units
    location: str  # "crontab" or the unit folder
    every: int | None
    delay: int | None
    calendar: Calendar | None


def parse_duration(text: str, name: str = "--every") -> int:
    """Seconds in `30m`, `6h`, `1d`, `90m`, `1h30m` or a bare number of seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned.isdigit():
        return int(cleaned)
    parts = re.findall(r"(\d+)([smhdw])", cleaned)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != cleaned:
        raise ScheduleError(f"{name} {text!r}: write a duration such as 30m, 6h, 1d or 1h30m")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return sum(int(n) * unit[u] for n, u in parts)


def calendar_for(every: int, rng: random.Random) -> Calendar | None:
    """A calendar that fires every `every` seconds, at offsets drawn from `rng`; None when no calendar fits."""
    minute = rng.randrange(60)
    if every == 604800:
        return Calendar((minute,), (rng.randrange(24),), rng.randrange(7))
    if every == 86400:
        return Calendar((minute,), (rng.randrange(24),))
    if every % 3600 == 0 and 24 % (every // 3600) == 0:
        step = every // 3600
        return Calendar((minute,), tuple(range(rng.randrange(step), 24, step)))
    if every % 60 == 0 and every < 3600 and 60 % (every // 60) == 0:
        step = every // 60
        return Calendar(tuple(range(minute % step, 60, step)))
    return None


def default_delay(every: int) -> int:
    """Half the interval, at most an hour: spreads probes without letting a run slide into the next."""
    return min(every // 2, 3600)


def log_path() -> Path:
    return paths.state_dir() / LOG_NAME


def probe_command() -> tuple[str, ...]:
    """How to start this very probe from cron or systemd (whose PATH knows nothing of a virtualenv)."""
    script = Path(sys.executable).parent / "probe"
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (sys.executable, "-m", "probe")


def plan(
    every: int,
    delay: int | None,
    results_dir: Path | None,
    environ: Mapping[str, str] | None = None,
    rng: random.Random | None = None,
    systemd: bool = False,
) -> Plan:
    """Check the interval and build the plan. `results_dir` is passed to each run when given (a relative
    default must be pinned to the folder it meant at install time)."""
    env = os.environ if environ is None else environ
    if every < MIN_EVERY:
        raise ScheduleError(f"--every {every}s: runs more often than every {MIN_EVERY // 60} minutes are not allowed")
    calendar = calendar_for(every, rng or random.Random())
    if calendar is None and not systemd:
        raise ScheduleError(
            f"--every {every}s: cron can run every 10m, 12m, 15m, 20m, 30m, 1h, 2h, 3h, 4h, 6h, 8h, 12h, 1d or 7d; "
            "a systemd timer (--systemd) can run at any interval"
        )
    wait = default_delay(every) if delay is None else delay
    if not 0 <= wait <= every:
        raise ScheduleError(f"--delay must be between 0 and the interval ({every}s), not {wait}s")
    command = (*probe_command(), "run", *(("--results-dir", str(results_dir)) if results_dir else ()))
    environment = tuple((k, env[k]) for k in CARRIED if env.get(k))
    return Plan(every, wait, calendar, command, environment, log_path())


# --- cron ---------------------------------------------------------------------------------------------------------


def crontab_command(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    return shlex.split(env.get("PROBE_CRONTAB") or "crontab")


def cron_block(p: Plan) -> str:
    """The lines between (and including) the markers."""
    assert p.calendar is not None
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in p.environment)
    run = " ".join(shlex.quote(part) for part in p.command)
    sleep = f"sleep $(shuf -i 0-{p.delay} -n 1); " if p.delay else ""
    mkdir = f"mkdir -p {shlex.quote(str(p.log.parent))}; "
    prefix = f"{assignments} " if assignments else ""
    line = f"{p.calendar.cron()} {mkdir}{sleep}{prefix}{run} >/dev/null 2>>{shlex.quote(str(p.log))}"
    if "%" in line:  # cron turns an unescaped % into a newline
        line = line.replace("%", "\\%")
    return "\n".join(
        (
            BEGIN,
            "# installed by `probe schedule install`; `probe schedule remove` removes it",
            f"# every={p.every}s delay={p.delay}s log={p.log}",
            line,
            END,
        )
    )


def read_crontab(environ: Mapping[str, str] | None = None) -> str:
    """The user's crontab ('' when there is none)."""
    command = crontab_command(environ)
    try:
        done = subprocess.run([*command, "-l"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise NoCrontab(f"{command[0]}: not found; install cron, or use --systemd") from None
    if done.returncode != 0:
        if "no crontab" in done.stderr.lower():
            return ""
        raise ScheduleError(f"`{' '.join(command)} -l` failed: {done.stderr.strip()}")
    return done.stdout


def write_crontab(text: str, environ: Mapping[str, str] | None = None) -> None:
    command = crontab_command(environ)
    try:
        done = subprocess.run([*command, "-"], input=text, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise NoCrontab(f"{command[0]}: not found; install cron, or use --systemd") from None
    if done.returncode != 0:
        raise ScheduleError(f"`{' '.join(command)} -` refused the new crontab: {done.stderr.strip()}")


def without_block(crontab: str) -> str:
    """`crontab` with the probe's block removed (and nothing else)."""
    lines, inside = [], False
    for line in crontab.splitlines():
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END and inside:
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


def find_block(crontab: str) -> str | None:
    match = re.search(rf"^{re.escape(BEGIN)}$.*?^{re.escape(END)}$", crontab, re.MULTILINE | re.DOTALL)
    return match.group(0) if match else None


def install_cron(p: Plan, environ: Mapping[str, str] | None = None) -> str:
    """Replace the probe's block in the crontab (adding it if absent). Returns the block."""
    block = cron_block(p)
    current = without_block(read_crontab(environ))
    write_crontab(current + ("" if not current or current.endswith("\n") else "\n") + block + "\n", environ)
    return block


def remove_cron(environ: Mapping[str, str] | None = None) -> bool:
    """Remove the probe's block; True when there was one."""
    try:
        current = read_crontab(environ)
    except NoCrontab:
        return False
    if find_block(current) is None:
        return False
    write_crontab(without_block(current), environ)
    return True


# --- systemd ------------------------------------------------------------------------------------------------------


def unit_dir(system: bool, environ: Mapping[str, str] | None = None) -> Path:
    """Where units go: PROBE_SYSTEMD_DIR, else /etc/systemd/system (system) or ~/.config/systemd/user."""
    env = os.environ if environ is None else environ
    if env.get("PROBE_SYSTEMD_DIR"):
        return Path(env["PROBE_SYSTEMD_DIR"])
    if system:
        return Path("/etc/systemd/system")
    root = env.get("XDG_CONFIG_HOME")
    return (Path(root) if root else Path.home() / ".config") / "systemd" / "user"


def systemd_units(p: Plan) -> tuple[str, str]:
    """(probe.service, probe.timer)."""
    environment = "".join(f'Environment="{k}={_systemd_escape(v, dollar=False)}"\n' for k, v in p.environment)
    exec_start = " ".join(_systemd_quote(part) for part in p.command)
    service = f"""\
[Unit]
Description=probe: measure whether messaging services are reachable (installed by `probe schedule install`)
Documentation=https://ooni.org/about/risks/
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
{environment}ExecStart={exec_start}
# Only errors go to the log; what each run found is in the run history (`probe status`).
StandardOutput=null
StandardError=append:{p.log}
Nice=10
NoNewPrivileges=yes
"""
    if p.calendar is not None:
        when = f"OnCalendar={p.calendar.on_calendar()}\nPersistent=true\n"
    else:
        when = f"OnBootSec=15min\nOnUnitActiveSec={p.every}s\n"
    timer = f"""\
[Unit]
Description=probe: unattended runs every {describe(p.every)} (installed by `probe schedule install`)

[Timer]
{when}RandomizedDelaySec={p.delay}s
AccuracySec=1min
Unit={UNIT}.service
# every={p.every}s delay={p.delay}s log={p.log}

[Install]
WantedBy=timers.target
"""
    return service, timer


def _systemd_quote(word: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_@+=:,./-]+", word):
        return word
    return '"' + _systemd_escape(word) + '"'


def _systemd_escape(value: str, dollar: bool = True) -> str:
    """systemd.service(5) quoting: backslash and quote escaped, `%` doubled (specifiers), and in command lines
    `$` doubled (variable expansion; Environment= does not expand)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return escaped.replace("$", "$$") if dollar else escaped


def systemctl(system: bool, *args: str, environ: Mapping[str, str] | None = None) -> None:
    """Run systemctl (or PROBE_SYSTEMCTL; empty: skip). Failure is reported, not fatal: the units are written,
    and the message says what to run by hand."""
    env = os.environ if environ is None else environ
    configured = env.get("PROBE_SYSTEMCTL")
    if configured is not None and not configured.strip():
        return
    command = [*shlex.split(configured or "systemctl"), *(() if system else ("--user",)), *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ScheduleError(f"{command[0]}: not found; the units are written, enable them by hand") from None
    if done.returncode != 0:
        raise ScheduleError(f"`{' '.join(command)}` failed: {done.stderr.strip() or done.returncode}")


def install_systemd(p: Plan, system: bool, environ: Mapping[str, str] | None = None) -> Path:
    """Write probe.service and probe.timer, reload systemd and start the timer. Returns the unit folder."""
    from probe import atomicfile

    folder = unit_dir(system, environ)
    service, timer = systemd_units(p)
    atomicfile.write_atomic(folder / f"{UNIT}.service", service.encode())
    atomicfile.write_atomic(folder / f"{UNIT}.timer", timer.encode())
    systemctl(system, "daemon-reload", environ=environ)
    systemctl(system, "enable", "--now", f"{UNIT}.timer", environ=environ)
    return folder


def remove_systemd(system: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Stop and remove the timer and service; True when they existed."""
    folder = unit_dir(system, environ)
    files = [folder / f"{UNIT}.timer", folder / f"{UNIT}.service"]
    if not any(f.exists() for f in files):
        return False
    # systemd may not run here (a container): the files go regardless.
    with contextlib.suppress(ScheduleError):
        systemctl(system, "disable", "--now", f"{UNIT}.timer", environ=environ)
    for f in files:
        f.unlink(missing_ok=True)
    with contextlib.suppress(ScheduleError):
        systemctl(system, "daemon-reload", environ=environ)
    return True


# --- reading back -------------------------------------------------------------------------------------------------


def _meta(text: str) -> tuple[int | None, int | None]:
    match = re.search(r"every=(\d+)s delay=(\d+)s", text)
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


def _calendar_from_cron(block: str) -> Calendar | None:
    for line in block.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split(None, 5)
        try:
            minutes = tuple(int(m) for m in fields[0].split(","))
            hours = None if fields[1] == "*" else tuple(int(h) for h in fields[1].split(","))
            weekday = None if fields[4] == "*" else (int(fields[4]) - 1) % 7
        except (ValueError, IndexError):
            return None
        return Calendar(minutes, hours, weekday)
    return None


def _calendar_from_timer(timer: str) -> Calendar | None:
    match = re.search(r"^OnCalendar=(?:(\w{3}) )?\*-\*-\* ([\d,*]+):([\d,]+):00$", timer, re.MULTILINE)
    if not match:
        return None
    day, hours, minutes = match.groups()
    return Calendar(
        tuple(int(m) for m in minutes.split(",")),
        None if hours == "*" else tuple(int(h) for h in hours.split(",")),
        WEEKDAYS.index(day) if day else None,
    )


def installed(environ: Mapping[str, str] | None = None, systems: Sequence[bool] = (False, True)) -> list[Installed]:
    """Every probe schedule on this machine: the crontab block, user and system timers."""
    found = []
    try:
        block = find_block(read_crontab(environ))
    except ScheduleError:
        block = None
    if block is not None:
        every, delay = _meta(block)
        found.append(Installed("cron", block, "crontab", every, delay, _calendar_from_cron(block)))
    seen = set()
    for system in systems:
        folder = unit_dir(system, environ)
        timer_file = folder / f"{UNIT}.timer"
        if folder in seen or not timer_file.is_file():
            continue
        seen.add(folder)
        timer = timer_file.read_text()
        service_file = folder / f"{UNIT}.service"
        service = service_file.read_text() if service_file.is_file() else ""
        every, delay = _meta(timer)
        text = f"# {timer_file}\n{timer}\n# {service_file}\n{service}"
        found.append(Installed("systemd", text, str(folder), every, delay, _calendar_from_timer(timer)))
    return found


def next_run(schedule: Installed, now: datetime | None = None) -> datetime | None:
    """The next start (before its random delay), in UTC; None when it cannot be told (monotonic timers).

    cron and systemd read calendars in the machine's local time; the offset in force now is applied."""
    if schedule.calendar is None:
        return None
    local_now = (now or datetime.now(UTC)).astimezone()
    offset = local_now.utcoffset() or timedelta(0)
    naive = local_now.replace(tzinfo=None)
    return (schedule.calendar.next_after(naive) - offset).replace(tzinfo=UTC)


def describe(every: int) -> str:
    """`6h`, `30m`, `1d`, `1h30m`."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if every >= size:
            parts.append(f"{every // size}{unit}")
            every %= size
    return "".join(parts) or "0s"
