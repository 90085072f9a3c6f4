"""Files that must never be half-written: atomic writes (temp file, fsync, rename, fsync of the folder) and the
layout of the results folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so that a reader sees either the old file or the whole new one, even after a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_group_atomic(files: Sequence[tuple[Path, bytes]], mode: int = 0o644) -> None:
    """Write several files, each atomically, in order: a reader that sees the last one sees all the others.

    The result file goes last so that it is never visible without its signature beside it.
    """
    written: list[Path] = []
    try:
        for path, data in files:
            write_atomic(path, data, mode)
            written.append(path)
    except BaseException:
        # A full disk stopped the group half way: take back what was written (a signature without its result
        # file, issue 21), so that the group is there whole or not at all.
        for path in written:
            path.unlink(missing_ok=True)
        raise


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX: the directory entry lives in the directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def result_path(results_dir: Path, test_start_time: str, report_id: str) -> Path:
    """results/YYYY-MM-DD/YYYYMMDDTHHMMSSZ-<random>.jsonl: sorted by time, unique, and free of identity."""
    day = test_start_time[:10]
    stamp = test_start_time.replace("-", "").replace(" ", "T").replace(":", "") + "Z"
    return results_dir / day / f"{stamp}-{report_id.rsplit('_', 1)[-1][:12]}.jsonl"
