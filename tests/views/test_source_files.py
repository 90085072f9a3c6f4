"""`probe report` over a volunteer's result folder holding files it cannot use (issue 21): a line edited into
another shape (`test_keys.target = "x"` raised AttributeError and stopped the report), a file larger than any
result file (read whole before), a damaged one. Each is named and left out; every line that fits still counts."""

from __future__ import annotations

import json
from pathlib import Path

from probe import jsonlines, readfile
from probe.views import source
from tests.dataset.files import make_lines


def test_files_and_lines_that_do_not_fit_are_named_and_the_rest_counts(tmp_path: Path) -> None:
    day = tmp_path / "2026-01-15"
    day.mkdir()
    good = make_lines("clean")
    (day / "a-good.jsonl").write_bytes(jsonlines.encode_lines(good))
    edited = make_lines("clean")
    edited[0] = json.loads(json.dumps(edited[0]))
    edited[0]["test_keys"]["target"] = "x"
    (day / "b-edited.jsonl").write_bytes(jsonlines.encode_lines(edited))
    with (day / "c-huge.jsonl").open("wb") as huge:
        huge.truncate(readfile.RESULT_FILE + 1)  # sparse: no disk, and no memory unless read whole
    (day / "d-damaged.jsonl").write_bytes(b'{"not": "a measurement"\n')
    con = source.connect()
    found = source.open_results(con, tmp_path)
    skipped = "\n".join(found.skipped)
    assert "2026-01-15/b-edited.jsonl: 1 line(s) that do not fit left out (line 1: " in skipped, skipped
    assert "$.test_keys.target" in skipped
    assert "2026-01-15/c-huge.jsonl: cannot be read (larger than" in skipped
    assert "2026-01-15/d-damaged.jsonl: line 1: not JSON" in skipped
    assert found.files == 2  # the good file and the edited one, whose other lines count
    assert con.execute("SELECT count(*) FROM m").fetchone() == (2 * len(good) - 1,)
