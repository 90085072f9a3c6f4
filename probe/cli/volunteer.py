"""What `probe run` does for the volunteer around the measurement itself: the settings, consent (asked on a
terminal, required everywhere), one run at a time, where the probe is, a progress bar on a terminal, and after the
run the history and the retention of results and of the log."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer

from probe.cli.common import EXIT_BAD_INPUT, EXIT_CANNOT_MEASURE, fail

if TYPE_CHECKING:
    from probe.local.config import Settings
    from probe.local.geo import Where
    from probe.runner import RunOutcome


def settings() -> Settings:
    """The effective settings; exit 2 naming file, key and problem when they are bad."""
    from probe.cli.config import settings as load_settings

    return load_settings()


def require_consent(current: Settings, json_output: bool) -> Settings:
    """Consent to the current text, asked now if someone is at a terminal. Without it nothing is measured: exit 2
    (bad setup), with a message that says why and what to do."""
    from probe.cli.init import ask_consent, interactive
    from probe.local import consent

    if consent.given(current):
        return current
    again = " (the text changed since you agreed)" if current.consent.accepted else ""
    if not interactive():
        fail(
            f"no recorded consent{again}, so nothing was measured. Read and accept what running probe means with "
            "`probe init` (or `probe init --accept-risks` in automation)",
            EXIT_BAD_INPUT,
        )
    saved = ask_consent(current, None, err=True)
    if saved is None:
        fail("consent declined: nothing was measured", EXIT_BAD_INPUT)
    return saved


def locate(current: Settings) -> Where:
    """probe_cc / probe_asn (probe/local/geo.py); a configured database that cannot be read exits 2."""
    from probe.local import geo

    try:
        return geo.locate(current.location)
    except geo.GeoError as exc:
        fail(str(exc))


@contextlib.contextmanager
def one_run_at_a_time() -> Iterator[None]:
    """Hold the run lock; when another run holds it, exit 3 at once (this run could not measure, and says why)."""
    from probe.local import runlock

    try:
        with runlock.exclusive():
            yield
    except runlock.Busy as exc:
        fail(f"{exc}; this run measured nothing", EXIT_CANNOT_MEASURE)


class Progress:
    """`measuring  [#######-------------]  35/103` on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.drawn = 0.0

    def tick(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.drawn >= 0.1 or self.done >= self.total:
            self.drawn = now
            self.draw()

    def draw(self) -> None:
        width = 30
        filled = min(width, width * self.done // self.total)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\rmeasuring  [{bar}]  {min(self.done, self.total)}/{self.total}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r" + " " * 60 + "\r")
        self.stream.flush()


@contextlib.contextmanager
def progress(total: int, json_output: bool) -> Iterator[Callable[[], None] | None]:
    """A tick function that draws a progress bar, only on an interactive terminal and never with --json; None
    otherwise (cron, systemd, pipes: nothing but errors)."""
    if json_output or not sys.stderr.isatty():
        yield None
        return
    bar = Progress(total, sys.stderr)
    bar.draw()
    try:
        yield bar.tick
    finally:
        bar.close()


def after_run(outcome: RunOutcome, current: Settings, started: datetime, results_dir: Path) -> None:
    """Record the run in the history, prune old results, trim the scheduled-run log. Never fails the run:
    the result file is written already; trouble here is reported on stderr."""
    from probe.local import history, retention, schedule

    keep = [p for p in (outcome.result_file, outcome.signature_file) if p is not None]
    try:
        pruned = retention.prune(results_dir, current.retention.days, current.retention.megabytes, keep=keep)
    except OSError as exc:
        typer.echo(f"probe: retention: cannot prune {results_dir}: {exc}", err=True)
        pruned = ()
    retention.trim_log(schedule.log_path())
    record = history.RunRecord(
        started=_iso(started),
        finished=_iso(datetime.now(started.tzinfo)),
        vantage=outcome.vantage.status.value,
        services={s.service: s.status.value for s in outcome.services},
        endpoints=len(outcome.measured),
        result_file=str(outcome.result_file.absolute()) if outcome.result_file else None,
        pruned=len(pruned),
    )
    try:
        history.append(record)
    except OSError as exc:
        typer.echo(f"probe: cannot write the run history: {exc}", err=True)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
