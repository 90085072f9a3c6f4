"""Signatures between probe and the stock `minisign` (Debian's package, installed by scripts/test): each verifies
what the other signs, both refuse any changed byte, and `probe verify` / `probe key` give exit codes and messages,
never a traceback."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from probe import jsonlines, minisign, signing
from probe.cli import key, verify
from probe.local import keys, paths
from probe.minisign import PublicKey, SecretKey
from tests.netns import need

DATA = jsonlines.encode_lines(
    [
        {"input": "tls://talk.kakao.com:443", "test_keys": {"verdict": "dns.injection"}},
        {"input": "tcp://long.weixin.qq.com:80", "test_keys": {"verdict": "ok"}},
    ]
)
NAME = "20261128T120000Z-0123456789ab.jsonl"


@pytest.fixture(scope="module")
def minisign_bin() -> str:
    found = shutil.which("minisign")
    need(found is not None, "Debian's minisign is not installed (scripts/test installs it as root)")
    assert found is not None
    return found


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROBE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def result(tmp_path: Path) -> Path:
    path = tmp_path / "results" / NAME
    path.parent.mkdir()
    path.write_bytes(DATA)
    return path


def run_minisign(minisign_bin: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([minisign_bin, *map(str, args)], capture_output=True, text=True, timeout=30, check=False)


def minisign_verifies(minisign_bin: str, data_file: Path, signature: Path, public: Path) -> bool:
    return run_minisign(minisign_bin, "-V", "-H", "-q", "-m", data_file, "-x", signature, "-p", public).returncode == 0


runner = CliRunner()
# The signing commands, registered as probe/cli/__init__.py does: typer rebuilds an app on every call, and the whole
# app is too slow to call a thousand times. probe_process() runs the real `probe` command line.
signing_app = typer.Typer()
signing_app.command("verify")(verify.verify)
signing_app.add_typer(key.app, name="key")


def probe(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The command line in this process (fast enough to call a thousand times); an exception other than the
    exit itself fails the test, as a traceback would."""
    outcome = runner.invoke(signing_app, [str(a) for a in args])
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit), outcome.exception
    return subprocess.CompletedProcess(args, outcome.exit_code, outcome.stdout, outcome.stderr)


def probe_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own."""
    line = [sys.executable, "-m", "probe", *map(str, args)]
    return subprocess.run(line, capture_output=True, text=True, timeout=60, check=False, env=os.environ.copy())


def probe_verify_code(file: Path, key: Path | None = None) -> int:
    """The exit code of `probe verify FILE [--key KEY]`: the command's own function, without option parsing (typer
    would rebuild the app on every call, too slow for the thousand variants below)."""
    try:
        verify.verify(file, key=key, signature=None)
    except typer.Exit as exit_:
        return exit_.exit_code
    return 0


def sign_with_probe(result: Path) -> Path:
    signature = result.with_name(result.name + ".minisig")
    signature.write_bytes(signing.sign_result(result.read_bytes(), result.name, keys.load_or_create()))
    return signature


def test_probe_signs_what_stock_minisign_verifies(minisign_bin: str, result: Path) -> None:
    signature = sign_with_probe(result)
    checked = run_minisign(minisign_bin, "-V", "-H", "-m", result, "-p", keys.key_files().public)
    assert checked.returncode == 0, checked.stderr
    assert "Signature and comment signature verified" in checked.stdout
    assert f"sha256:{hashlib.sha256(DATA).hexdigest()}" in checked.stdout
    assert minisign.parse(signature.read_bytes()).algorithm == b"ED"  # prehashed, what -H demands


def test_stock_minisign_signs_with_the_probe_key_file_and_probe_verify_accepts_it(
    minisign_bin: str, result: Path
) -> None:
    secret = keys.load_or_create()
    comment = signing.trusted_comment(DATA, NAME, secret.public_key().probe_id, 1795910400)
    signed = run_minisign(minisign_bin, "-S", "-s", keys.key_files().secret, "-m", result, "-t", comment)
    assert signed.returncode == 0, signed.stderr
    verified = probe_process("verify", result)
    assert verified.returncode == 0, verified.stderr
    assert "good signature" in verified.stdout and secret.public_key().probe_id in verified.stdout


def test_python_and_minisign_write_the_same_signature_bytes(minisign_bin: str, result: Path, tmp_path: Path) -> None:
    """Ed25519 is deterministic: for the same key and comments, the two .minisig files are identical."""
    secret = keys.load_or_create()
    comment = signing.trusted_comment(DATA, NAME, secret.public_key().probe_id, 1795910400)
    untrusted = f"signature from probe {secret.public_key().key_id_hex}"
    out = tmp_path / "stock.minisig"
    signed = run_minisign(
        minisign_bin, "-S", "-s", keys.key_files().secret, "-m", result, "-x", out, "-t", comment, "-c", untrusted
    )
    assert signed.returncode == 0, signed.stderr
    assert out.read_bytes() == signing.sign_result(DATA, NAME, secret, timestamp=1795910400)


def test_a_stock_minisign_key_pair_signs_for_probe_verify_key(minisign_bin: str, result: Path, tmp_path: Path) -> None:
    """A key made by `minisign -G -W` (random key id, zero checksum) loads in probe and signs interoperably."""
    made = run_minisign(minisign_bin, "-G", "-W", "-p", tmp_path / "k.pub", "-s", tmp_path / "k.key")
    assert made.returncode == 0, made.stderr
    secret = SecretKey.from_file((tmp_path / "k.key").read_bytes())
    signature = result.with_name(result.name + ".minisig")
    signature.write_bytes(signing.sign_result(DATA, NAME, secret))
    assert minisign_verifies(minisign_bin, result, signature, tmp_path / "k.pub")
    assert probe_verify_code(result, key=tmp_path / "k.pub") == 0


def test_a_plain_minisign_signature_holds_but_is_not_a_probe_result(minisign_bin: str, result: Path) -> None:
    keys.load_or_create()
    signed = run_minisign(minisign_bin, "-S", "-s", keys.key_files().secret, "-m", result)
    assert signed.returncode == 0, signed.stderr
    verified = probe("verify", result)
    assert verified.returncode == 1
    assert "not a probe's" in verified.stderr


def _variants(data: bytes, minisig: bytes) -> Iterator[tuple[str, bytes, bytes]]:
    """(what changed, data, signature) for every byte of the file, every byte of the signature file but the free
    text of the untrusted comment (minisign does not authenticate it), every bit of the decoded signatures, and
    printable changes of every byte of the trusted comment."""
    for i in range(len(data)):
        changed = bytearray(data)
        changed[i] ^= 0x01
        yield f"file byte {i}", bytes(changed), minisig
    free = range(len(b"untrusted comment: "), minisig.index(b"\n"))
    for i in range(len(minisig)):
        if i in free:
            continue
        changed = bytearray(minisig)
        changed[i] ^= 0xFF
        yield f"signature file byte {i}", data, bytes(changed)
    lines = minisig.split(b"\n")
    for line in (1, 3):
        raw = base64.b64decode(lines[line])
        for i in range(len(raw)):
            changed = bytearray(raw)
            changed[i] ^= 0x10
            forged = [*lines]
            forged[line] = base64.b64encode(bytes(changed))
            yield f"line {line + 1} decoded byte {i}", data, b"\n".join(forged)
    start = minisig.index(b"\ntrusted comment: ") + len(b"\ntrusted comment: ")
    for i in range(start, minisig.index(b"\n", start)):
        changed = bytearray(minisig)
        changed[i] = changed[i] ^ 0x01 if changed[i] != 0x09 else 0x20  # a tab becomes a space: still printable
        yield f"trusted comment byte {i - start}", data, bytes(changed)


def test_any_changed_byte_makes_both_tools_refuse(minisign_bin: str, result: Path, tmp_path: Path) -> None:
    signature = sign_with_probe(result)
    minisig = signature.read_bytes()
    public = keys.key_files().public
    assert minisign_verifies(minisign_bin, result, signature, public)
    assert probe_verify_code(result) == 0
    data_file, sig_file = tmp_path / "changed.jsonl", tmp_path / "changed.jsonl.minisig"
    count = 0
    for what, data, forged in _variants(DATA, minisig):
        data_file.write_bytes(data)
        sig_file.write_bytes(forged)
        assert not minisign_verifies(minisign_bin, data_file, sig_file, public), what
        assert probe_verify_code(data_file) == 1, what
        count += 1
    assert count > len(DATA) + len(minisig)


def test_the_untrusted_comment_is_not_authenticated_by_either_tool(minisign_bin: str, result: Path) -> None:
    """As documented by minisign: the first line is free text; probe agrees, and never relies on it."""
    signature = sign_with_probe(result)
    signature.write_bytes(signature.read_bytes().replace(b"signature from probe", b"anything at all here"))
    assert minisign_verifies(minisign_bin, result, signature, keys.key_files().public)
    assert probe_verify_code(result) == 0


def test_verify_exit_codes_and_messages(result: Path, tmp_path: Path) -> None:
    result.with_name(result.name + ".minisig").write_bytes(signing.sign_result(DATA, NAME, SecretKey.generate()))
    no_key = probe("verify", result)
    assert no_key.returncode == 2 and "no key yet" in no_key.stderr and "--key" in no_key.stderr
    assert not keys.key_files().secret.exists()  # verifying never makes a key
    signature = sign_with_probe(result)
    good = probe("verify", result)
    assert good.returncode == 0 and good.stdout.startswith(f"good signature: {result}")
    cases: list[tuple[list[str | Path], int, str]] = [
        ([tmp_path / "missing.jsonl"], 2, "no such file"),
        ([result.parent], 2, "folder"),
        ([""], 2, "folder"),  # an empty argument is the current folder, not a traceback
        (["/"], 2, "folder"),  # a path with no file name to put ".minisig" after
        ([result, "--key", tmp_path / "missing.pub"], 2, "missing.pub: no such file"),
        ([result, "--key", result], 2, "not a minisign public key"),
        ([result, "--signature", tmp_path / "x.minisig"], 2, "signature file"),
    ]
    for args, code, message in cases:
        outcome = probe("verify", *args)
        assert outcome.returncode == code, (args, outcome.stderr)
        assert message in outcome.stderr and "Traceback" not in outcome.stderr, (args, outcome.stderr)
    for content, message in [
        (b"", "truncated"),
        (signature.read_bytes()[:150], "truncated"),
        (os.urandom(600), "garbled"),
        (signature.read_bytes().replace(b"\ntrusted comment: ", b"\ntrusted  comment: "), "line 3"),
    ]:
        signature.write_bytes(content)
        outcome = probe("verify", result)
        assert outcome.returncode == 1 and message in outcome.stderr, (content, outcome.stderr)
    # And once in a process of its own, as a user meets it: a message, no traceback.
    real = probe_process("verify", result)
    assert real.returncode == 1 and real.stderr.startswith("probe: bad signature:") and "Traceback" not in real.stderr


def test_a_signature_by_an_unknown_key_names_both_key_ids(result: Path, tmp_path: Path) -> None:
    ours = keys.load_or_create().public_key()
    stranger = SecretKey.generate()
    result.with_name(result.name + ".minisig").write_bytes(signing.sign_result(DATA, NAME, stranger))
    outcome = probe("verify", result)
    assert outcome.returncode == 1
    assert stranger.public_key().key_id_hex in outcome.stderr and ours.key_id_hex in outcome.stderr
    (tmp_path / "stranger.pub").write_bytes(stranger.public_key().to_file())
    assert probe("verify", result, "--key", tmp_path / "stranger.pub").returncode == 0
    mismatch = probe("verify", result, "--key", keys.key_files().public)
    assert mismatch.returncode == 1 and "key id mismatch" in mismatch.stderr


def test_key_show_prints_the_public_key_file_and_the_probe_id(minisign_bin: str, result: Path) -> None:
    shown = probe("key", "show")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    public = PublicKey.from_file("\n".join(lines[:2]).encode() + b"\n")
    assert "\n".join(lines[:2]) + "\n" == keys.key_files().public.read_text()
    assert f"probe id: {hashlib.sha256(public.key).hexdigest()}" in lines
    assert f"key id: {public.key_id_hex}" in lines
    # What key show prints is enough for a stranger to check a result file with the stock tool.
    pasted = result.with_name("pasted.pub")
    pasted.write_text("\n".join(lines[:2]) + "\n")
    signature = sign_with_probe(result)
    assert minisign_verifies(minisign_bin, result, signature, pasted)
    shown_json = probe("key", "show", "--json")
    assert shown_json.returncode == 0
    assert f'"probe_id": "{public.probe_id}"' in shown_json.stdout
    assert f'"public_key": "{public.to_base64()}"' in shown_json.stdout


def test_key_commands_report_a_garbled_key_file_without_a_traceback() -> None:
    folder = paths.private_dir(paths.config_dir())
    (folder / "probe.key").write_bytes(b"untrusted comment: x\nRWQ\n")
    shown = probe_process("key", "show")
    assert shown.returncode == 2
    assert "probe.key" in shown.stderr and "not base64" in shown.stderr and "Traceback" not in shown.stderr


def test_rotation_keeps_old_files_verifiable(minisign_bin: str, result: Path, tmp_path: Path) -> None:
    old_public = keys.load_or_create().public_key()
    old_signature = sign_with_probe(result)
    rotated = probe("key", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert f"retired key {old_public.key_id_hex}" in rotated.stdout
    new_public = keys.current_public()
    assert new_public is not None and new_public != old_public
    assert new_public.to_base64() in rotated.stdout
    kept = keys.key_files().old / f"{old_public.key_id_hex}.pub"
    assert minisign_verifies(minisign_bin, result, old_signature, kept)
    assert probe("verify", result).returncode == 0  # the probe's old keys are tried by default
    assert probe_verify_code(result, key=keys.key_files().public) == 1
    newer = tmp_path / "results" / "newer.jsonl"
    newer.write_bytes(DATA)
    sign_with_probe(newer)
    assert minisign_verifies(minisign_bin, newer, newer.with_name("newer.jsonl.minisig"), keys.key_files().public)
    assert probe_verify_code(newer) == 0
