"""`probe upload`: drain the upload spool to the collector (`probe run` drains it too: probe/lifecycle.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from probe.cli.common import fail

if TYPE_CHECKING:
    from probe.local.upload import DrainReport, Uploader

EXIT_NOT_DELIVERED = 1  # the spool still holds files after `probe upload` (a script may want to know)
MAX_BUDGET = 86400.0  # a day: more is no budget


def upload(
    to: Annotated[str | None, typer.Option("--to", help="Collector base URL (overrides the configured one).")] = None,
    proxy: Annotated[
        str | None, typer.Option(help="SOCKS5 proxy, e.g. socks5h://127.0.0.1:9050 for Tor (overrides settings).")
    ] = None,
    now: Annotated[bool, typer.Option("--now", help="Try at once, even if the last failure asked us to wait.")] = False,
    budget: Annotated[
        float, typer.Option(help="Seconds the whole upload may take (a file in flight is cut off then, and waits).")
    ] = 300.0,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
    all_results: Annotated[
        bool,
        typer.Option(
            "--all", help="First queue every signed result file in the results folders (made while uploads were off)."
        ),
    ] = False,
) -> None:
    """Upload the result files waiting in the spool, oldest first. Files the collector refuses for good go to the
    dead-letter folder with its reason; on network trouble the rest wait (with backoff) for the next try.
    Exit 0 when nothing is left waiting, 1 when some files still wait, 2 on bad settings or options."""
    from probe.cli.config import settings as load_settings
    from probe.lifecycle import public_key_line, queue_existing, recover_unqueued
    from probe.local.spool import Spool
    from probe.local.upload import drain

    everything = load_settings()
    settings = everything.upload
    uploader = _uploader(to or settings.collector_url, proxy or settings.socks_proxy, to, proxy)
    if not 0 < budget <= MAX_BUDGET:  # nan and inf too: either would lift the bound
        fail(f"--budget must be a number of seconds from 0 to {MAX_BUDGET:g}, not {budget:g}")
    spool = Spool()
    recover_unqueued(lambda text, _important: typer.echo(text, err=True), spare_young=True)
    if all_results:
        try:
            queued = queue_existing(everything.run.results_dir)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            fail(f"cannot queue the result files{where}: {exc.strerror or exc}", EXIT_NOT_DELIVERED)
        if not json_output:
            typer.echo(queued.summary())
    try:
        report = drain(spool, uploader, budget=budget, ignore_backoff=now, default_public_key=public_key_line())
    except OSError as exc:
        fail(f"cannot use the upload spool {spool.root}: {exc.strerror or exc}", EXIT_NOT_DELIVERED)
    if json_output:
        typer.echo(json.dumps(_report_json(report)))
    else:
        typer.echo(report.summary())
        for sha, reason in report.dead:
            typer.echo(f"  refused {sha[:16]}: {reason}")
        if report.dead:
            typer.echo(f"  dead-letter folder: {spool.dead_dir}")
    if report.remaining or report.busy:
        raise typer.Exit(EXIT_NOT_DELIVERED)


def _uploader(url: str | None, proxy: str | None, to: str | None, proxy_option: str | None) -> Uploader:
    """The uploader; a bad URL exits 2 naming the option, or the setting it came from."""
    from probe.local import config
    from probe.local.upload import BadUploadSetting, uploader

    if not url:
        fail("no collector: `probe init --collector URL` sets one, or pass --to URL")
    try:
        return uploader(url, proxy)
    except BadUploadSetting as exc:
        given = to if exc.key == "collector_url" else proxy_option
        option = "--to" if exc.key == "collector_url" else "--proxy"
        fail(f"{option if given else config.origin('upload', exc.key)}: {exc}")


def _report_json(report: DrainReport) -> dict[str, object]:
    return {
        "delivered": report.delivered,
        "duplicates": report.duplicates,
        "dead": [{"sha256": sha, "reason": reason} for sha, reason in report.dead],
        "remaining": report.remaining,
        "next_attempt": report.next_attempt,
        "last_error": report.last_error,
        "busy": report.busy,
    }
