"""A short history of runs in the state folder (`runs.json`), written by `probe run`, read by `probe status`.

Only what `probe status` shows: when, the vantage status, each service's verdict, the result file, what
retention pruned. It holds the last `KEEP` runs; the result files are the real record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from probe import atomicfile
from probe.local import paths

HISTORY_NAME = "runs.json"
KEEP = 50


class RunRecord(BaseModel):
    """One finished run."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    started: str  # UTC, ISO 8601
    finished: str
    vantage: str  # online | offline
    services: dict[str, str]  # service -> reachable | blocked | partial | inconclusive
    endpoints: int
    result_file: str | None = None
    pruned: int = 0  # result files removed by retention after this run


def history_path() -> Path:
    return paths.state_dir() / HISTORY_NAME


def read(path: Path | None = None) -> tuple[RunRecord, ...]:
    """Past runs, oldest first. A missing or damaged file is an empty history: it is a convenience, not a record."""
    try:
        raw = json.loads((path or history_path()).read_text(encoding="utf-8"))
        return tuple(RunRecord.model_validate(item) for item in raw)
    except (OSError, ValueError, TypeError, ValidationError):
        return ()


def append(record: RunRecord, path: Path | None = None) -> None:
    """Add `record`, keep the last KEEP, rewrite atomically."""
    target = path or history_path()
    records = (*read(target), record)[-KEEP:]
    paths.private_dir(target.parent)
    data = json.dumps([r.model_dump() for r in records], indent=1).encode("utf-8")
    atomicfile.write_atomic(target, data + b"\n", mode=0o600)


def service_summary(services: Mapping[str, str]) -> str:
    """`kakaotalk blocked, line reachable`: one line for a table."""
    return ", ".join(f"{name} {status}" for name, status in services.items()) or "no services"
