"""`probe report`: a volunteer's own results as one offline HTML file (the same page as `probe dataset report`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from probe.cli.common import fail


@contextlib.contextmanager
def report_errors() -> Iterator[None]:
    """The report's failures as the command line reports them: a message and exit 2, never a traceback."""
    try:
        yield
    except ImportError as exc:
        fail(f"the report needs its extra: pip install 'probe[report]' ({exc})")
    except OSError as exc:
        fail(f"cannot write the report: {exc.strerror or exc}")
    except ValueError as exc:  # SourceError, and anything else the input's content made impossible
        fail(str(exc))


def report(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    results_dir: Annotated[
        Path | None,
        typer.Option(help="The result files to show (default: the results folder `probe status` names)."),
    ] = None,
) -> None:
    """Write what this probe found over time as one self-contained HTML file with plots, from its own result
    files (no collector needed): each service's status by day, blocking methods, block episodes with the result
    file and line that show them, the vantage point's health, and the tables as CSV. It opens offline."""
    import shlex

    from probe.cli import volunteer

    folder = volunteer.settings().run.results_dir if results_dir is None else results_dir
    command = shlex.join(["probe", "report", "--results-dir", str(folder), "--out", str(out)])
    with report_errors():
        from probe.views.make import results_report

        made = results_report(folder, out, command)
    typer.echo(f"{made.path}: {made.size / 1e6:.1f} MB, {made.tables.provenance.measurements:,} measurements")
