"""The probe's key pair on disk: made on first use, private modes, self-healing, rotation that keeps old keys,
clear errors for broken files, one key even when several runs start at once."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from probe import signing
from probe.local import keys, paths
from probe.minisign import PublicKey, SecretKey


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROBE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_pair_is_made_on_first_use_with_private_modes() -> None:
    folder = paths.config_dir()
    assert not folder.exists()
    secret = keys.load_or_create()
    assert mode(folder) == 0o700
    assert mode(folder / "probe.key") == 0o600
    assert mode(folder / "probe.pub") == 0o644
    assert SecretKey.from_file((folder / "probe.key").read_bytes()) == secret
    assert PublicKey.from_file((folder / "probe.pub").read_bytes()) == secret.public_key()
    assert keys.load_or_create() == secret  # made once, then read
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["probe.key", "probe.pub"]


def test_nothing_is_made_by_reading_the_public_key() -> None:
    assert keys.current_public() is None
    assert keys.known_publics() == ()
    assert not (paths.config_dir() / "probe.key").exists()


def test_loose_modes_are_made_private_again() -> None:
    keys.load_or_create()
    folder = paths.config_dir()
    folder.chmod(0o755)
    (folder / "probe.key").chmod(0o644)
    keys.load_or_create()
    assert mode(folder) == 0o700
    assert mode(folder / "probe.key") == 0o600


def test_a_missing_or_garbled_public_key_is_written_again_from_the_secret_key() -> None:
    secret = keys.load_or_create()
    public_file = paths.config_dir() / "probe.pub"
    public_file.unlink()
    assert keys.load_or_create() == secret
    assert PublicKey.from_file(public_file.read_bytes()) == secret.public_key()
    public_file.write_bytes(b"garbage\n")
    keys.load_or_create()
    assert PublicKey.from_file(public_file.read_bytes()) == secret.public_key()


def test_a_foreign_public_key_file_is_kept_among_the_old_keys_before_it_is_replaced() -> None:
    stranger = SecretKey.generate().public_key()
    folder = paths.private_dir(paths.config_dir())
    (folder / "probe.pub").write_bytes(stranger.to_file())  # e.g. a probe.key lost, its probe.pub left behind
    secret = keys.load_or_create()
    assert keys.current_public() == secret.public_key()
    assert stranger in keys.old_publics()


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "truncated"), (b"untrusted comment: x\nnot base64\n", "not base64"), (b"\xff" * 300, "truncated")],
)
def test_a_garbled_secret_key_is_an_error_naming_the_file(content: bytes, reason: str) -> None:
    folder = paths.private_dir(paths.config_dir())
    (folder / "probe.key").write_bytes(content)
    with pytest.raises(keys.KeyStoreError, match=reason) as caught:
        keys.load_or_create()
    assert str(folder / "probe.key") in str(caught.value)
    assert "probe key rotate" in str(caught.value)
    assert (folder / "probe.key").read_bytes() == content  # never overwritten behind the user's back


def test_rotation_makes_a_new_pair_and_keeps_the_old_public_key() -> None:
    first = keys.load_or_create()
    data = b'{"a":1}\n'
    minisig = signing.sign_result(data, "r.jsonl", first)
    retired, second = keys.rotate()
    assert retired == first.public_key()
    assert second != first and keys.load_or_create() == second
    old_file = paths.config_dir() / "keys" / "old" / f"{first.public_key().key_id_hex}.pub"
    assert PublicKey.from_file(old_file.read_bytes()) == first.public_key()
    assert keys.known_publics() == (second.public_key(), first.public_key())
    assert signing.verify_result(data, minisig, keys.known_publics()[1])["probe"] == first.public_key().probe_id
    assert mode(paths.config_dir() / "probe.key") == 0o600
    _, third = keys.rotate()
    assert keys.known_publics()[0] == third.public_key()
    assert set(keys.known_publics()[1:]) == {first.public_key(), second.public_key()}


def test_rotation_is_the_way_out_of_a_garbled_secret_key() -> None:
    first = keys.load_or_create()
    folder = paths.config_dir()
    (folder / "probe.key").write_bytes(b"untrusted comment: x\ntruncat\n")
    retired, new = keys.rotate()
    assert retired is None
    assert keys.load_or_create() == new
    assert (folder / "probe.key.corrupt").read_bytes() == b"untrusted comment: x\ntruncat\n"
    assert first.public_key() in keys.old_publics()  # its probe.pub survived: old files still verify


def test_rotation_without_a_key_just_makes_one() -> None:
    retired, new = keys.rotate()
    assert retired is None and keys.load_or_create() == new


def test_runs_starting_at_once_share_one_new_key(tmp_path: Path) -> None:
    """Cron and a volunteer may start the first two runs together; both must sign with the same key."""
    script = "from probe.local import keys; print(keys.load_or_create().public_key().probe_id)"
    env = {**os.environ, "PROBE_HOME": str(tmp_path / "race")}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) for _ in range(8)
    ]
    ids = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(ids) == 1
