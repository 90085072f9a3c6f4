"""Locks one process holds at a time: an exclusive flock(2) on a file, taken without waiting.

- `run.lock` in the state folder: one probe run at a time (a cron run and a volunteer's own must not measure
  together: each would see the other's traffic as the network's);
- `drain.lock` in the upload spool: one drain at a time (two would upload the same files twice, and their backoff
  bookkeeping would race).

flock rather than a pid file: the kernel drops the lock when the process dies, however it dies, so a crashed
holder never blocks the next one. The holder's pid is written into the file only to name it in the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from probe.local import paths

RUN_LOCK_NAME = "run.lock"


class Busy(Exception):
    """Another process holds the lock: `holder` is the pid it wrote (empty when it wrote none yet)."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"{path} is held by another process (pid {holder or 'unknown'})")


def run_lock_path() -> Path:
    return paths.state_dir() / RUN_LOCK_NAME


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the lock at `path` for the duration of the block; raise Busy at once if another process holds it."""
    paths.private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(path, os.pread(fd, 32, 0).decode(errors="replace").strip()) from None
        with contextlib.suppress(OSError):  # the pid only names the holder; a full disk must not stop the run
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
