"""What a newcomer types and reads first: `probe --version`, `-h` on every level, the consent text."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from probe import __version__
from probe.cli import app
from probe.local import consent


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


@pytest.mark.parametrize("collector", [None, "https://collector.example.org", "https://" + "c" * 60 + ".example.org"])
def test_the_consent_text_fits_a_terminal_and_says_where_uploads_go(collector: str | None) -> None:
    text = consent.text(collector)
    assert max(len(line) for line in text.splitlines()) <= 120  # the collector stands on a line of its own
    assert (collector or "probe init --collector URL") in text
