"""The `probe` command line: a thin typer shell. The only place that prints for humans or picks an exit code.

Each command group lives in its own module and is registered here, explicitly. Command modules import only typer
at the top and load the rest inside the command, so `probe --help` stays instant.
"""

from __future__ import annotations

import typer

from probe.cli import (
    collector,
    config,
    dataset,
    helper,
    init,
    key,
    report,
    run,
    schedule,
    status,
    targets,
    upload,
    verify,
)

app = typer.Typer(
    name="probe",
    help="Measure whether messaging services are reachable from here, and how they are blocked when they are not.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help text: rendering it with rich costs more start-up than the whole CLI
    context_settings={"help_option_names": ["-h", "--help"]},  # every command inherits it
)


def _print_version(wanted: bool) -> None:
    # An option callback, eager: it runs while the options are parsed, before Click asks for a command.
    if wanted:
        from probe import __version__

        typer.echo(f"probe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    """Measure whether messaging services are reachable from here, and how they are blocked when they are not."""


app.command("run")(run.run)
app.add_typer(config.app, name="config")
app.command("verify")(verify.verify)
app.add_typer(key.app, name="key")
app.add_typer(targets.app, name="targets")
app.command("upload")(upload.upload)
app.add_typer(collector.app, name="collector")
app.add_typer(dataset.app, name="dataset")
app.add_typer(helper.app, name="helper")
app.command("init")(init.init)
app.add_typer(schedule.app, name="schedule")
app.command("status")(status.status)
app.command("report")(report.report)


def main() -> None:
    """Entry point of the console script and of `python -m probe` (the Docker image's way in): both are `probe`."""
    app(prog_name="probe")
