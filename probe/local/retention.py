"""Retention: keep the results folder and the scheduled-run log from filling the disk of an unattended probe.

OONI Probe's unattended installs filled disks (ooni/probe#1313, #1950, #1983); here every run prunes after itself.
A result is a file `DIR/YYYY-MM-DD/NAME.jsonl` with whatever sits beside it under `NAME.jsonl.*` (its `.minisig`);
results go whole, oldest first (by modification time): first those older than `days`, then more until the folder
holds at most `megabytes`. Nothing else in the folder is touched (a README, the volunteer's own files), and the
result a run just wrote is never pruned by that run. `sweep` removes what killed processes left behind: temporary
files of atomic writes and signatures whose result file never came (issue 21).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from probe import wire

DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
LOG_LIMIT = 1 << 20  # the scheduled-run log is trimmed to its last LOG_KEEP bytes when it passes 1 MiB
LOG_KEEP = 256 << 10
STALE_SECONDS = 3600.0  # a leftover older than this belongs to no write in progress


@dataclass(frozen=True)
class Result:
    """One result file and its companions, as retention sees them."""

    path: Path
    files: tuple[Path, ...]
    mtime: float
    size: int


def results(results_dir: Path) -> tuple[Result, ...]:
    """Every result under `results_dir`, oldest first."""
    found = []
    if not results_dir.is_dir():
        return ()
    for day in results_dir.iterdir():
        if not (day.is_dir() and DAY_FOLDER.fullmatch(day.name)):
            continue
        for path in day.glob("*.jsonl"):
            files = (path, *sorted(day.glob(f"{glob_escape(path.name)}.*")))
            try:
                stats = [f.stat() for f in files]
            except FileNotFoundError:  # a concurrent prune or upload took it
                continue
            found.append(Result(path, files, stats[0].st_mtime, sum(s.st_size for s in stats)))
    return tuple(sorted(found, key=lambda r: (r.mtime, r.path.name)))


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def prune(
    results_dir: Path, days: int, megabytes: int, keep: Collection[Path] = (), now: float | None = None
) -> tuple[Path, ...]:
    """Remove results older than `days`, then the oldest until the folder holds at most `megabytes` (of result
    files); `keep` are never removed. Returns the result files removed, oldest first."""
    current = results(results_dir)
    cutoff = (time.time() if now is None else now) - days * 86400
    budget = megabytes * 1_000_000
    kept = {p.resolve() for p in keep}
    total = sum(r.size for r in current)
    removed = []
    for result in current:
        if result.path.resolve() in kept:
            continue
        if result.mtime >= cutoff and total <= budget:
            continue
        for path in result.files:
            path.unlink(missing_ok=True)
        total -= result.size
        removed.append(result.path)
    for folder in {p.parent for p in removed}:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty
    return tuple(removed)


def sweep(folder: Path, now: float | None = None, age: float = STALE_SECONDS) -> tuple[Path, ...]:
    """Remove what a killed process left in `folder` (a results folder's day folders, or a state or config folder
    itself) and nothing else: temporary files of atomic writes (`.NAME.XXXX.tmp`) and, in day folders, signatures
    whose result file never came (`NAME.jsonl.minisig` without `NAME.jsonl`), once older than `age` seconds, so
    that a write in progress is never taken. Returns what was removed."""
    cutoff = (time.time() if now is None else now) - age
    places = [folder]
    with contextlib.suppress(OSError):
        places += [d for d in folder.iterdir() if d.is_dir() and DAY_FOLDER.fullmatch(d.name)]
    removed = []
    for place in places:
        try:
            candidates = list(place.glob(".*.tmp"))
            if place is not folder:
                signatures = place.glob("*.jsonl" + wire.SIGNATURE_SUFFIX)
                candidates += [s for s in signatures if not s.with_suffix("").exists()]
        except OSError:
            continue
        for path in candidates:
            with contextlib.suppress(OSError):
                if path.lstat().st_mtime < cutoff and path.is_file():
                    path.unlink()
                    removed.append(path)
    return tuple(removed)


def folder_size(results_dir: Path) -> int:
    """Bytes held by result files (and companions) under `results_dir`."""
    return sum(r.size for r in results(results_dir))


def trim_log(path: Path, limit: int = LOG_LIMIT, keep: int = LOG_KEEP) -> bool:
    """Cut a log that passed `limit` bytes down to its last `keep` bytes, from a line start. True when cut.

    The copy is written in place: cron and systemd append with O_APPEND, so they continue at the new end."""
    try:
        if path.stat().st_size <= limit:
            return False
        with path.open("rb") as handle:
            handle.seek(-keep, 2)
            tail = handle.read()
    except OSError:
        return False
    newline = tail.find(b"\n")
    tail = tail[newline + 1 :] if newline >= 0 else tail
    with path.open("r+b") as handle:
        handle.write(tail)
        handle.truncate()
    return True
