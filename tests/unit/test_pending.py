"""The notes of results signed but not yet queued (probe.local.pending, issue 21), on real files: what a run killed
at each step leaves is queued once, or forgotten when there is nothing to queue; a note that cannot be acted on
now stays for the next try."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probe.local import pending

NOW = 1_800_000_000.0
NAME = "20270115T080000Z-0123456789ab.jsonl"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROBE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def written(results: Path, name: str = NAME, signed: bool = True) -> Path:
    path = results / "2027-01-15" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"{}\n")
    if signed:
        path.with_name(name + ".minisig").write_bytes(b"sig")
    return path


def aged(name: str, seconds: float) -> None:
    os.utime(pending.folder() / f"{name}.json", (NOW - seconds, NOW - seconds))


def test_a_result_written_and_never_queued_is_queued_once(tmp_path: Path) -> None:
    results, fallback = tmp_path / "results", tmp_path / "fallback"
    pending.mark(NAME, [results, fallback])
    path = written(fallback)  # the run fell back to the state folder, then was killed
    sealed: list[tuple[Path, Path]] = []
    recovered = pending.recover(lambda r, s: sealed.append((r, s)), now=NOW)
    assert recovered.sealed == (path,) and sealed == [(path, path.with_name(NAME + ".minisig"))]
    assert pending.recover(lambda r, s: sealed.append((r, s)), now=NOW).sealed == ()
    assert len(sealed) == 1


def test_a_note_whose_file_never_came_is_dropped_unless_a_run_may_still_write_it(tmp_path: Path) -> None:
    results = tmp_path / "results"
    pending.mark(NAME, [results])
    written(results, signed=False)  # a result without its signature is no signed result
    aged(NAME, 60)
    assert pending.recover(lambda r, s: None, spare_young=True, now=NOW).sealed == ()
    assert (pending.folder() / f"{NAME}.json").exists()  # `probe upload` beside a run that is measuring
    aged(NAME, pending.YOUNG_SECONDS + 1)
    pending.recover(lambda r, s: None, spare_young=True, now=NOW)
    assert not (pending.folder() / f"{NAME}.json").exists()


def test_a_note_that_cannot_be_queued_stays_and_a_damaged_one_goes(tmp_path: Path) -> None:
    results = tmp_path / "results"
    pending.mark(NAME, [results])
    written(results)
    (pending.folder() / "half.jsonl.json").write_bytes(b'{"name": ')

    def full(result: Path, signature: Path) -> None:
        raise OSError(28, "No space left on device")

    recovered = pending.recover(full, now=NOW)
    assert recovered.sealed == () and recovered.problems == (f"cannot queue {results / '2027-01-15' / NAME}: "
                                                             "No space left on device",)  # fmt: skip
    assert sorted(p.name for p in pending.folder().iterdir()) == [f"{NAME}.json"]
    assert pending.recover(lambda r, s: None, now=NOW).sealed == (results / "2027-01-15" / NAME,)
