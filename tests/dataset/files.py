"""Real signed result files for the dataset tests and the ingest benchmark.

The lines are the runner's own output for the golden scenarios (tests/golden/*/measurements.jsonl), given a new
report id, start time and measurement ids, so every file is distinct; they are signed with the probe's signature module,
exactly as `probe run` signs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from probe import atomicfile, jsonlines, report, signing
from probe.minisign import SecretKey

GOLDEN = Path(__file__).parent.parent / "golden"


@dataclass(frozen=True)
class SignedFile:
    name: str
    data: bytes
    signature: bytes

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.data).hexdigest()


def golden_lines(scenario: str = "clean") -> list[dict[str, Any]]:
    return list(jsonlines.decode_lines((GOLDEN / scenario / "measurements.jsonl").read_bytes()))


def make_lines(scenario: str = "clean", start: datetime | None = None) -> list[dict[str, Any]]:
    """The scenario's lines as one new run started at `start` (default: now)."""
    when = (start or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S")
    report_id = report.new_report_id(when, "ZZ", "AS0")
    lines = []
    for line in golden_lines(scenario):
        line = dict(line)
        line.update(id=str(uuid.uuid4()), report_id=report_id, test_start_time=when, measurement_start_time=when)
        lines.append(line)
    return lines


def sign_lines(lines: list[dict[str, Any]], secret: SecretKey) -> SignedFile:
    data = jsonlines.encode_lines(lines)
    first = lines[0] if lines else {"test_start_time": "2026-01-01 00:00:00", "report_id": "x_" + uuid.uuid4().hex}
    name = atomicfile.result_path(Path("."), first["test_start_time"], first["report_id"]).name
    return SignedFile(name, data, signing.sign_result(data, name, secret))


def make_file(secret: SecretKey, scenario: str = "clean", start: datetime | None = None) -> SignedFile:
    """A fresh, distinct, signed result file."""
    return sign_lines(make_lines(scenario, start), secret)


def sign_bytes(data: bytes, secret: SecretKey, name: str = "garbage.jsonl") -> SignedFile:
    """Any bytes, properly signed (to prove the collector judges content, not only signatures)."""
    return SignedFile(name, data, signing.sign_result(data, name, secret))
