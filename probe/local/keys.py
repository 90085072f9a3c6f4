"""The probe's signing key pair on disk, in minisign's own formats so the stock tool can use it too.

    <config>/probe.key          secret key, unencrypted, mode 0600 (`minisign -S -s probe.key -m FILE` works)
    <config>/probe.pub          public key (`minisign -V -H -m FILE -p probe.pub` works)
    <config>/keys/old/<ID>.pub  public keys retired by `probe key rotate`, so files they signed still verify
    <config>/keys/replaced.json when a missing secret key was replaced by a new one (`note_replaced`): when, and
                                the key ids, for `probe status` (a new key is a new identity to the collector)

`<config>` is `paths.config_dir()` (mode 0700). The pair is made on first use. Creation and rotation hold a lock,
so two runs started at once (cron and a volunteer) do not make two different keys.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from probe import atomicfile, readfile
from probe.local import paths
from probe.minisign import KeyFileError, PublicKey, SecretKey

SECRET_FILE = "probe.key"
PUBLIC_FILE = "probe.pub"
OLD_DIR = Path("keys") / "old"
_LOCK_FILE = ".keys.lock"
REPLACED_FILE = Path("keys") / "replaced.json"


class KeyStoreError(Exception):
    """A key file is unreadable or garbled; the message names the file and what to do."""


@dataclass(frozen=True)
class KeyFiles:
    """Where the key pair lives."""

    folder: Path

    @property
    def secret(self) -> Path:
        return self.folder / SECRET_FILE

    @property
    def public(self) -> Path:
        return self.folder / PUBLIC_FILE

    @property
    def old(self) -> Path:
        return self.folder / OLD_DIR


def key_files(folder: Path | None = None) -> KeyFiles:
    """The key files in `folder`, by default the probe's config folder."""
    return KeyFiles(folder if folder is not None else paths.config_dir())


def load_or_create(folder: Path | None = None) -> SecretKey:
    """The probe's secret key, made (with its public key) on first use. A missing public key file is rewritten
    from the secret key; a secret key readable by others is made private again."""
    files = key_files(folder)
    paths.private_dir(files.folder)
    secret = _read_secret(files)
    if secret is None:
        with _locked(files):
            secret = _read_secret(files)  # another process may have made it while we waited
            if secret is None:
                secret = _create(files)
    try:
        public = _read_public(files.public)
    except KeyStoreError:
        public = None  # garbled: it is derived from the secret key, so it is simply written again
    if public != secret.public_key():
        with _locked(files):
            _retire_public(files)  # a probe.pub that is not ours: keep it, it may verify old files
            atomicfile.write_atomic(files.public, secret.public_key().to_file(), mode=0o644)
    return secret


def rotate(folder: Path | None = None) -> tuple[PublicKey | None, SecretKey]:
    """Make a new key pair; keep the old public key under keys/old/ so the files it signed still verify.
    Returns (the retired public key or None, the new secret key)."""
    files = key_files(folder)
    with _locked(files):
        try:
            old = _read_secret(files)
        except KeyStoreError:
            # Rotation is the way out of a garbled secret key: keep its bytes aside, never delete them.
            os.replace(files.secret, files.secret.with_name(SECRET_FILE + ".corrupt"))
            old = None
        retired = old.public_key() if old is not None else None
        if retired is not None:
            _keep_old(files, retired)
        new = _create(files)
    return retired, new


def note_replaced(previous: PublicKey | None, current: PublicKey, folder: Path | None = None) -> None:
    """Record that the secret key was missing and `current` replaced it (`previous`: the public key left behind)."""
    files = key_files(folder)
    note = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "previous_key_id": previous.key_id_hex if previous else None,
        "key_id": current.key_id_hex,
    }
    paths.private_dir(files.folder / REPLACED_FILE.parent)
    atomicfile.write_atomic(files.folder / REPLACED_FILE, json.dumps(note).encode() + b"\n", mode=0o600)


def replaced(folder: Path | None = None) -> dict[str, str | None] | None:
    """The note of `note_replaced` for the current key, or None (none, damaged, or about an earlier key)."""
    files = key_files(folder)
    try:
        note = json.loads((files.folder / REPLACED_FILE).read_text(encoding="utf-8"))
        current = current_public(folder)
    except (OSError, ValueError, KeyStoreError):
        return None
    if not isinstance(note, dict) or current is None or note.get("key_id") != current.key_id_hex:
        return None
    return {k: (str(v) if v is not None else None) for k, v in note.items()}


def current_public(folder: Path | None = None) -> PublicKey | None:
    """The probe's public key, or None when no key has been made yet (nothing is created)."""
    files = key_files(folder)
    public = _read_public(files.public)
    if public is not None:
        return public
    secret = _read_secret(files)
    return secret.public_key() if secret is not None else None


def old_publics(folder: Path | None = None) -> tuple[PublicKey, ...]:
    """The public keys retired by rotation, oldest file name first."""
    files = key_files(folder)
    if not files.old.is_dir():
        return ()
    found = []
    for path in sorted(files.old.glob("*.pub")):
        public = _read_public(path)
        if public is not None:
            found.append(public)
    return tuple(found)


def known_publics(folder: Path | None = None) -> tuple[PublicKey, ...]:
    """Every public key of this probe, the current one first: what `probe verify` tries by default."""
    current = current_public(folder)
    keys = [current] if current is not None else []
    keys.extend(k for k in old_publics(folder) if k not in keys)
    return tuple(keys)


def read_public_file(path: Path) -> PublicKey:
    """A public key file named by the user; KeyStoreError names the file and the problem."""
    public = _read_public(path)
    if public is None:
        raise KeyStoreError(f"{path}: no such file")
    return public


def _create(files: KeyFiles) -> SecretKey:
    """Write a new pair: the secret key first, so a crash leaves at worst a secret key whose public key
    `load_or_create` rewrites. A probe.pub already there is kept among the old keys: it may verify old files."""
    paths.private_dir(files.folder)
    _retire_public(files)
    secret = SecretKey.generate()
    atomicfile.write_atomic(files.secret, secret.to_file(), mode=0o600)
    atomicfile.write_atomic(files.public, secret.public_key().to_file(), mode=0o644)
    return secret


def _read_secret(files: KeyFiles) -> SecretKey | None:
    try:
        data = files.secret.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyStoreError(f"{files.secret}: cannot read the secret key ({exc.strerror})") from exc
    try:
        secret = SecretKey.from_file(data)
    except KeyFileError as exc:
        raise KeyStoreError(
            f"{files.secret}: {exc}. Restore it from a backup, or run `probe key rotate` to make a new key pair "
            "(files signed with the old key then verify only with a copy of its public key)"
        ) from exc
    # The folder is private too, but a copied or restored key file may have lost its mode.
    if files.secret.stat().st_mode & 0o077:
        files.secret.chmod(0o600)
    return secret


def _read_public(path: Path) -> PublicKey | None:
    try:
        data = readfile.read_bytes(path, readfile.KEY_FILE)
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise KeyStoreError(f"{path}: a folder, not a public key file") from exc
    except OSError as exc:
        raise KeyStoreError(f"{path}: cannot read the public key ({exc.strerror})") from exc
    try:
        return PublicKey.from_file(data)
    except KeyFileError as exc:
        raise KeyStoreError(f"{path}: {exc}") from exc


def _retire_public(files: KeyFiles) -> None:
    """Keep the current probe.pub, if it is readable, among the old keys before it is replaced."""
    try:
        public = _read_public(files.public)
    except KeyStoreError:
        return
    if public is not None:
        _keep_old(files, public)


def _keep_old(files: KeyFiles, public: PublicKey) -> None:
    target = files.old / f"{public.key_id_hex}.pub"
    if not target.exists():
        paths.private_dir(files.old)
        atomicfile.write_atomic(target, public.to_file(), mode=0o644)


@contextlib.contextmanager
def _locked(files: KeyFiles) -> Iterator[None]:
    paths.private_dir(files.folder)
    fd = os.open(files.folder / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
