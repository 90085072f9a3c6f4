"""The results folders the probe wrote to: remembered once each, most recent last, readable when damaged."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.local import folders


def test_remember_keeps_each_folder_once_most_recent_last(tmp_path: Path) -> None:
    record = tmp_path / "folders.json"
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b, a):
        folders.remember(folder, record)
    assert folders.known(record) == (b, a)


def test_every_puts_the_current_folder_first_and_skips_gone_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBE_HOME", str(tmp_path / "home"))
    old, gone, current = tmp_path / "old", tmp_path / "gone", tmp_path / "current"
    old.mkdir()
    for folder in (old, gone, current):
        folders.remember(folder)
    assert folders.every(current) == (current, old)


def test_a_damaged_record_is_no_record(tmp_path: Path) -> None:
    record = tmp_path / "folders.json"
    for text in ("{not json", '{"a": 1}', '["relative/path", 3]'):
        record.write_text(text)
        assert folders.known(record) == ()
