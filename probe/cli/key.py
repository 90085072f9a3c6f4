"""`probe key show` / `probe key rotate`: the probe's signing key pair (minisign formats, in the config folder)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from probe.cli.common import fail, group

app = group("Show or rotate the key pair that signs result files.")


@app.command("show")
def show(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
) -> None:
    """Print the public key in minisign's format (the first two lines are a valid probe.pub) and the probe id
    (hex SHA-256 of the key). The key pair is made if there is none yet."""
    from probe.local import keys

    try:
        public = keys.load_or_create().public_key()
    except (keys.KeyStoreError, OSError) as exc:
        fail(f"cannot load the probe key: {exc}")
    path = keys.key_files().public
    if json_output:
        summary = {"probe_id": public.probe_id, "key_id": public.key_id_hex, "public_key": public.to_base64(),
                   "public_key_file": str(path)}  # fmt: skip
        typer.echo(json.dumps(summary))
        return
    typer.echo(public.to_file().decode("ascii"), nl=False)
    typer.echo(f"probe id: {public.probe_id}\nkey id: {public.key_id_hex}\nfile: {path}")


@app.command("rotate")
def rotate() -> None:
    """Make a new key pair. The old public key is kept (keys/old/ in the config folder), so `probe verify`
    still checks the files it signed; the old secret key is gone, and with it the old probe id."""
    from probe.local import keys

    try:
        retired, secret = keys.rotate()
    except (keys.KeyStoreError, OSError) as exc:
        fail(f"cannot rotate the probe key: {exc}")
    files = keys.key_files()
    public = secret.public_key()
    if retired is not None:
        typer.echo(f"retired key {retired.key_id_hex} (probe id {retired.probe_id}), kept in {files.old}")
    typer.echo(public.to_file().decode("ascii"), nl=False)
    typer.echo(f"probe id: {public.probe_id}\nkey id: {public.key_id_hex}\nfile: {files.public}")
