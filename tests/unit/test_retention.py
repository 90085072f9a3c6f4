"""Retention on real files: age, size, what is never touched, and the log trim."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probe.local import retention

DAY = 86400.0
NOW = 1_800_000_000.0


def result(folder: Path, day: str, name: str, size: int, age_days: float, signed: bool = True) -> Path:
    """A result file (and its .minisig) `age_days` old."""
    path = folder / day / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    files = [path]
    if signed:
        signature = path.with_name(path.name + ".minisig")
        signature.write_bytes(b"s" * 300)
        files.append(signature)
    for f in files:
        os.utime(f, (NOW - age_days * DAY, NOW - age_days * DAY))
    return path


def test_results_older_than_the_limit_go_with_their_signatures(tmp_path: Path) -> None:
    old = result(tmp_path, "2026-01-01", "20260101T000000Z-a", 1000, 100)
    recent = result(tmp_path, "2026-04-01", "20260401T000000Z-b", 1000, 5)
    removed = retention.prune(tmp_path, days=90, megabytes=200, now=NOW)
    assert removed == (old,)
    assert not old.exists() and not old.with_name(old.name + ".minisig").exists()
    assert not old.parent.exists()  # the emptied day folder goes too
    assert recent.exists() and recent.with_name(recent.name + ".minisig").exists()


def test_oldest_go_first_until_the_folder_fits(tmp_path: Path) -> None:
    paths = [result(tmp_path, "2026-04-01", f"r{i}", 400_000, 10 - i) for i in range(5)]  # r0 oldest
    removed = retention.prune(tmp_path, days=90, megabytes=1, now=NOW)
    assert removed == tuple(paths[:3])
    assert retention.folder_size(tmp_path) <= 1_000_000
    assert [p.exists() for p in paths] == [False, False, False, True, True]


def test_the_result_just_written_is_kept_even_when_alone_too_big(tmp_path: Path) -> None:
    older = result(tmp_path, "2026-04-01", "older", 600_000, 2)
    newest = result(tmp_path, "2026-04-02", "newest", 2_000_000, 0)
    removed = retention.prune(tmp_path, days=90, megabytes=1, keep=[newest], now=NOW)
    assert removed == (older,)
    assert newest.exists()


def test_nothing_but_results_is_touched(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("results of probe run\n")
    own = tmp_path / "notes" / "mine.jsonl"  # not a day folder: the volunteer's own
    own.parent.mkdir()
    own.write_text("{}\n")
    other = tmp_path / "2026-01-01" / "keep.txt"
    other.parent.mkdir()
    other.write_text("mine")
    for f in (readme, own, other):
        os.utime(f, (NOW - 400 * DAY, NOW - 400 * DAY))
    old = result(tmp_path, "2026-01-01", "old", 10, 400)
    assert retention.prune(tmp_path, days=1, megabytes=1, now=NOW) == (old,)
    assert readme.exists() and own.exists() and other.exists()  # the day folder stays: it is not empty


def test_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert retention.prune(tmp_path / "nothing", days=1, megabytes=1) == ()
    assert retention.folder_size(tmp_path / "nothing") == 0


def test_names_with_glob_characters(tmp_path: Path) -> None:
    odd = result(tmp_path, "2026-01-01", "a[1]*?", 10, 400)
    assert retention.prune(tmp_path, days=1, megabytes=1, now=NOW) == (odd,)
    assert list(tmp_path.iterdir()) == []


def test_log_is_trimmed_to_its_tail_from_a_line_start(tmp_path: Path) -> None:
    log = tmp_path / "probe.log"
    lines = [f"probe: error number {i}\n".encode() for i in range(100_000)]
    log.write_bytes(b"".join(lines))
    assert retention.trim_log(log, limit=1 << 20, keep=64 << 10)
    text = log.read_bytes()
    assert len(text) <= 64 << 10
    assert text.startswith(b"probe: error number ")
    assert text.endswith(b"probe: error number 99999\n")
    assert not retention.trim_log(log, limit=1 << 20)  # small now: left alone
    assert not retention.trim_log(tmp_path / "absent.log")


def test_the_defaults_cannot_fill_a_small_disk() -> None:
    from probe.local.config import Retention

    assert Retention().megabytes <= 200


def test_a_group_write_that_fails_half_way_leaves_nothing(tmp_path: Path) -> None:
    """Issue 21: a full disk after the signature left a `.minisig` without its result file."""
    from probe import atomicfile

    signature = tmp_path / "day" / "r.jsonl.minisig"
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    with pytest.raises(OSError):
        atomicfile.write_group_atomic([(signature, b"sig"), (blocked / "r.jsonl", b"data")])
    assert not signature.exists()
