"""Results signed but not yet sealed into the upload spool: a marker for each, so that a run killed in between
loses nothing.

Issue 21: a run killed after signing its result file and before sealing it into the spool (9 of 71 kills) left
the result unqueued for good: it sat in the results folder and no upload ever sent it. Now, when uploads are on,
the signer writes `pending/<result file name>.json` in the state folder (the folders the file may be written to)
before the file exists, and the run removes it once the file is sealed. The next run, and `probe upload`, seal
what a marker names (once: sealing the same bytes again queues nothing new) and remove the marker; a marker whose
file never came (the run died before writing it) is removed too.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from probe import atomicfile, wire
from probe.local import paths

FOLDER = "pending"
# At `probe upload` a marker without its file may belong to a run still measuring: left alone this long.
YOUNG_SECONDS = 3600.0


def folder() -> Path:
    return paths.state_dir() / FOLDER


def mark(name: str, results_dirs: Sequence[Path]) -> None:
    """Note that `name` (a result file's name) is about to be written into one of `results_dirs`."""
    record = {"name": name, "results_dirs": [str(d.absolute()) for d in results_dirs]}
    atomicfile.write_atomic(folder() / f"{name}.json", json.dumps(record).encode(), mode=0o600)


def unmark(name: str) -> None:
    with contextlib.suppress(OSError):
        (folder() / f"{name}.json").unlink()


def recover(seal: Callable[[Path, Path], None], *, spare_young: bool = False, now: float | None = None) -> Recovered:
    """Seal the result file each marker names (`seal(result_file, signature_file)`), removing its marker; remove
    the markers whose file never came. `spare_young`: leave a marker younger than YOUNG_SECONDS without its file
    (a run may be measuring now: `probe upload` runs beside it)."""
    sealed: list[Path] = []
    problems: list[str] = []
    now = time.time() if now is None else now
    try:
        markers = sorted(folder().glob("*.json"))
    except OSError as exc:
        return Recovered((), (f"cannot read {folder()}: {exc.strerror or exc}",))
    for marker in markers:
        try:
            record = json.loads(marker.read_bytes())
            name, dirs = str(record["name"]), [Path(d) for d in record["results_dirs"]]
            age = now - marker.stat().st_mtime
        except (OSError, ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                marker.unlink()  # not one of ours, or half of one
            continue
        result = _signed_result(dirs, name)
        if result is None:
            if not (spare_young and age < YOUNG_SECONDS):
                unmark(name)
            continue
        try:
            seal(result, wire.signature_path(result))
        except OSError as exc:
            problems.append(f"cannot queue {result}: {exc.strerror or exc}")
            continue  # the marker stays: the next run or upload tries again
        unmark(name)
        sealed.append(result)
    return Recovered(tuple(sealed), tuple(problems))


@dataclass(frozen=True)
class Recovered:
    sealed: tuple[Path, ...]
    problems: tuple[str, ...]


def _signed_result(results_dirs: list[Path], name: str) -> Path | None:
    """The result file `name` with its signature, in the day folder of one of `results_dirs`, if it is there."""
    day = f"{name[0:4]}-{name[4:6]}-{name[6:8]}"  # result names start with the run's YYYYMMDDTHHMMSSZ
    for results_dir in results_dirs:
        path = results_dir / day / name
        if path.is_file() and wire.signature_path(path).is_file():
            return path
    return None
