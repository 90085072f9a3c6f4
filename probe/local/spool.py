"""The upload spool: signed result files waiting for the collector, kept so that nothing is lost on the way.

Maildir-like, under `probe.local.paths.state_dir() / "spool"`:

    tmp/<sha256>.<random>/   an item being sealed (never read; swept when stale)
    ready/<sha256>/          result.jsonl, result.jsonl.minisig, meta.json: complete, waiting for upload
    dead/<sha256>/           the same plus reason.json: refused for good by a collector (kept for inspection)
    dropped.json             what the size/age cap removed and no result file has reported yet
    upload-state.json        the collector's backoff (see probe.local.upload)
    lock, drain.lock         flock(2) files: short spool changes; one drain at a time

An item is sealed by writing its files into a private folder under `tmp/` (each fsynced), then renaming that
folder into `ready/` (one atomic rename; a reader never sees a file without its signature) and fsyncing `ready/`.
Uploading forgets an item (removes its folder); a permanent refusal moves it to `dead/` with the reason.

The cap (`SpoolLimits`: total size and age) drops the oldest items, dead-letter ones first. Drops are never
silent: they are counted in `dropped.json`, and the next result file reports them in its `annotations`
(`spool_dropped_files`, ...), after which the count is cleared.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from probe import atomicfile
from probe.local import locks, paths
from probe.wire import SIGNATURE_SUFFIX

DATA_NAME = "result.jsonl"
SIGNATURE_NAME = DATA_NAME + SIGNATURE_SUFFIX
META_NAME = "meta.json"
REASON_NAME = "reason.json"
STALE_TMP_SECONDS = 3600.0


@dataclass(frozen=True)
class SpoolLimits:
    """The cap: at most `max_bytes` on disk and nothing older than `max_age_days` (defaults: small enough for the
    smallest VPS, large enough for a month offline at four runs a day)."""

    max_bytes: int = 200 * 1024 * 1024
    max_age_days: float = 30.0


@dataclass(frozen=True)
class ItemMeta:
    """What the spool knows of an item besides its bytes."""

    name: str  # the result file's own name (the trusted comment's `file:`)
    queued: float  # unix time it was sealed
    measurements: int
    public_key: str | None = None  # the signing key's `RW...` line, sent as Probe-Public-Key
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str | None = None


@dataclass(frozen=True)
class Item:
    """One sealed result file in `ready/` or `dead/`."""

    sha256: str
    folder: Path
    meta: ItemMeta

    @property
    def data_path(self) -> Path:
        return self.folder / DATA_NAME

    @property
    def signature_path(self) -> Path:
        return self.folder / SIGNATURE_NAME

    def size(self) -> int:
        total = 0
        for entry in self.folder.iterdir():
            with contextlib.suppress(OSError):
                total += entry.stat().st_size
        return total


@dataclass(frozen=True)
class Dropped:
    """What the cap removed since the last report."""

    files: int = 0
    measurements: int = 0
    bytes: int = 0
    dead_files: int = 0
    since: str | None = None  # UTC ISO time of the first drop in this count

    def __bool__(self) -> bool:
        return bool(self.files or self.dead_files)

    def annotations(self) -> dict[str, str]:
        """OONI `annotations` (string values) for the next result file; empty when nothing was dropped."""
        if not self:
            return {}
        return {
            "spool_dropped_files": str(self.files),
            "spool_dropped_measurements": str(self.measurements),
            "spool_dropped_bytes": str(self.bytes),
            "spool_dropped_dead_files": str(self.dead_files),
            "spool_dropped_since": self.since or "",
        }


@dataclass(frozen=True)
class SpoolStats:
    """For `probe status`: what waits, what was refused, how much room it takes."""

    ready: int
    dead: int
    bytes: int
    oldest_queued: float | None


class Spool:
    """The spool under `root` (default: the state directory's `spool/`)."""

    def __init__(self, root: Path | None = None, limits: SpoolLimits | None = None) -> None:
        self.root = root if root is not None else paths.state_dir() / "spool"
        self.limits = limits or SpoolLimits()

    # --- folders and locks -----------------------------------------------------------------------------------

    @property
    def ready_dir(self) -> Path:
        return self.root / "ready"

    @property
    def dead_dir(self) -> Path:
        return self.root / "dead"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def _ensure(self) -> None:
        paths.private_dir(self.root)
        for folder in (self.tmp_dir, self.ready_dir, self.dead_dir):
            folder.mkdir(mode=0o700, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Short critical sections that move or count items (blocking; held for milliseconds)."""
        self._ensure()
        with open(self.root / "lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def drain_lock(self) -> Iterator[None]:
        """Held for a whole drain; raises locks.Busy at once when another process holds it (two drains would
        upload the same files twice, and their backoff bookkeeping would race)."""
        self._ensure()
        with locks.exclusive(self.root / "drain.lock"):
            yield

    # --- sealing ----------------------------------------------------------------------------------------------

    def seal(
        self, data: bytes, signature: bytes, name: str, public_key: str | None = None, now: float | None = None
    ) -> Item:
        """Queue a signed result file: both files appear in `ready/` together, durably, or not at all. Sealing the
        same bytes twice queues them once. Then the cap is applied (never to this item)."""
        now = time.time() if now is None else now
        sha = hashlib.sha256(data).hexdigest()
        self._ensure()
        final = self.ready_dir / sha
        meta = ItemMeta(name=name, queued=now, measurements=_count_lines(data), public_key=public_key)
        if not final.exists():
            folder = self.tmp_dir / f"{sha}.{os.getpid()}.{os.urandom(4).hex()}"
            folder.mkdir(mode=0o700)
            try:
                for file_name, content in (
                    (DATA_NAME, data),
                    (SIGNATURE_NAME, signature),
                    (META_NAME, _meta_bytes(meta)),
                ):
                    _write_synced(folder / file_name, content)
                atomicfile.fsync_dir(folder)
                try:
                    os.rename(folder, final)  # a folder onto an existing non-empty one fails: no overwrite
                except OSError:
                    if not final.exists():
                        raise
            finally:
                if folder.exists():
                    shutil.rmtree(folder, ignore_errors=True)
            atomicfile.fsync_dir(self.ready_dir)
        item = self._item(final)
        self.enforce_limits(now=now, keep=sha)
        return item or Item(sha, final, meta)

    # --- reading ----------------------------------------------------------------------------------------------

    def ready(self) -> list[Item]:
        """Items waiting for upload, oldest first."""
        return self._items(self.ready_dir)

    def dead(self) -> list[Item]:
        """Items refused for good, oldest first."""
        return self._items(self.dead_dir)

    def read(self, item: Item) -> tuple[bytes, bytes]:
        """(result file, signature) exactly as sealed; OSError when the item is gone."""
        return item.data_path.read_bytes(), item.signature_path.read_bytes()

    def reason(self, item: Item) -> dict[str, Any]:
        """Why a dead-letter item was refused."""
        try:
            loaded = json.loads((item.folder / REASON_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def stats(self) -> SpoolStats:
        ready, dead = self.ready(), self.dead()
        return SpoolStats(
            ready=len(ready),
            dead=len(dead),
            bytes=sum(i.size() for i in ready + dead),
            oldest_queued=min((i.meta.queued for i in ready), default=None),
        )

    def _items(self, folder: Path) -> list[Item]:
        if not folder.is_dir():
            return []
        items = [item for entry in folder.iterdir() if (item := self._item(entry)) is not None]
        return sorted(items, key=lambda i: (i.meta.queued, i.sha256))

    def _item(self, folder: Path) -> Item | None:
        if not folder.is_dir() or len(folder.name) != 64:
            return None
        try:
            raw = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
            meta = ItemMeta(**raw)
        except (OSError, ValueError, TypeError):
            # Meta lost or damaged (a disk error, a hand edit): the bytes still count; upload them as new.
            meta = ItemMeta(name=DATA_NAME, queued=_mtime(folder), measurements=0)
        return Item(folder.name, folder, meta)

    # --- changes ----------------------------------------------------------------------------------------------

    def forget(self, item: Item) -> None:
        """The collector has the file: remove it from the spool."""
        with self._locked():
            shutil.rmtree(item.folder, ignore_errors=True)
            atomicfile.fsync_dir(item.folder.parent)

    def bury(self, item: Item, status: int | None, reason: str, now: float | None = None) -> Item:
        """Move an item to the dead-letter folder with the collector's reason (the reason is written first, so a
        crash in between leaves a ready item that is simply refused again)."""
        now = time.time() if now is None else now
        record = {"status": status, "reason": reason, "when": _iso(now)}
        with self._locked():
            if not item.folder.is_dir():  # dropped by the cap meanwhile: counted there
                return item
            _write_synced(item.folder / REASON_NAME, json.dumps(record, indent=1).encode("utf-8"))
            target = self.dead_dir / item.sha256
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            os.rename(item.folder, target)
            atomicfile.fsync_dir(self.dead_dir)
            atomicfile.fsync_dir(self.ready_dir)
        return Item(item.sha256, target, item.meta)

    def postpone(self, item: Item, until: float, error: str) -> Item:
        """Record a failed attempt and when the item may be tried again."""
        meta = replace(item.meta, attempts=item.meta.attempts + 1, next_attempt=until, last_error=error[:500])
        with self._locked():
            if item.folder.is_dir():
                atomicfile.write_atomic(item.folder / META_NAME, _meta_bytes(meta), mode=0o600)
        return Item(item.sha256, item.folder, meta)

    def enforce_limits(self, now: float | None = None, keep: str | None = None) -> Dropped:
        """Apply the cap: drop items past the age limit, then the oldest (dead-letter first) until the spool fits.
        Also sweeps stale `tmp/` leftovers. Returns what this call dropped (already added to the count)."""
        now = time.time() if now is None else now
        with self._locked():
            self._sweep_tmp(now)
            dead, ready = self.dead(), self.ready()
            oldest_allowed = now - self.limits.max_age_days * 86400
            drops: list[tuple[Item, bool]] = []
            survivors: list[tuple[Item, bool, int]] = []
            for item, is_dead in [(i, True) for i in dead] + [(i, False) for i in ready]:
                if item.sha256 != keep and item.meta.queued < oldest_allowed:
                    drops.append((item, is_dead))
                else:
                    survivors.append((item, is_dead, item.size()))
            total = sum(size for _, _, size in survivors)
            for item, is_dead, size in survivors:  # dead first, each oldest first
                if total <= self.limits.max_bytes:
                    break
                if item.sha256 == keep:
                    continue
                drops.append((item, is_dead))
                total -= size
            dropped = Dropped()
            for item, is_dead in drops:
                size = item.size()
                measurements = item.meta.measurements or _count_lines_of(item.data_path)
                shutil.rmtree(item.folder, ignore_errors=True)
                if is_dead:
                    dropped = replace(dropped, dead_files=dropped.dead_files + 1)
                else:
                    dropped = replace(
                        dropped,
                        files=dropped.files + 1,
                        measurements=dropped.measurements + measurements,
                        bytes=dropped.bytes + size,
                    )
            if dropped:
                atomicfile.fsync_dir(self.ready_dir)
                atomicfile.fsync_dir(self.dead_dir)
                self._add_dropped(dropped, now)
        return dropped

    def _sweep_tmp(self, now: float) -> None:
        for entry in self.tmp_dir.iterdir():
            if now - _mtime(entry) > STALE_TMP_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)

    # --- the drop count ---------------------------------------------------------------------------------------

    def dropped(self) -> Dropped:
        """What the cap removed and no result file has reported yet."""
        path = self.root / "dropped.json"
        try:
            return Dropped(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return Dropped()
        except (OSError, ValueError, TypeError):
            # A damaged count must not hide drops: report that some happened, of unknown size.
            return Dropped(files=1, since=None)

    def acknowledge_dropped(self, reported: Dropped) -> None:
        """A result file reported `reported`: subtract it (drops counted meanwhile stay for the next file)."""
        if not reported:
            return
        with self._locked():
            current = self.dropped()
            left = Dropped(
                files=max(0, current.files - reported.files),
                measurements=max(0, current.measurements - reported.measurements),
                bytes=max(0, current.bytes - reported.bytes),
                dead_files=max(0, current.dead_files - reported.dead_files),
                since=current.since if current.since != reported.since else None,
            )
            self._write_dropped(left)

    def _add_dropped(self, more: Dropped, now: float) -> None:
        current = self.dropped()
        self._write_dropped(
            Dropped(
                files=current.files + more.files,
                measurements=current.measurements + more.measurements,
                bytes=current.bytes + more.bytes,
                dead_files=current.dead_files + more.dead_files,
                since=current.since or _iso(now),
            )
        )

    def _write_dropped(self, dropped: Dropped) -> None:
        path = self.root / "dropped.json"
        if not dropped:
            path.unlink(missing_ok=True)
            return
        atomicfile.write_atomic(path, json.dumps(asdict(dropped)).encode("utf-8"), mode=0o600)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _meta_bytes(meta: ItemMeta) -> bytes:
    return json.dumps(asdict(meta), indent=1).encode("utf-8")


def _count_lines(data: bytes) -> int:
    return sum(1 for line in data.splitlines() if line.strip())


def _count_lines_of(path: Path) -> int:
    try:
        return _count_lines(path.read_bytes())
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
