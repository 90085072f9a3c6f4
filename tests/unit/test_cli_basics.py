"""What a newcomer types first: `probe --version`, `-h` on every level."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from probe import __version__
from probe.cli import app


def test_version_prints_and_exits_0() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"probe {__version__}"


@pytest.mark.parametrize("argv", [["-h"], ["run", "-h"], ["key", "-h"], ["collector", "serve", "-h"]])
def test_dash_h_is_help(argv: list[str]) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: probe")
    assert result.stdout == CliRunner().invoke(app, [*argv[:-1], "--help"]).stdout
