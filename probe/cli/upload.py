"""`probe upload`: drain the upload spool to the collector; and the spool steps `probe run` takes around a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from probe.cli.common import fail

if TYPE_CHECKING:
    from probe.local.config import Upload
    from probe.local.spool import Dropped
    from probe.local.upload import DrainReport, Uploader

DRAIN_BEFORE_RUN = 20.0  # seconds: a backlog must not delay the measurement much
DRAIN_AFTER_RUN = 60.0
EXIT_NOT_DELIVERED = 1  # the spool still holds files after `probe upload` (a script may want to know)


def upload(
    to: Annotated[str | None, typer.Option("--to", help="Collector base URL (overrides the configured one).")] = None,
    proxy: Annotated[
        str | None, typer.Option(help="SOCKS5 proxy, e.g. socks5h://127.0.0.1:9050 for Tor (overrides settings).")
    ] = None,
    now: Annotated[bool, typer.Option("--now", help="Try at once, even if the last failure asked us to wait.")] = False,
    budget: Annotated[float, typer.Option(help="Stop starting new uploads after this many seconds.")] = 300.0,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
) -> None:
    """Upload the result files waiting in the spool, oldest first. Files the collector refuses for good go to the
    dead-letter folder with its reason; on network trouble the rest wait (with backoff) for the next try.
    Exit 0 when nothing is left waiting, 1 when some files still wait, 2 on bad settings or options."""
    from probe.local.spool import Spool
    from probe.local.upload import drain

    settings = _settings()
    uploader = _uploader(to or settings.collector_url, proxy or settings.socks_proxy, "--to")
    if budget <= 0:
        fail(f"--budget must be a positive number of seconds, not {budget:g}")
    spool = Spool()
    try:
        report = drain(spool, uploader, budget=budget, ignore_backoff=now, default_public_key=_public_key_line())
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


# --- the steps `probe run` takes (called from probe/cli/run.py) -------------------------------------------------


def uploads_enabled(option: bool | None) -> bool:
    """`--upload/--no-upload`, else the configured choice."""
    return _settings().enabled if option is None else option


def pending_drops() -> Dropped:
    """What the spool's cap dropped and no result file has reported yet (goes into the next file)."""
    from probe.local.spool import Spool

    return Spool().dropped()


def drain_before_run(quiet: bool) -> None:
    """Send what earlier runs left, within a short budget, before measuring."""
    settings = _settings()
    if settings.collector_url:
        _drain(settings, DRAIN_BEFORE_RUN, quiet)


def queue_and_drain(result_file: Path, signature_file: Path | None, reported: Dropped, quiet: bool) -> None:
    """Seal the new signed result file into the spool, clear the drop count it reported, and drain."""
    from probe.local.spool import Spool

    if signature_file is None:
        _say("upload: the result file is not signed, so it is not queued", quiet=False)
        return
    spool = Spool()
    try:
        spool.seal(result_file.read_bytes(), signature_file.read_bytes(), result_file.name, _public_key_line())
    except OSError as exc:
        _say(f"upload: cannot queue {result_file} ({exc.strerror or exc}); it stays in the results folder", False)
        return
    spool.acknowledge_dropped(reported)
    settings = _settings()
    if not settings.collector_url:
        _say("upload: queued; no collector is configured ([upload] collector_url, or `probe upload --to URL`)", quiet)
        return
    _drain(settings, DRAIN_AFTER_RUN, quiet)


def _drain(settings: Upload, budget: float, quiet: bool) -> None:
    from probe.local.spool import Spool
    from probe.local.upload import drain

    uploader = _uploader(settings.collector_url, settings.socks_proxy, "[upload] collector_url")
    try:
        report = drain(Spool(), uploader, budget=budget, default_public_key=_public_key_line())
    except OSError as exc:
        # The run's own result is safe in the results folder (and in the spool when sealing worked).
        _say(f"upload: cannot use the upload spool: {exc.strerror or exc}", quiet=False)
        return
    if report.delivered or report.duplicates or report.dead or report.next_attempt:
        _say(report.summary(), quiet=quiet and not report.dead)


# --- helpers --------------------------------------------------------------------------------------------------


def _settings() -> Upload:
    from probe.local.config import ConfigError, load

    try:
        return load().upload
    except ConfigError as exc:
        fail(f"bad configuration: {exc}")


def _uploader(url: str | None, proxy: str | None, option: str) -> Uploader:
    import httpx

    from probe.local.upload import Uploader

    if not url:
        fail("no collector: set [upload] collector_url in the configuration, or pass --to URL")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        fail(f"{option} {url}: not a URL ({exc})")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        fail(f"{option} {url}: a collector is an http:// or https:// URL")
    if proxy:
        try:
            proxy_url = httpx.URL(proxy)
        except httpx.InvalidURL as exc:
            fail(f"proxy {proxy}: not a URL ({exc})")
        if proxy_url.scheme not in ("socks5", "socks5h") or not proxy_url.host or not proxy_url.port:
            fail(f"proxy {proxy}: uploads go through a SOCKS5 proxy only: socks5h://HOST:PORT (or socks5://)")
    return Uploader(url=url, proxy=proxy)


def _public_key_line() -> str | None:
    """The probe's current public key line, sent with files sealed before the spool recorded keys."""
    from probe.local import keys

    try:
        public = keys.current_public()
    except (keys.KeyStoreError, OSError):
        return None
    return public.to_base64() if public else None


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


def _say(text: str, quiet: bool) -> None:
    # stderr: stdout belongs to the run's table or its --json object.
    if not quiet:
        typer.echo(text, err=True)
