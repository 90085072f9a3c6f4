"""`probe run`: measure the target list, print what was found, write the result file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from probe.cli.common import EXIT_CANNOT_MEASURE, fail

if TYPE_CHECKING:
    from probe.runner import RunOutcome, Signer


def run(
    targets: Annotated[
        list[Path] | None, typer.Option("--targets", help="Target list (TOML); repeatable. Default: the bundled lists.")
    ] = None,
    service: Annotated[
        list[str] | None, typer.Option("--service", help="Measure only this service (and the controls); repeatable.")
    ] = None,
    resolver: Annotated[
        str | None,
        typer.Option(help="The resolver to test, ADDR[:PORT]. Default: the system's, from /etc/resolv.conf."),
    ] = None,
    doh: Annotated[
        list[str] | None, typer.Option("--doh", help="Trusted control resolver (DNS-over-HTTPS URL); repeatable.")
    ] = None,
    ca_file: Annotated[
        list[Path] | None, typer.Option("--ca-file", help="Extra trust anchors (PEM) for TLS and DoH; repeatable.")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds allowed for each network operation (default: settings, 5).")
    ] = None,
    results_dir: Annotated[
        Path | None, typer.Option(help="Where result files are written (default: settings, ./results).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a machine summary (JSON) and nothing else.")
    ] = False,
    no_capture: Annotated[
        bool, typer.Option("--no-capture", help="Never sniff packets, even with privileges.")
    ] = False,
    upload: Annotated[
        bool | None, typer.Option("--upload/--no-upload", help="Queue the result for upload (default: settings).")
    ] = None,
) -> None:
    """Measure every endpoint of the target list: DNS, TCP and TLS, with controls; print a per-service table and
    write a result file. Exit 0 when the run completed (whatever it found), 2 on bad input, 3 when nothing could
    be measured. Options left out take their value from the configuration (`probe config show`)."""
    from datetime import UTC, datetime

    from probe import targets as target_lists
    from probe.cli import volunteer
    from probe.net.doh import DEFAULT_DOH
    from probe.runner import RunConfig, progress_total
    from probe.runner import run as run_measurements

    settings = volunteer.settings()
    targets = targets or list(settings.run.targets) or None
    service = service or list(settings.run.services) or None
    resolver = resolver or settings.run.resolver
    doh = doh or list(settings.run.doh) or None
    ca_file = ca_file or list(settings.run.ca_files) or None
    timeout = settings.run.timeout if timeout is None else timeout
    results_dir = settings.run.results_dir if results_dir is None else results_dir
    if timeout <= 0:
        fail(f"--timeout must be a positive number of seconds, not {timeout}")
    try:
        selected = target_lists.load(targets)
    except target_lists.TargetsError as exc:
        fail("bad target list:\n  " + "\n  ".join(exc.problems))
    if service:
        known = {t.service for t in selected}
        unknown = sorted(set(service) - known)
        if unknown:
            fail(f"unknown --service {', '.join(unknown)}; the target list has: {', '.join(sorted(known))}")
        selected = target_lists.select(selected, service)
    address, port, label = _resolver(resolver)
    doh_urls = tuple(doh) if doh else DEFAULT_DOH
    for url in doh_urls:
        if not url.startswith("https://"):
            fail(f"--doh {url}: a DoH resolver is an https:// URL, e.g. https://1.1.1.1/dns-query")
    for path in ca_file or ():
        if not path.is_file():
            fail(f"--ca-file {path}: no such file")
    # Consent before anything leaves the machine (the spool drain below included).
    settings = volunteer.require_consent(settings, json_output)
    where = volunteer.locate(settings)
    from probe.cli import upload as spool_steps

    uploading = spool_steps.uploads_enabled(upload)
    drops = spool_steps.pending_drops() if uploading else None
    if uploading:
        spool_steps.drain_before_run(quiet=json_output)
    config = RunConfig(
        targets=selected,
        resolver=address,
        resolver_port=port,
        resolver_label=label,
        doh_urls=doh_urls,
        ca_files=tuple(ca_file or ()),
        timeout=timeout,
        results_dir=results_dir,
        options=(f"timeout={timeout:g}", f"resolver={label}", *(f"doh={u}" for u in doh_urls)),
        annotations=tuple(drops.annotations().items()) if drops else (),
        probe_cc=where.probe_cc,
        probe_asn=where.probe_asn,
        capture=settings.run.capture and not no_capture,
        asn_databases=tuple(settings.location.geoip_db),
    )
    signer = _signer()
    started = datetime.now(UTC)
    with volunteer.one_run_at_a_time():
        with volunteer.progress(progress_total(config.targets), json_output) as tick:
            try:
                outcome = run_measurements(dataclasses.replace(config, progress=tick), signer=signer)
            except _trust_errors() as exc:
                fail(f"--ca-file: {exc}")
        volunteer.after_run(outcome, settings, started, results_dir)
    if json_output:
        typer.echo(json.dumps(summary(outcome), sort_keys=False))
    else:
        typer.echo(table(outcome))
    if uploading and drops is not None and outcome.result_file is not None:
        spool_steps.queue_and_drain(outcome.result_file, outcome.signature_file, drops, quiet=json_output)
    if outcome.vantage.status.value == "offline":
        fail(
            f"no network: none of the {outcome.vantage.controls} control endpoints could be reached, so nothing was "
            f"measured (the result file says so: {outcome.result_file})",
            EXIT_CANNOT_MEASURE,
        )


def _signer() -> Signer:
    """Sign with the probe's key pair (made on first use). Loaded before measuring: a broken key file stops the
    run before any measurement is lost."""
    from probe import signing
    from probe.local import keys

    try:
        secret = keys.load_or_create()
    except (keys.KeyStoreError, OSError) as exc:
        fail(f"cannot load the probe key: {exc}")
    return lambda data, name: signing.sign_result(data, name, secret)


def _trust_errors() -> tuple[type[Exception], ...]:
    from probe.failures import CertificateError

    return (CertificateError,)


def _resolver(text: str | None) -> tuple[str, int, str]:
    """(address, port, label for result files): the system's resolver, or the one named."""
    from probe.net import resolvers

    try:
        found = resolvers.system() if text is None else resolvers.parse(text)
    except resolvers.NoSystemResolver as exc:
        fail(f"{exc}; name a resolver with --resolver ADDR[:PORT]", EXIT_CANNOT_MEASURE)
    except resolvers.ResolverError as exc:
        fail(f"--resolver {text}: {exc}")
    return found.address, found.port, found.label


def summary(outcome: RunOutcome) -> dict[str, Any]:
    """The `--json` object of the contract."""
    return {
        "result_file": str(outcome.result_file) if outcome.result_file else None,
        "signature_file": str(outcome.signature_file) if outcome.signature_file else None,
        "vantage": {
            "status": outcome.vantage.status.value,
            "probe_cc": _line_value(outcome, "probe_cc", "ZZ"),
            "probe_asn": _line_value(outcome, "probe_asn", "AS0"),
        },
        "endpoints": [
            {
                "service": m.target.service,
                "host": m.target.host,
                "port": m.target.port,
                "protocol": m.target.protocol,
                "verdict": v.verdict.value,
                "confidence": v.confidence.value,
                "evidence": list(v.evidence),
            }
            for m, v in zip(outcome.measured, outcome.verdicts, strict=True)
        ],
        "services": [{"service": s.service, "status": s.status.value} for s in outcome.services],
    }


def _line_value(outcome: RunOutcome, key: str, default: str) -> str:
    first = outcome.data[: outcome.data.find(b"\n")]  # not split(): that would copy the whole file
    if not first:
        return default
    value = json.loads(first).get(key, default)
    return str(value)


def table(outcome: RunOutcome) -> str:
    """A readable per-service table: each service's status, then its endpoints and the first evidence line."""
    lines = []
    by_service: dict[str, list[tuple[Any, Any]]] = {}
    for m, v in zip(outcome.measured, outcome.verdicts, strict=True):
        by_service.setdefault(m.target.service, []).append((m.target, v))
    status = {s.service: s.status.value for s in outcome.services}
    width = max((len(f"{t.host}:{t.port}") for pairs in by_service.values() for t, _ in pairs), default=20)
    for service, pairs in by_service.items():
        lines.append(f"{service:<12} {status.get(service, '').upper()}")
        for target, verdict in pairs:
            where = f"{target.host}:{target.port}"
            line = (
                f"  {where:<{width}}  {target.protocol:<3}  {verdict.verdict.value:<14} {verdict.confidence.value:<6}"
            )
            if verdict.verdict.value != "ok" and verdict.evidence:
                line += f"  {verdict.evidence[0]}"
            lines.append(line.rstrip())
    lines.append("")
    lines.append(f"vantage: {outcome.vantage.status.value}; result file: {outcome.result_file}")
    if outcome.signature_file:
        lines.append(f"signature: {outcome.signature_file}")
    return "\n".join(lines)
