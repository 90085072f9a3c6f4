"""`probe init`: first-run informed consent and the upload choice; `ask_consent()`, which `probe run` uses too."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from probe.cli.common import fail

if TYPE_CHECKING:
    from probe.local.config import Settings, Upload


def interactive() -> bool:
    """Someone can answer a question: stdin is a terminal (cron, systemd and Docker without -t are not)."""
    return sys.stdin.isatty()


def ask_consent(
    settings: Settings, upload: bool | None, err: bool, collector_url: str | None = None
) -> Settings | None:
    """Show the consent text, ask for agreement and (unless `upload` decides it) whether to upload; record the
    answer. Returns the saved settings, or None when the volunteer declined (nothing is recorded then). `err` puts
    the text and questions on stderr, so that `probe run --json` keeps stdout for JSON."""
    from probe.local import consent

    typer.echo(consent.text(settings.upload.collector_url), err=err)
    try:
        if not typer.confirm("Do you understand the risks, and do you want this machine to run probe?", err=err):
            return None
        if upload is None:
            where = settings.upload.collector_url or "a collector (none yet: `probe init --collector URL` sets one)"
            upload = typer.confirm(f"Upload result files to {where}? Answer no to keep them on this machine", err=err)
    except typer.Abort:  # Ctrl-C or end of input at a question: no answer is no consent
        typer.echo("", err=err)
        fail("no consent given: nothing recorded, nothing measured")
    saved = consent.record(upload, collector_url)
    _report(saved, err)
    return saved


def _report(saved: Settings, err: bool) -> None:
    from probe.local import config

    typer.echo(f"Consent recorded in {config.config_path()}.", err=err)
    if saved.upload.enabled:
        where = saved.upload.collector_url or "nowhere yet: `probe init --collector URL` or `probe config set`"
        typer.echo(f"Uploads: on, to {where}.", err=err)
    else:
        typer.echo("Uploads: off; results stay on this machine (`probe init --upload` turns them on).", err=err)


def init(
    accept_risks: Annotated[
        bool,
        typer.Option(
            "--accept-risks",
            help="Record consent without asking (automation, Docker): you have read the text `probe init` prints.",
        ),
    ] = False,
    upload: Annotated[
        bool | None,
        typer.Option("--upload/--no-upload", help="Upload result files, or keep them here (default: ask; else off)."),
    ] = None,
    collector: Annotated[
        str | None,
        typer.Option("--collector", metavar="URL", help="The collector to upload to (implies --upload)."),
    ] = None,
) -> None:
    """First-run informed consent: what probe does, what leaves this machine, the risks of running it where the
    Internet is censored, and the choice to upload results or keep them local. Exit 0 when consent is recorded,
    2 when it was declined or cannot be asked (no terminal and no --accept-risks)."""
    from probe.cli.config import settings as load_settings
    from probe.local import consent

    current = load_settings()
    if collector is not None:
        current = current.model_copy(update={"upload": _with_collector(current, collector)})
        upload = True if upload is None else upload
    if accept_risks:
        _report(consent.record(upload, collector), err=False)
    elif not interactive():
        typer.echo(consent.text(current.upload.collector_url))
        fail("no terminal to answer on: read the text above, then run `probe init --accept-risks` to agree")
    elif ask_consent(current, upload, err=False, collector_url=collector) is None:
        fail("consent declined: nothing recorded, and probe will not measure")
    typer.echo("Next: `probe run` measures once; `probe schedule install` measures unattended; `probe status`.")


def _with_collector(current: Settings, url: str) -> Upload:
    """The upload settings with `url` as the collector, checked as the configuration file checks it."""
    from pydantic import ValidationError

    from probe.local import config

    try:
        return config.Upload.model_validate({**current.upload.model_dump(), "collector_url": url})
    except ValidationError as exc:
        fail(f"--collector {url}: " + "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))
