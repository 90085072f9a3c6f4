"""`probe helper serve` / `probe helper key`: the project's control vantage (issue 17)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from probe.cli.common import EXIT_CANNOT_MEASURE, CAFileOption, ServiceOption, TargetsOption, fail, group

app = group("The control vantage: measure the target lists from here, and serve the signed view to probes.")


def _state(state_dir: Path | None) -> Path:
    from probe.local import paths

    return state_dir if state_dir is not None else paths.data_dir() / "helper"


StateDir = Annotated[
    Path | None, typer.Option(help="Where the helper keeps its key, view and results (default: data folder's helper/).")
]


@app.command("key")
def key(
    state_dir: StateDir = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
) -> None:
    """Print the helper's public key (made on first use): probes need it (`--helper-key`, `[control]
    helper_key`) to accept the helper's views."""
    from probe.local import keys

    folder = _state(state_dir) / "key"
    try:
        public = keys.load_or_create(folder).public_key()
    except (keys.KeyStoreError, OSError) as exc:
        fail(f"cannot load the helper key in {folder}: {exc}")
    if json_output:
        typer.echo(
            json.dumps({"helper_id": public.probe_id, "key_id": public.key_id_hex, "public_key": public.to_base64()})
        )
        return
    typer.echo(public.to_file().decode("ascii"), nl=False)
    typer.echo(f"helper id: {public.probe_id}\nfile: {keys.key_files(folder).public}")


@app.command("serve")
def serve(
    state_dir: StateDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    targets: TargetsOption = None,
    service: ServiceOption = None,
    resolver: Annotated[
        str | None, typer.Option(help="The resolver to use, ADDR[:PORT]. Default: the system's, from /etc/resolv.conf.")
    ] = None,
    doh: Annotated[list[str] | None, typer.Option("--doh", help="DoH control resolver URL; repeatable.")] = None,
    ca_file: CAFileOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds allowed for each network operation.")] = 5.0,
    every: Annotated[float, typer.Option(help="Seconds from the start of one round to the start of the next.")] = 300.0,
    probe_cc: Annotated[str, typer.Option(help="The helper's country code, for its result files and view.")] = "ZZ",
    probe_asn: Annotated[str, typer.Option(help="The helper's network (ASnnn).")] = "AS0",
    collector: Annotated[
        str | None,
        typer.Option(help="Upload the helper's own result files to this collector (the dataset's controls)."),
    ] = None,
    proxy: Annotated[str | None, typer.Option(help="SOCKS proxy for those uploads.")] = None,
    rate: Annotated[
        float, typer.Option(help="View requests per second allowed per caller, on average (0: no limit).")
    ] = 1.0,
    burst: Annotated[int, typer.Option(help="View requests a caller may send at once before the rate applies.")] = 30,
    keep_days: Annotated[int, typer.Option(help="Days the helper keeps its own result files.")] = 7,
    keep_mb: Annotated[int, typer.Option(help="Megabytes of its own result files the helper keeps at most.")] = 1000,
) -> None:
    """Measure every endpoint of the target lists from this network every few minutes (and on demand: `POST
    /v1/measure`), with the probe's own code, and serve the latest view, signed with the helper's key, at `GET
    /v1/view`. Only endpoints of the lists are measured: it is no proxy. Put TLS in front when it faces the
    Internet. Exit 2 on bad options, 3 when the measurement loop stops."""
    import os

    from probe import targets as target_lists
    from probe.helper.settings import SETTINGS_VARIABLE, HelperSettings
    from probe.local import config, keys
    from probe.net import resolvers

    if not 0 < port < 65536:
        fail(f"--port {port}: must be 1-65535")
    problem = config.option_problem("run", "timeout", timeout)  # the rule of probe run's --timeout (issue 21)
    if problem is not None:
        fail(f"--timeout {timeout:g}: {problem}")
    if not 0 < every < math.inf:  # (nan fails every comparison)
        fail("--timeout and --every must be positive numbers of seconds")
    if not 0 <= rate < math.inf or burst < 1:  # nan or inf turned the limit off
        fail("--rate must be 0 or more and --burst at least 1")
    if keep_days < 1 or keep_mb < 1:
        fail("--keep-days and --keep-mb must be at least 1")
    try:
        where = config.Location(probe_cc=probe_cc, probe_asn=probe_asn)
        uploads = config.Upload(collector_url=collector, socks_proxy=proxy)
        config.Run(doh=tuple(doh or ()))
    except ValueError as exc:
        fail(f"bad option: {exc}")
    try:
        selected = target_lists.load(targets)
    except target_lists.TargetsError as exc:
        fail("bad target list:\n  " + "\n  ".join(exc.problems))
    unknown = sorted(set(service or ()) - {t.service for t in selected})
    if unknown:
        fail(f"unknown --service {', '.join(unknown)}")
    for path in ca_file or ():
        if not path.is_file():
            fail(f"--ca-file {path}: no such file")
    try:
        found = resolvers.system() if resolver is None else resolvers.parse(resolver)
    except resolvers.NoSystemResolver as exc:
        fail(f"{exc}; name a resolver with --resolver ADDR[:PORT]", EXIT_CANNOT_MEASURE)
    except resolvers.ResolverError as exc:
        fail(f"--resolver {resolver}: {exc}")
    state = _state(state_dir).absolute()
    try:
        keys.load_or_create(state / "key")
        (state / "demand").mkdir(parents=True, exist_ok=True)
    except (keys.KeyStoreError, OSError) as exc:
        fail(f"cannot use the state folder {state}: {exc}")
    settings = HelperSettings(
        state_dir=str(state),
        targets=tuple(str(p.absolute()) for p in targets or ()),
        services=tuple(service or ()),
        resolver=found.address,
        resolver_port=found.port,
        resolver_label=found.label,
        doh=tuple(doh or ()),
        ca_files=tuple(str(p.absolute()) for p in ca_file or ()),
        timeout=timeout,
        every=every,
        probe_cc=where.probe_cc or "ZZ",
        probe_asn=where.probe_asn or "AS0",
        collector_url=uploads.collector_url,
        socks_proxy=uploads.socks_proxy,
        rate=rate,
        burst=burst,
        keep_days=keep_days,
        keep_megabytes=keep_mb,
    )
    os.environ[SETTINGS_VARIABLE] = settings.to_environment()
    try:
        import uvicorn
    except ImportError:
        fail("the helper needs its extras: pip install 'probe[helper]'")
    from probe.helper import serve as serving

    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,  # an access log would keep volunteers' addresses: none is kept
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": 5,
    }
    try:
        stopped = serving.serve(uvicorn, host, port, options)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    if stopped is not None:
        fail(f"the measurement loop stopped ({stopped}); its messages are above", EXIT_CANNOT_MEASURE)
