"""Bad input to the dataset commands: a clear message naming the problem, exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["upload"], "no collector: `probe init --collector URL` sets one"),
        (["upload", "--to", "ftp://collector.example"], "http:// or https://"),
        (["upload", "--to", "http://[::1"], "not a URL"),
        (["upload", "--to", "http://127.0.0.1:9", "--proxy", "socks4://127.0.0.1:1080"], "SOCKS5"),
        (["upload", "--to", "http://127.0.0.1:9", "--proxy", "socks5h://127.0.0.1"], "HOST:PORT"),
        (["upload", "--to", "http://127.0.0.1:9", "--budget", "0"], "--budget"),
        (["collector", "serve", "--store", "ftp://somewhere"], "--store"),
        (["collector", "serve", "--store", "s3://"], "s3://BUCKET"),
        (["collector", "serve", "--port", "70000"], "--port"),
        (["collector", "serve", "--workers", "0"], "--workers"),
        # Issue 21: nan and inf turned the rate limit off (a later bad option stops the collector from starting
        # had --rate passed).
        (["collector", "serve", "--rate", "nan", "--max-header-bytes", "1"], "--rate must be 0 or more"),
        (["collector", "serve", "--rate", "inf", "--max-header-bytes", "1"], "--rate must be 0 or more"),
        (["dataset", "export", "--since", "last week"], "--since"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBE_HOME", str(tmp_path))
    for variable in ("PROBE_COLLECTOR_URL", "PROBE_SOCKS_PROXY", "PROBE_UPLOAD", "PROBE_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_export_of_an_empty_store_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_HOME", str(tmp_path))
    (tmp_path / "store").mkdir()
    result = CliRunner().invoke(
        app, ["dataset", "export", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "0 raw files" in result.output


def test_export_of_a_store_folder_that_does_not_exist_fails_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped --store must not pass for an empty dataset."""
    monkeypatch.setenv("PROBE_HOME", str(tmp_path))
    result = CliRunner().invoke(
        app, ["dataset", "export", "--store", str(tmp_path / "stroe"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2, result.output
    assert "no such folder" in result.output
    assert not (tmp_path / "stroe").exists() and not (tmp_path / "out").exists()
