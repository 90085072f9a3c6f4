"""`probe dataset export`: curated Parquet from the collector's raw zone."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from probe.cli.common import fail, group

app = group("The shared dataset built from the collector's raw zone.")


@app.command("export")
def export(
    store: Annotated[
        str | None,
        typer.Option(help="The collector's store: a folder or s3://BUCKET[/PREFIX] (default: as the collector)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the Parquet tree to this folder instead of the store's curated/v1/measurements/."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Rebuild only the days from this one on (YYYY-MM-DD); default: all days.")
    ] = None,
    s3_endpoint: Annotated[str | None, typer.Option(help="S3 endpoint URL (else AWS_ENDPOINT_URL).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
) -> None:
    """Rebuild the curated dataset: one row per endpoint measurement with its verdict and key observations,
    de-duplicated, in Hive-partitioned Parquet (dt=YYYY-MM-DD/service=NAME/part-0.parquet). Query it with DuckDB:
    SELECT * FROM read_parquet('DIR/**/*.parquet', hive_partitioning = true)."""
    from probe.collector.store import FileStore, StoreError, open_store

    start = None
    if since is not None:
        try:
            start = date.fromisoformat(since)
        except ValueError:
            fail(f"--since {since}: not a date (YYYY-MM-DD)")
    spec = store or str(_default_store())
    try:
        from probe.collector.export import export as run_export

        source = open_store(spec, s3_endpoint)
        if isinstance(source, FileStore) and not source.root.is_dir():
            # A mistyped folder would otherwise export nothing and succeed, and a daily job would never say so.
            fail(f"--store {spec}: no such folder (the store `probe collector serve --store` writes to)")
        report = run_export(source, out, start)
    except ImportError as exc:
        fail(f"the dataset export needs its extras: pip install 'probe[collector,s3]' ({exc})")
    except (ValueError, StoreError) as exc:
        fail(f"--store {spec}: {exc}")
    except OSError as exc:
        fail(f"cannot write the dataset: {exc.strerror or exc}")
    if json_output:
        summary = {"files": report.files, "rows": report.rows, "duplicates": report.duplicates,
                   "partitions": list(report.partitions),
                   "skipped": [{"key": k, "reason": r} for k, r in report.skipped]}  # fmt: skip
        typer.echo(json.dumps(summary))
        return
    typer.echo(
        f"{report.files} raw files -> {report.rows} rows in {len(report.partitions)} partitions"
        f" ({report.duplicates} duplicate rows left out)"
    )
    for key, reason in report.skipped:
        typer.echo(f"  left out {key}: {reason}", err=True)


def _default_store() -> Path:
    from probe.local import paths

    return paths.data_dir() / "collector"


@app.command("report")
def report(
    dataset: Annotated[
        Path, typer.Option(help="The curated dataset: the folder `probe dataset export --out` wrote, or a store.")
    ],
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    min_probes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Hatch cells measured by fewer distinct probes, and never name a network with fewer (merged into"
            " 'other networks', or left out).",
        ),
    ] = 3,
) -> None:
    """Write the dataset as one self-contained HTML file with plots, that opens offline: provenance, each
    service's status by country and day, networks, blocking methods over time, block episodes with witness
    measurements, vantage health, the aggregated tables as CSV, methods and caveats. Aggregates only."""
    import shlex

    from probe.cli.report import report_errors

    command = shlex.join(["probe", "dataset", "report", "--dataset", str(dataset), "--out", str(out),
                          "--min-probes", str(min_probes)])  # fmt: skip
    with report_errors():
        from probe.views.make import dataset_report

        made = dataset_report(dataset, out, min_probes, command)
    typer.echo(f"{made.path}: {made.size / 1e6:.1f} MB, {made.tables.provenance.measurements:,} measurements")
