"""Make a report file: open the input, compute the tables, render the page, write it atomically."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe import atomicfile
from probe.views import page, source, tables


@dataclass(frozen=True)
class Made:
    path: Path
    size: int
    tables: tables.Tables
    input: source.Input


def dataset_report(dataset: Path, out: Path, min_probes: int, command: str) -> Made:
    """The curated dataset under `dataset` as one HTML file at `out`."""
    options = page.Options("Messaging reachability: the dataset", command, "the dataset")
    return _make(lambda con: source.open_dataset(con, dataset), min_probes, options, out, dataset)


def results_report(results: Path, out: Path, command: str, probe_id: str = "") -> Made:
    """A volunteer's own result files under `results` as one HTML file at `out` (one probe: no network hidden)."""
    options = page.Options("Messaging reachability: what this probe found", command, "this probe's results")
    return _make(lambda con: source.open_results(con, results, probe_id), 1, options, out, results)


def _make(
    open_input: Callable[[Any], source.Input], min_probes: int, options: page.Options, out: Path, where: Path
) -> Made:
    import duckdb

    with tempfile.TemporaryDirectory(prefix="probe-report-") as spill:
        con = source.connect(Path(spill))
        try:
            found = open_input(con)
            computed = tables.compute(con, min_probes)
        except duckdb.Error as exc:  # a damaged or foreign Parquet file: name it, no traceback
            raise source.SourceError(f"{where}: cannot read it as the dataset: {exc}") from exc
        finally:
            con.close()
    data = page.render(computed, found, options).encode("utf-8")
    atomicfile.write_atomic(out, data)
    return Made(out, len(data), computed, found)
