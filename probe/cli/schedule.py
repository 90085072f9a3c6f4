"""`probe schedule install | show | remove | loop`: unattended runs (probe/local/schedule.py does the work)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from probe.cli.common import fail, group

if TYPE_CHECKING:
    import subprocess

    from probe.local.config import Settings
    from probe.local.schedule import Installed

DEFAULT_EVERY = "6h"  # four runs a day: what retention's defaults and the docs assume
STOP_GRACE = 8.0  # seconds a stopped loop's run gets to end by itself (`docker stop` kills at 10)

app = group("Unattended runs from cron or a systemd timer, with a random delay; one run at a time.")


def _require_consent(settings: Settings) -> None:
    from probe.local import consent

    if not consent.given(settings):
        fail("no recorded consent: a scheduled run would measure nothing. Run `probe init` first")


def _results_dir(settings: Settings) -> Path | None:
    """A relative results folder is pinned to what it means now: cron and systemd start elsewhere."""
    folder = settings.run.results_dir
    return None if folder.is_absolute() else folder.absolute()


@app.command("install")
def install(
    every: Annotated[str, typer.Option(help="How often: 30m, 1h, 6h, 12h, 1d ...")] = DEFAULT_EVERY,
    cron: Annotated[bool, typer.Option("--cron", help="A crontab entry (the default when crontab exists).")] = False,
    systemd: Annotated[bool, typer.Option("--systemd", help="A systemd timer and service.")] = False,
    system: Annotated[
        bool | None,
        typer.Option("--system/--user", help="systemd: a system timer, or a user timer (default: system as root)."),
    ] = None,
    delay: Annotated[
        str | None, typer.Option(help="Random delay before each run, at most (default: half the interval, <= 1h).")
    ] = None,
) -> None:
    """Run `probe run` unattended, every --every, after a random delay; replaces any schedule installed before.
    Errors of scheduled runs go to probe.log in the state folder; `probe status` shows what the runs found."""
    import shutil

    from probe.cli.config import settings as load_settings
    from probe.local import paths, schedule

    if cron and systemd:
        fail("choose one of --cron and --systemd")
    settings = load_settings()
    _require_consent(settings)
    if not cron and not systemd:
        crontab = schedule.crontab_command()[0]
        systemd = shutil.which(crontab) is None and shutil.which("systemctl") is not None
    as_system = (os.geteuid() == 0) if system is None else system
    try:
        seconds = schedule.parse_duration(every, "--every")
        wait = schedule.parse_duration(delay, "--delay") if delay is not None else None
        plan = schedule.plan(seconds, wait, _results_dir(settings), systemd=systemd)
        paths.private_dir(plan.log.parent)
        _remove_all(quiet=True)
        if systemd:
            where = f"systemd {'system' if as_system else 'user'} timer in {schedule.install_systemd(plan, as_system)}"
        else:
            schedule.install_cron(plan)
            where = "crontab entry"
    except schedule.ScheduleError as exc:
        fail(str(exc))
    typer.echo(f"Installed a {where}: every {schedule.describe(plan.every)}, ", nl=False)
    typer.echo(f"after a random delay of up to {schedule.describe(plan.delay)}.")
    typer.echo(f"Errors go to {plan.log}; `probe status` shows the runs, `probe schedule show` the schedule.")
    if systemd and not as_system:
        typer.echo("A user timer runs only while you are logged in, unless: loginctl enable-linger $USER")


@app.command("show")
def show() -> None:
    """Show the installed schedule (crontab entry or systemd units), its next run and its log."""
    from probe.local import schedule

    found = schedule.installed()
    if not found:
        typer.echo("No schedule installed (`probe schedule install` makes one).")
        return
    for item in found:
        typer.echo(summary(item))
        typer.echo(item.text.rstrip())
        typer.echo("")
    typer.echo(f"log: {schedule.log_path()}")


def summary(item: Installed) -> str:
    """`cron, every 6h (+ up to 1h random delay), next run 2026-11-29 02:23 UTC`."""
    from probe.local import schedule

    every = schedule.describe(item.every) if item.every else "?"
    delay = f" (+ up to {schedule.describe(item.delay)} random delay)" if item.delay else ""
    upcoming = schedule.next_run(item)
    when = upcoming.strftime("%Y-%m-%d %H:%M UTC") if upcoming else "after the last run + the interval"
    where = "" if item.kind == "cron" else f" in {item.location}"
    return f"{item.kind}{where}, every {every}{delay}, next run {when}"


def _remove_all(quiet: bool = False) -> list[str]:
    from probe.local import schedule

    removed = []
    if schedule.remove_cron():
        removed.append("crontab entry")
    for system in (False, True):
        if os.geteuid() != 0 and system and not os.environ.get("PROBE_SYSTEMD_DIR"):
            continue  # a user cannot have installed a system timer
        if schedule.remove_systemd(system):
            removed.append(f"systemd {'system' if system else 'user'} timer")
    return removed


@app.command("remove")
def remove() -> None:
    """Remove the schedule (crontab entry and systemd timers). Results, keys and settings stay."""
    from probe.local import schedule

    try:
        removed = _remove_all()
    except schedule.ScheduleError as exc:
        fail(str(exc))
    typer.echo(f"Removed: {', '.join(removed)}." if removed else "No schedule was installed.")


@app.command("loop")
def loop(
    every: Annotated[str, typer.Option(help="How often: 30m, 1h, 6h, 12h, 1d ...")] = DEFAULT_EVERY,
    delay: Annotated[str | None, typer.Option(help="Random delay before each run, at most.")] = None,
) -> None:
    """Stay in the foreground and run `probe run` every --every after a random delay: for a container or a
    machine without cron or systemd. Each run is its own process; stop with SIGTERM or Ctrl-C."""
    import random
    import signal
    import subprocess
    import sys
    import time

    from probe.cli.config import settings as load_settings
    from probe.local import schedule

    settings = load_settings()
    _require_consent(settings)
    try:
        seconds = schedule.parse_duration(every, "--every")
        wait = schedule.parse_duration(delay, "--delay") if delay is not None else schedule.default_delay(seconds)
        if seconds < schedule.MIN_EVERY or not 0 <= wait <= seconds:
            schedule.plan(seconds, wait, None, systemd=True)  # raises with the message
    except schedule.ScheduleError as exc:
        fail(str(exc))
    command = [sys.executable, "-m", "probe", "run"]  # this interpreter: in Docker it may be the one with NET_RAW
    folder = _results_dir(settings)
    if folder is not None:
        command += ["--results-dir", str(folder)]

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # PID 1 in a container gets no default SIGTERM action

    signal.signal(signal.SIGTERM, stop)
    rng = random.SystemRandom()
    typer.echo(f"probe: a run every {schedule.describe(seconds)}, each after up to {schedule.describe(wait)}", err=True)
    while True:
        start = time.monotonic()
        time.sleep(rng.uniform(0, wait))
        running = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            returncode = running.wait()
        except SystemExit:
            _finish(running)
            raise
        if returncode not in (0, 3):
            typer.echo(f"probe: run exited {returncode}", err=True)
        sys.stderr.flush()
        time.sleep(max(0.0, seconds - (time.monotonic() - start)))


def _finish(running: subprocess.Popen[bytes]) -> None:
    """Let a run under way when the loop is stopped end by itself, within most of the 10 s `docker stop` allows
    before SIGKILL; past that, interrupt it as Ctrl-C would. Either way it unwinds and leaves no temporary file (a
    run killed outright can leave one); interrupted while Python starts, it would print a KeyboardInterrupt."""
    import signal
    import subprocess

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second `docker stop` changes nothing
    try:
        running.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        running.send_signal(signal.SIGINT)
        running.wait()
