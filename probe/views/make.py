"""Make a report file: open the input, compute the tables, render the page, write it atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    import duckdb

    con = source.connect()
    try:
        found = source.open_dataset(con, dataset)
        computed = tables.compute(con, min_probes)
    except duckdb.Error as exc:  # a damaged or foreign Parquet file: name it, no traceback
        raise source.SourceError(f"{dataset}: cannot read it as the dataset: {exc}") from exc
    finally:
        con.close()
    options = page.Options("Messaging reachability: the dataset", command, "the dataset")
    return _write(out, page.render(computed, found, options), computed, found)


def results_report(results: Path, out: Path, command: str, probe_id: str = "") -> Made:
    """A volunteer's own result files under `results` as one HTML file at `out` (one probe: no network hidden)."""
    import duckdb

    con = source.connect()
    try:
        found = source.open_results(con, results, probe_id)
        computed = tables.compute(con, min_probes=1)
    except duckdb.Error as exc:
        raise source.SourceError(f"{results}: {exc}") from exc
    finally:
        con.close()
    options = page.Options("Messaging reachability: what this probe found", command, "this probe's results")
    return _write(out, page.render(computed, found, options), computed, found)


def _write(out: Path, html: str, computed: tables.Tables, found: source.Input) -> Made:
    data = html.encode("utf-8")
    atomicfile.write_atomic(out, data)
    return Made(out, len(data), computed, found)
