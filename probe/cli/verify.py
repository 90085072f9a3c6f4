"""`probe verify FILE`: check a result file against its `.minisig` and the probe's public key (or `--key PUB`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from probe.cli.common import EXIT_BAD, fail

if TYPE_CHECKING:
    from probe.minisign import PublicKey


def verify(
    file: Annotated[Path, typer.Argument(help="The result file to check.", show_default=False)],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="The signer's public key file (minisign format). Default: this probe's keys."),
    ] = None,
    signature: Annotated[
        Path | None, typer.Option("--signature", "-x", help="The signature file. Default: FILE.minisig.")
    ] = None,
) -> None:
    """Check that FILE is exactly what a probe signed: the minisign signature (prehashed Ed25519), the signature
    of its trusted comment, and the sha256, size and probe id the comment carries. Exit 0 when it holds, 1 when
    it does not (the reason is printed), 2 when a file cannot be read. Anyone can check the same without probe:
    `minisign -V -H -m FILE -p probe.pub`."""
    from datetime import UTC, datetime

    from probe import minisign, readfile, signing, wire
    from probe.local import keys

    data = _read(file, "result file", readfile.RESULT_FILE)  # first: a path with no name ("", ".") fails here
    signature_path = signature or wire.signature_path(file)
    minisig = _read(signature_path, "signature file", readfile.SIGNATURE_FILE)
    try:
        candidates = (keys.read_public_file(key),) if key is not None else keys.known_publics()
    except keys.KeyStoreError as exc:
        fail(f"bad public key: {exc}")
    if not candidates:
        fail(f"this probe has no key yet (in {keys.key_files().folder}); name the signer's key with --key PUB")
    try:
        parsed = minisign.parse(minisig)
        public = _pick(parsed.key_id, candidates, explicit=key is not None)
        pairs = signing.verify_result(data, minisig, public)
    except minisign.SignatureError as exc:
        fail(f"bad signature: {file}: {exc}", EXIT_BAD)
    try:
        signed = datetime.fromtimestamp(int(pairs.get("timestamp", "")), UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        signed = "?"  # signed by another tool with its own comment: the signature still holds
    lines = [
        f"good signature: {file}",
        f"  probe id  {public.probe_id} (key {public.key_id_hex})",
        f"  signed    {signed} as {pairs.get('file', '?')}",
        f"  content   sha256 {pairs['sha256']}, {pairs['size']} bytes",
    ]
    typer.echo("\n".join(lines))


def _read(path: Path, what: str, limit: int) -> bytes:
    from probe import readfile

    try:
        return readfile.read_bytes(path, limit)
    except FileNotFoundError:
        fail(f"{what} {path}: no such file")
    except IsADirectoryError:
        fail(f"{what} {path}: a folder, not a file")
    except OSError as exc:
        fail(f"{what} {path}: cannot read it ({exc.strerror})")


def _pick(key_id: bytes, candidates: tuple[PublicKey, ...], explicit: bool) -> PublicKey:
    """The key whose id the signature names. With --key, that key even if the ids differ: verification then says
    so, as minisign does."""
    from probe.minisign import SignatureError, key_id_hex

    for public in candidates:
        if public.key_id == key_id:
            return public
    if explicit:
        return candidates[0]
    ours = ", ".join(k.key_id_hex for k in candidates)
    raise SignatureError(
        f"signed by key {key_id_hex(key_id)}, which is none of this probe's keys ({ours}); "
        "name the signer's public key with --key PUB",
        "key_id",
    )
