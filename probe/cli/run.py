"""`probe run`: measure the target list, print what was found, write the result file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from probe.cli.common import EXIT_BAD_INPUT, EXIT_CANNOT_MEASURE, CAFileOption, ServiceOption, TargetsOption, fail

if TYPE_CHECKING:
    from probe.runner import RunOutcome


def run(
    targets: TargetsOption = None,
    service: ServiceOption = None,
    resolver: Annotated[
        str | None,
        typer.Option(help="The resolver to test, ADDR[:PORT]. Default: the system's, from /etc/resolv.conf."),
    ] = None,
    doh: Annotated[
        list[str] | None, typer.Option("--doh", help="Trusted control resolver (DNS-over-HTTPS URL); repeatable.")
    ] = None,
    ca_file: CAFileOption = None,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds allowed for each network operation (default: settings, 5).")
    ] = None,
    results_dir: Annotated[
        Path | None,
        typer.Option(help="Where result files are written (default: the results folder `probe status` names)."),
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
    no_controls: Annotated[
        bool,
        typer.Option(
            "--no-controls",
            help="Leave out the bundled control endpoints (which --targets lists get too); a list's own controls "
            "stay. Without any control, every blocking verdict is low confidence at most.",
        ),
    ] = False,
    helper: Annotated[
        list[str] | None,
        typer.Option("--helper", help="Control vantage (probe helper serve) base URL; repeatable, tried in turn."),
    ] = None,
    helper_key: Annotated[
        list[str] | None,
        typer.Option(
            "--helper-key", help="Public key (RW... line, or a .pub file) a helper's view must be signed with."
        ),
    ] = None,
    no_helper: Annotated[
        bool, typer.Option("--no-helper", help="Ask no control vantage, whatever is configured.")
    ] = False,
    no_transfer: Annotated[
        bool,
        typer.Option("--no-transfer", help="Skip the capped stall/throttle transfers (at most 4 MiB a run)."),
    ] = False,
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            metavar="NAME=FILE",
            help="Replace the bundled trust anchor NAME (a target list's `ca`, e.g. signal) with FILE (PEM); "
            "repeatable.",
        ),
    ] = None,
) -> None:
    """Measure every endpoint of the target list: DNS, TCP and TLS, with controls; print a per-service table and
    write a result file. Exit 0 when the run completed (whatever it found), 2 on bad input, 3 when nothing could
    be measured. Options left out take their value from the configuration (`probe config show`)."""
    from probe import lifecycle
    from probe.cli import volunteer

    options = lifecycle.Options(
        targets=tuple(targets or ()),
        services=tuple(service or ()),
        resolver=resolver,
        doh=tuple(doh or ()),
        ca_files=tuple(ca_file or ()),
        timeout=timeout,
        results_dir=results_dir,
        capture=not no_capture,
        upload=upload,
        no_controls=no_controls,
        helper_urls=tuple(helper or ()),
        helper_keys=tuple(helper_key or ()),
        no_helper=no_helper,
        transfer=not no_transfer,
        anchors=tuple(anchor or ()),
    )

    def show(outcome: RunOutcome) -> None:
        if json_output:
            typer.echo(json.dumps(summary(outcome), sort_keys=False))
        elif outcome.vantage.status.value != "offline":  # offline: one line says it all (below), not one per endpoint
            typer.echo(table(outcome))

    hooks = lifecycle.Hooks(
        notice=lambda text, important: volunteer.notice(text, quiet=json_output and not important),
        ask_consent=volunteer.consent_asker(),
        progress=lambda steps, endpoints: volunteer.progress(steps, endpoints, json_output),
        show=show,
    )
    try:
        outcome = lifecycle.run(options, volunteer.settings(), hooks)
    except lifecycle.Stop as exc:
        fail(str(exc), EXIT_CANNOT_MEASURE if exc.cannot_measure else EXIT_BAD_INPUT)
    if outcome.vantage.status.value == "offline":
        if outcome.vantage.controls:
            why = f"none of the {outcome.vantage.controls} control endpoints could be reached, so nothing was measured"
        else:
            why = "the list has no controls and no endpoint could be reached, so nothing tells censorship from that"
        fail(f"no network: {why} (the result file says so: {outcome.result_file})", EXIT_CANNOT_MEASURE)


def summary(outcome: RunOutcome) -> dict[str, Any]:
    """The `--json` object of the contract."""
    from probe.report import family_verdicts

    return {
        "result_file": str(outcome.result_file) if outcome.result_file else None,
        "signature_file": str(outcome.signature_file) if outcome.signature_file else None,
        "vantage": {
            "status": outcome.vantage.status.value,
            "probe_cc": _line_value(outcome, "probe_cc", "ZZ"),
            "probe_asn": _line_value(outcome, "probe_asn", "AS0"),
            "helper": outcome.vantage.helper,
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
                "families": family_verdicts(v),
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
    if outcome.vantage.helper != "off":
        lines.append(
            f"control vantage: {outcome.vantage.helper}" + "".join(f"\n  {r}" for r in outcome.vantage.helper_reasons)
        )
    if outcome.signature_file:
        lines.append(f"signature: {outcome.signature_file}")
    return "\n".join(lines)
