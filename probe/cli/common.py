"""What every command shares: exit codes and the one way to report a problem to the user."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

EXIT_BAD = 1  # `probe verify`: the signature does not hold
EXIT_BAD_INPUT = 2  # a file or option is wrong; the message names it
EXIT_CANNOT_MEASURE = 3  # e.g. no network at all; said so, and the offline result file is still written


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print `message` on stderr, prefixed so it stands out in cron mail and journald, and exit."""
    typer.echo(f"probe: {message}", err=True)
    raise typer.Exit(code)


def group(help: str) -> typer.Typer:
    """A command group (`probe key ...`): its help as plain text, like the top level's, because rendering help
    with rich costs more start-up than the rest of the command line together."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


# Options that mean the same for every command that measures (`probe run`, `probe helper serve`).
TargetsOption = Annotated[
    list[Path] | None, typer.Option("--targets", help="Target list (TOML); repeatable. Default: the bundled lists.")
]
ServiceOption = Annotated[
    list[str] | None, typer.Option("--service", help="Measure only this service (and the controls); repeatable.")
]
CAFileOption = Annotated[
    list[Path] | None, typer.Option("--ca-file", help="Extra trust anchors (PEM) for TLS and DoH; repeatable.")
]
