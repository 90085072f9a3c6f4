"""`probe collector serve`: the service that receives uploads and keeps the raw zone of the dataset."""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from probe.cli.common import fail, group

app = group("The collector: receive signed result files from probes.")


@app.command("serve")
def serve(
    store: Annotated[
        str | None,
        typer.Option(help="A folder, or s3://BUCKET[/PREFIX] (default: the data folder's collector/)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes (they share the port and the store).")] = 1,
    s3_endpoint: Annotated[
        str | None, typer.Option(help="S3 endpoint URL, e.g. http://127.0.0.1:8333 (else AWS_ENDPOINT_URL).")
    ] = None,
    max_bytes: Annotated[int, typer.Option(help="Largest result file accepted, in bytes.")] = 8 * 1024 * 1024,
    rate: Annotated[float, typer.Option(help="Uploads per second allowed per probe, on average (0: no limit).")] = 2.0,
    burst: Annotated[int, typer.Option(help="Uploads a probe may send at once before the rate applies.")] = 120,
    new_keys_per_hour: Annotated[
        int, typer.Option(help="Probe keys first seen from one client address (IPv6: a /64) per hour (0: no limit).")
    ] = 20,
    header_timeout: Annotated[
        float, typer.Option(help="Seconds a request's headers may take to arrive (from the connection).")
    ] = 10.0,
    body_timeout: Annotated[float, typer.Option(help="Seconds a request's whole body may take to arrive.")] = 120.0,
    max_header_bytes: Annotated[int, typer.Option(help="Largest request head (request line and headers).")] = 16384,
    connections_per_address: Annotated[
        int, typer.Option(help="Connections one client address may hold open to each worker (0: no cap).")
    ] = 16,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(help="A reverse proxy's address: its X-Forwarded-For names the client (repeatable)."),
    ] = None,
    control_key: Annotated[
        list[Path] | None,
        typer.Option(help="A control vantage's public key (probe helper serve): its files are the dataset's controls."),
    ] = None,
) -> None:
    """Serve `PUT /v1/results/{sha256}` and `GET /health` until stopped. Every file is checked (size, sha256,
    minisign signature and trusted comment, plausible measurements) and kept immutably, content-addressed; 201 is
    sent only once the bytes are durable. Put TLS in front (a reverse proxy) when it faces the Internet."""
    import os

    from probe.collector import layout
    from probe.collector import workers as collector_workers
    from probe.collector.settings import SETTINGS_VARIABLE, CollectorSettings
    from probe.collector.store import StoreError, open_store

    if not 0 < port < 65536:
        fail(f"--port {port}: must be 1-65535")
    if workers < 1:
        fail(f"--workers {workers}: must be at least 1")
    if max_bytes < 1024:
        fail(f"--max-bytes {max_bytes}: must be at least 1024")
    if not 0 <= rate < math.inf or burst < 1:  # nan or inf turned the limit off (nan fails every comparison)
        fail("--rate must be 0 or more and --burst at least 1")
    if new_keys_per_hour < 0 or connections_per_address < 0:
        fail("--new-keys-per-hour and --connections-per-address must be 0 or more")
    for name, seconds in (("--header-timeout", header_timeout), ("--body-timeout", body_timeout)):
        if not 0 < seconds <= 3600:  # also refuses nan and inf
            fail(f"{name} {seconds}: must be more than 0 and at most 3600 seconds")
    if max_header_bytes < 1024:
        fail(f"--max-header-bytes {max_header_bytes}: must be at least 1024")
    proxies = tuple(trusted_proxy or ())
    for address in proxies:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            fail(f"--trusted-proxy {address}: not an IP address")
    spec = store or str(_default_store())
    controls = _control_keys(control_key or [])
    try:
        opened = open_store(spec, s3_endpoint)
        opened.check()
        for public in controls:  # registered in the store, where the dataset export finds them
            opened.replace(layout.control_key(public.probe_id), public.to_file())
    except (ValueError, StoreError, OSError) as exc:
        fail(f"--store {spec}: {exc}")
    except ImportError as exc:
        fail(f"the collector needs its extras: pip install 'probe[collector,s3]' ({exc})")
    settings = CollectorSettings(
        store=spec,
        endpoint_url=s3_endpoint,
        max_bytes=max_bytes,
        rate=rate,
        burst=burst,
        new_keys_per_hour=new_keys_per_hour,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        max_header_bytes=max_header_bytes,
        connections_per_address=connections_per_address,
        trusted_proxies=proxies,
    )
    os.environ[SETTINGS_VARIABLE] = settings.to_environment()
    collector_workers.raise_open_files_limit()
    try:
        import uvicorn
    except ImportError:
        fail("the collector needs its extras: pip install 'probe[collector]'")
    app_factory = "probe.collector.app:app_from_environment"
    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,  # an access log would keep volunteers' addresses: none is kept
        # Only a trusted proxy's X-Forwarded-For is believed: the client address is what the privacy check and
        # the new-key limit judge.
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": list(proxies),
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        "http": "probe.collector.guard:GuardedProtocol",  # header and body deadlines, caps (guard.py)
        "timeout_keep_alive": 5,
    }
    try:
        # A collector killed a moment ago may have left workers that still hold the port for a second or two.
        collector_workers.wait_for_port(host, port)
    except OSError as exc:
        fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (waited {collector_workers.PORT_WAIT:.0f} s: "
            "another collector, or the workers of one just killed, hold it)"
        )
    where = f"[{host}]" if ":" in host else host
    count = f"{workers} worker{'s' if workers > 1 else ''}"
    typer.echo(f"probe collector: listening on http://{where}:{port} ({count}), store {spec}", err=True)
    if workers > 1 and collector_workers.BALANCED:
        try:
            collector_workers.serve(app_factory, host, port, workers, options)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        except collector_workers.WorkerFailed as exc:
            fail(f"{exc} (its messages are above)")
        return
    uvicorn.run(app_factory, factory=True, host=host, port=port, workers=workers, **options)


def _control_keys(files: list[Path]) -> list[Any]:
    from probe.local import keys

    out = []
    for path in files:
        try:
            out.append(keys.read_public_file(path))
        except (keys.KeyStoreError, OSError) as exc:
            fail(f"--control-key {path}: {exc}")
    return out


def _default_store() -> Path:
    from probe.local import paths

    return paths.data_dir() / "collector"
