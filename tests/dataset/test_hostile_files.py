"""Validly signed files made to break the dataset (issue 21): lines whose fields have other types, JSON nested a
thousand deep, a file padded with blank lines. The collector refuses them at the door (422 naming what does not
fit, never 500), and `probe dataset export` skips and reports any such line already in the store, never crashing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from probe import jsonlines
from probe.collector import layout
from probe.collector.ingest import write_upload
from probe.collector.store import FileStore
from probe.minisign import SecretKey
from tests.dataset.files import SignedFile, make_lines, sign_bytes, sign_lines
from tests.dataset.servers import Collector
from tests.dataset.test_collector import put, raw_objects

DEEP = 1000  # the depth that made the collector answer 500 and the export raise RecursionError


def _with(line: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A copy of `line` with the value at a dotted path replaced."""
    line = json.loads(json.dumps(line))
    *parents, last = path.split(".")
    node = line
    for key in parents:
        node = node[key]
    node[last] = value
    return line


def misfits() -> dict[str, tuple[str, bytes]]:
    """name -> (what the refusal must name, the file's bytes), each the clean scenario with its first line altered."""
    good = make_lines()

    def altered(path: str, value: object) -> bytes:
        return jsonlines.encode_lines([_with(good[0], path, value), *good[1:]])

    # Built as text: json itself cannot write a list nested this deep.
    deep = jsonlines.encode_lines(good).replace(
        b'"annotations":{', b'"annotations":{"padding":' + b"[" * DEEP + b"]" * DEEP + b",", 1
    )
    return {
        "port a string": ("$.test_keys.target.port", altered("test_keys.target.port", "abc")),
        "target a string": ("$.test_keys.target", altered("test_keys.target", "x")),
        "id a number": ("$.id", altered("id", 5)),
        "port out of range": ("$.test_keys.target.port", altered("test_keys.target.port", 10**12)),
        "evidence of numbers": ("$.test_keys.evidence", altered("test_keys.evidence", [1, 2])),
        "nested a thousand deep": ("nested too deep", deep),
    }


def test_lines_that_do_not_fit_are_refused_at_the_door_naming_the_field(
    collector: Collector, secret: SecretKey, tmp_path: Path
) -> None:
    public = secret.public_key()
    for name, (named, data) in misfits().items():
        response = put(collector.url, sign_bytes(data, secret), public)
        assert response.status_code == 422, (name, response.text)
        assert named in response.json()["reason"], (name, response.text)
    good = sign_lines(make_lines(), secret).data
    padded = {
        "padded with blank lines": good + b"\n" * (4 * 1024 * 1024),  # cost 6-7 s of CPU, then was stored
        "a blank line between": good.replace(b"}\n", b"}\n\n", 1),
        "a line of megabytes": good + b'{"padding":"' + b"a" * (3 * 1024 * 1024) + b'"}\n',
    }
    for name, data in padded.items():
        response = put(collector.url, sign_bytes(data, secret), public)
        assert response.status_code == 422 and response.json()["code"] == "line", (name, response.text)
    assert raw_objects(tmp_path / "store") == []


def store_directly(store: FileStore, signed: SignedFile, secret: SecretKey) -> str:
    """Put a file in the raw zone as an older collector (without the shape check) would have stored it."""
    day = signed.data.split(b'"test_start_time":"', 1)[1][:10].decode()
    public = secret.public_key()
    store.put_new(layout.public_key(public.probe_id), public.to_file())
    write_upload(store, day, signed.sha256, signed.signature, signed.data)
    return layout.raw_body(day, signed.sha256)


def test_an_export_skips_and_reports_stored_lines_that_do_not_fit(tmp_path: Path, secret: SecretKey) -> None:
    store = FileStore(tmp_path / "store")
    good = sign_lines(make_lines(), secret)
    store_directly(store, good, secret)
    broken: dict[str, str] = {}  # raw key -> name
    for name, (_, data) in misfits().items():
        broken[store_directly(store, sign_bytes(data, secret), secret)] = name
    out = tmp_path / "dataset"
    done = subprocess.run(
        [sys.executable, "-m", "probe", "dataset", "export", "--store", str(store.root), "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PROBE_HOME": str(tmp_path / "home")},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    summary = json.loads(done.stdout)
    assert sorted(s["key"] for s in summary["skipped"]) == sorted(broken)
    assert all(s["reason"].startswith("line 1: ") for s in summary["skipped"]), summary["skipped"]
    # Every line that fits is exported: the good file whole, and the other lines of the broken files (the same
    # measurements in each of them, so once).
    lines_per_file = good.data.count(b"\n")
    expected = lines_per_file + lines_per_file - 1
    source = f"read_parquet('{out}/**/*.parquet', hive_partitioning = true)"
    relation = duckdb.sql(f"SELECT count(*) FROM {source}")
    assert relation is not None and relation.fetchall() == [(expected,)]
    assert summary["rows"] == expected
