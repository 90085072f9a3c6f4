"""The report's input as a DuckDB view `m`: one row per endpoint measurement, with the curated dataset's columns.

Two inputs give the same view: the curated Parquet tree (`probe dataset export --out DIR`, or a folder store's
`curated/v1/measurements/`), read by DuckDB itself with its Hive partitions; and a volunteer's own `results/`
folder, whose JSON lines become rows through the export's own `measurement_row`, so both reports count the same
things the same way. The input's hash (every file's path and sha256, hashed again in order) goes on the page: with
the command beside it, anyone can check that a report was built from the data they have.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe.collector import layout

# Columns a dataset exported by an older probe lacks; the view gives them as NULL so every query runs on it.
LATER_COLUMNS = {
    "vantage": "VARCHAR",
    "vantage_captive_portal": "BOOLEAN",
    "vantage_overloaded": "BOOLEAN",
    "vantage_role": "VARCHAR",
}
# A report runs on a shared machine next to a collector: bounded, and never downloading an extension.
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "threads": 2,
    "memory_limit": "512MB",
    "preserve_insertion_order": False,  # no query here needs the files' row order, and keeping it costs memory
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
_BATCH_ROWS = 20_000


class SourceError(ValueError):
    """The input cannot be read as a dataset (no such folder, no measurement in it)."""


@dataclass(frozen=True)
class Input:
    kind: str  # "dataset" | "results"
    files: int
    sha256: str  # of every file's relative path and content hash, in order
    skipped: tuple[str, ...] = ()  # files left out, each with why


def connect(spill: Path | None = None) -> Any:
    """A DuckDB connection with the report's limits; beyond the memory limit it spills to `spill` (a folder)."""
    import duckdb

    config = dict(DUCKDB_CONFIG)
    if spill is not None:
        config["temp_directory"] = str(spill)
    return duckdb.connect(config=config)


def open_dataset(con: Any, folder: Path) -> Input:
    """View `m` over the Parquet tree under `folder` (or under its `curated/v1/measurements/`)."""
    if not folder.is_dir():
        raise SourceError(f"{folder}: no such folder")
    curated = folder / layout.CURATED_PREFIX
    root = curated if curated.is_dir() else folder
    files = sorted(p for p in root.rglob("*.parquet") if p.is_file())
    if not files:
        raise SourceError(f"{folder}: no Parquet files (make them with `probe dataset export --out {folder}`)")
    listing = ", ".join(_literal(str(p)) for p in files)
    con.execute(
        f"CREATE VIEW raw AS SELECT * FROM read_parquet([{listing}], hive_partitioning = true, union_by_name = true)"
    )
    _finish_view(con)
    return Input("dataset", len(files), _hash_files(root, files))


def open_results(con: Any, folder: Path, probe_id: str = "") -> Input:
    """View `m` over the result files under a volunteer's `folder` (results/YYYY-MM-DD/*.jsonl)."""
    import pyarrow as pa

    from probe.collector.export import schema

    if not folder.is_dir():
        raise SourceError(f"{folder}: no such folder")
    files = sorted(p for p in folder.rglob("*.jsonl") if p.is_file())
    full = schema().append(pa.field("dt", pa.date32())).append(pa.field("service", pa.string()))
    skipped: list[str] = []
    batches = list(_result_batches(folder, files, probe_id, full, skipped))
    if not batches:
        raise SourceError(f"{folder}: no result files with measurements (`probe run` writes them there)")
    table = pa.Table.from_batches(batches, schema=full)
    con.register("raw", table)
    _finish_view(con)
    unread = {s.split(": ", 1)[0] for s in skipped if " line(s) " not in s}
    kept = [p for p in files if str(p.relative_to(folder)) not in unread]
    return Input("results", len(kept), _hash_files(folder, kept), tuple(skipped))


def _result_batches(folder: Path, files: Sequence[Path], probe_id: str, full: Any, skipped: list[str]) -> Iterator[Any]:
    import pyarrow as pa

    from probe import readfile
    from probe.collector.export import fitting_lines, measurement_row

    rows: list[dict[str, Any]] = []
    for path in files:
        try:  # bounded: a result file is a few MB (issue 21: every read has a size cap)
            data = readfile.read_bytes(path, readfile.RESULT_FILE)
        except OSError as exc:
            skipped.append(f"{path.relative_to(folder)}: cannot be read ({exc.strerror or exc})")
            continue
        sha = hashlib.sha256(data).hexdigest()
        # Lines that are no measurement of this shape (damaged, or edited by hand) are left out, as the export leaves
        # them out: the row builder reads fields by type, and raised on them (issue 21).
        name = str(path.relative_to(folder))
        misfits: list[tuple[str, str]] = []
        lines = list(fitting_lines(data, name, misfits))
        if misfits and not lines:  # a damaged file is named on the page, and the rest still counts
            skipped.append(f"{name}: {misfits[0][1]}")
            continue
        if misfits:
            skipped.append(f"{name}: {len(misfits)} line(s) that do not fit left out ({misfits[0][1]})")
        undated = 0
        for number, line in lines:
            service, row = measurement_row(line, probe_id, sha, number)
            if row["test_start_time"] is None:  # no day to put it on (the collector refuses such lines)
                undated += 1
                continue
            row["dt"] = row["test_start_time"].date()
            row["service"] = service
            rows.append(row)
        if undated:
            skipped.append(f"{path.relative_to(folder)}: {undated} line(s) without a test_start_time left out")
        if len(rows) >= _BATCH_ROWS:
            yield pa.RecordBatch.from_pylist(rows, schema=full)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=full)


def _finish_view(con: Any) -> None:
    """`m`: the input, read once into a compact table with only what the page needs.

    Every aggregate scans `m` again, and a year's export is thousands of small files: reading them once takes
    seconds, reading them for each query took half a minute. The table keeps ids as 64-bit hashes (a probe, a run,
    an endpoint group: distinct counts and groupings need no more, and no probe id stays in memory as text) and the
    witness columns only on blocking rows, so a million rows fit in about a hundred megabytes.
    """
    present = {row[0] for row in con.execute("DESCRIBE raw").fetchall()}
    later = "".join(f", CAST(NULL AS {kind}) AS {name}" for name, kind in LATER_COLUMNS.items() if name not in present)
    con.execute(f"CREATE VIEW padded AS SELECT *{later} FROM raw")
    con.execute(
        """
        CREATE TEMP TABLE m AS
        SELECT hash(probe_id) AS probe, hash(probe_id, report_id) AS run, CAST(dt AS DATE) AS dt, service,
               probe_cc, probe_asn,
               hash(coalesce(target_group, coalesce(input, '') || ' ' || coalesce(sni, ''))) AS endpoint_group,
               coalesce(core, true) AS core, coalesce(verdict, 'inconclusive') AS verdict, confidence,
               CASE WHEN verdict NOT IN ('ok', 'inconclusive') THEN src_sha256 END AS src_sha256,
               CASE WHEN verdict NOT IN ('ok', 'inconclusive') THEN src_line END AS src_line,
               list_version, analysis_version, software_version,
               vantage, vantage_captive_portal, vantage_overloaded
        FROM padded
        WHERE coalesce(vantage_role, 'probe') = 'probe'  -- a control vantage's own runs are no volunteer's
        """
    )


def _hash_files(root: Path, files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        content = hashlib.sha256()
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                content.update(chunk)
        digest.update(f"{path.relative_to(root).as_posix()}\0{content.hexdigest()}\n".encode())
    return digest.hexdigest()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
