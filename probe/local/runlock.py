"""One run at a time: an exclusive flock(2) on `run.lock` in the state folder.

flock rather than a pid file: the kernel drops the lock when the process dies, however it dies, so a crashed
run never blocks the next one. The holder's pid is written into the file only to name it in the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from probe.local import paths

LOCK_NAME = "run.lock"


class Busy(Exception):
    """Another run holds the lock."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"another probe run is in progress (pid {holder or 'unknown'}; lock {path})")


def lock_path() -> Path:
    return paths.state_dir() / LOCK_NAME


@contextlib.contextmanager
def exclusive(path: Path | None = None) -> Iterator[None]:
    """Hold the run lock for the duration of the block; raise Busy at once if another process holds it."""
    target = path or lock_path()
    paths.private_dir(target.parent)
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(target, os.pread(fd, 32, 0).decode(errors="replace").strip()) from None
        with contextlib.suppress(OSError):  # the pid only names the holder; a full disk must not stop the run
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
