"""What `probe run` shows the volunteer around the measurement (the life cycle itself is probe/lifecycle.py):
the settings, the consent question on a terminal, notices on stderr, and a progress bar on a terminal."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TextIO

import typer

if TYPE_CHECKING:
    from probe.local.config import Settings


def settings() -> Settings:
    """The effective settings; exit 2 naming file, key and problem when they are bad."""
    from probe.cli.config import settings as load_settings

    return load_settings()


def consent_asker() -> Callable[[Settings], Settings | None] | None:
    """The consent question on stderr (stdout belongs to the table or the --json object), when someone is at a
    terminal to answer it; None otherwise (cron, systemd, Docker without -t)."""
    from probe.cli.init import ask_consent, interactive

    if not interactive():
        return None
    return lambda current: ask_consent(current, None, err=True)


def notice(text: str, quiet: bool) -> None:
    """A line for the volunteer on stderr: stdout belongs to the run's table or its --json object."""
    if not quiet:
        typer.echo(f"probe: {text}", err=True)


class Progress:
    """`measuring 64 endpoints  [#######-------------]  35/73 steps` on stderr, redrawn at most ten times a second.
    It counts steps, and says so: the controls are measured twice (before and after the targets)."""

    def __init__(self, total: int, endpoints: int, stream: TextIO) -> None:
        self.total = max(total, 1)
        self.endpoints = endpoints
        self.done = 0
        self.stream = stream
        self.drawn = 0.0
        self.width = 0

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
        line = f"measuring {self.endpoints} endpoints  [{bar}]  {min(self.done, self.total)}/{self.total} steps"
        self.width = max(self.width, len(line))
        self.stream.write("\r" + line)
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r" + " " * self.width + "\r")
        self.stream.flush()


@contextlib.contextmanager
def progress(total: int, endpoints: int, json_output: bool) -> Iterator[Callable[[], None] | None]:
    """A tick function that draws a progress bar, only on an interactive terminal and never with --json; None
    otherwise (cron, systemd, pipes: nothing but errors)."""
    if json_output or not sys.stderr.isatty():
        yield None
        return
    bar = Progress(total, endpoints, sys.stderr)
    bar.draw()
    try:
        yield bar.tick
    finally:
        bar.close()
