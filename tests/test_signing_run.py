"""The probe's real output is signed: a real `probe run`, inside an empty network namespace (no route anywhere, so
it writes an offline result file), leaves F and F.minisig that stock `minisign -V -H` and `probe verify` accept,
that both refuse once any byte changes, and a key pair with private modes. The run never touches the host's
network: an empty namespace has nothing but a down loopback."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe import minisign, signing
from probe.local import keys
from probe.minisign import PublicKey
from tests import netns as namespaces

PROBE = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "probe"


@pytest.fixture(scope="module")
def empty_netns() -> Iterator[str]:
    with namespaces.empty_netns("sg") as name:
        yield name


@pytest.fixture(scope="module")
def minisign_bin() -> str:
    found = shutil.which("minisign")
    namespaces.need(found is not None, "Debian's minisign is not installed (scripts/test installs it as root)")
    assert found is not None
    return found


def _probe_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBE_", "XDG_"))}
    return {**env, "PROBE_HOME": str(home)}


def _probe(netns: str, home: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    line = ["ip", "netns", "exec", netns, str(PROBE), *map(str, args)]
    return subprocess.run(line, env=_probe_env(home), capture_output=True, text=True, timeout=120, check=False)


def _accept_risks(netns: str, home: Path) -> None:
    """Consent first, as a volunteer would (`probe init --accept-risks`)."""
    outcome = _probe(netns, home, "init", "--accept-risks", "--no-upload")
    assert outcome.returncode == 0, outcome.stderr


@pytest.fixture(scope="module")
def real_run(empty_netns: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(home, result file, its signature) from one real offline run."""
    root = tmp_path_factory.mktemp("signed-run")
    home, results = root / "home", root / "results"
    _accept_risks(empty_netns, home)
    outcome = _probe(empty_netns, home, "run", "--results-dir", results, "--timeout", "1", "--no-upload")
    assert outcome.returncode == 3, outcome.stderr  # offline, said so, result file written
    assert "Traceback" not in outcome.stderr
    written = sorted(p for p in results.rglob("*") if p.is_file())
    assert [p.suffix for p in written] == [".jsonl", ".minisig"], written
    result, signature = written
    assert signature.name == result.name + ".minisig"
    return home, result, signature


@pytest.mark.lab
def test_stock_minisign_verifies_the_real_output(real_run: tuple[Path, Path, Path], minisign_bin: str) -> None:
    home, result, _ = real_run
    public = home / "config" / "probe.pub"
    checked = subprocess.run(
        [minisign_bin, "-V", "-H", "-m", result, "-p", public], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    data = result.read_bytes()
    assert f"sha256:{hashlib.sha256(data).hexdigest()}" in checked.stdout
    assert f"size:{len(data)}" in checked.stdout
    assert f"file:{result.name}" in checked.stdout
    assert f"probe:{PublicKey.from_file(public.read_bytes()).probe_id}" in checked.stdout


@pytest.mark.lab
def test_probe_verify_accepts_the_real_output_with_the_probes_own_key(
    real_run: tuple[Path, Path, Path], empty_netns: str
) -> None:
    home, result, _ = real_run
    outcome = _probe(empty_netns, home, "verify", result)
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout.startswith(f"good signature: {result}")


@pytest.mark.lab
def test_the_key_pair_was_made_on_first_run_with_private_modes(real_run: tuple[Path, Path, Path]) -> None:
    home, result, signature = real_run
    config = home / "config"
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    assert stat.S_IMODE((config / "probe.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((config / "probe.pub").stat().st_mode) == 0o644
    public = keys.current_public(config)
    assert public is not None
    pairs = signing.verify_result(result.read_bytes(), signature.read_bytes(), public)
    assert pairs["v"] == "1" and "hashed" in pairs
    assert minisign.parse(signature.read_bytes()).algorithm == b"ED"


@pytest.mark.lab
def test_any_changed_byte_of_the_real_output_makes_both_tools_refuse(
    real_run: tuple[Path, Path, Path], minisign_bin: str, tmp_path: Path
) -> None:
    """Bytes spread over the whole result file, every byte of the trusted comment, and bytes of both signatures."""
    home, result, signature = real_run
    public = home / "config" / "probe.pub"
    data, minisig = result.read_bytes(), signature.read_bytes()
    keys_folder = home / "config"
    changed_file, changed_sig = tmp_path / result.name, tmp_path / signature.name
    comment_start = minisig.index(b"\ntrusted comment: ") + len(b"\ntrusted comment: ")
    comment_end = minisig.index(b"\n", comment_start)
    signature_line = range(minisig.index(b"\n") + 1, minisig.index(b"\n", minisig.index(b"\n") + 1))
    cases: list[tuple[str, int | None, int | None]] = [
        (f"file byte {i}", i, None) for i in range(0, len(data), max(1, len(data) // 97))
    ]
    cases += [("last file byte", len(data) - 1, None)]
    cases += [(f"comment byte {i - comment_start}", None, i) for i in range(comment_start, comment_end)]
    cases += [(f"signature line byte {i}", None, i) for i in signature_line]
    cases += [(f"comment signature byte {i}", None, i) for i in range(comment_end + 1, len(minisig) - 1)]
    publics = keys.known_publics(keys_folder)
    for what, file_at, sig_at in cases:
        new_data, new_sig = bytearray(data), bytearray(minisig)
        if file_at is not None:
            new_data[file_at] ^= 0x01
        if sig_at is not None:
            # a printable change where there is one (a tab becomes a space), so the signatures, not the parser,
            # must catch it
            new_sig[sig_at] = 0x20 if new_sig[sig_at] == 0x09 else new_sig[sig_at] ^ 0x01
        changed_file.write_bytes(bytes(new_data))
        changed_sig.write_bytes(bytes(new_sig))
        with pytest.raises(minisign.SignatureError):
            signing.verify_result(bytes(new_data), bytes(new_sig), publics[0])
        if _same_signature_bytes(minisig, bytes(new_sig)):
            continue  # only base64 padding bits changed: minisign ignores them (we refuse, see unit tests)
        stock = subprocess.run(
            [minisign_bin, "-V", "-H", "-q", "-m", changed_file, "-p", public], capture_output=True, check=False
        )
        assert stock.returncode != 0, what
    assert len(cases) > 300


def _same_signature_bytes(original: bytes, changed: bytes) -> bool:
    """True when the two signature files differ only in base64 text that decodes to the same bytes."""
    if original == changed:
        return True
    a, b = original.split(b"\n"), changed.split(b"\n")
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        try:
            if base64.b64decode(x, validate=True) != base64.b64decode(y, validate=True):
                return False
        except ValueError:
            return False
    return True


@pytest.mark.lab
def test_probe_verify_refuses_a_changed_real_file_from_the_command_line(
    real_run: tuple[Path, Path, Path], empty_netns: str, tmp_path: Path
) -> None:
    home, result, signature = real_run
    copy = tmp_path / result.name
    copy.write_bytes(result.read_bytes().replace(b'"inconclusive"', b'"ok"', 1))
    (tmp_path / signature.name).write_bytes(signature.read_bytes())
    outcome = _probe(empty_netns, home, "verify", copy)
    assert outcome.returncode == 1
    assert "signature verification failed" in outcome.stderr and "Traceback" not in outcome.stderr


@pytest.mark.lab
def test_a_rotated_key_still_verifies_the_old_run_and_signs_the_next(
    real_run: tuple[Path, Path, Path], empty_netns: str, minisign_bin: str, tmp_path: Path
) -> None:
    source_home, result, _ = real_run
    home = tmp_path / "home"
    shutil.copytree(source_home, home)  # the module's run stays untouched for the other tests
    old = PublicKey.from_file((home / "config" / "probe.pub").read_bytes())
    assert _probe(empty_netns, home, "key", "rotate").returncode == 0
    assert _probe(empty_netns, home, "verify", result).returncode == 0
    kept = home / "config" / "keys" / "old" / f"{old.key_id_hex}.pub"
    checked = subprocess.run([minisign_bin, "-V", "-H", "-q", "-m", result, "-p", kept], check=False)
    assert checked.returncode == 0
    results = tmp_path / "results"
    rerun = _probe(empty_netns, home, "run", "--results-dir", results, "--timeout", "1", "--no-upload")
    assert rerun.returncode == 3, rerun.stderr
    newer = next(results.rglob("*.jsonl"))
    new_public = home / "config" / "probe.pub"
    assert PublicKey.from_file(new_public.read_bytes()) != old
    checked = subprocess.run([minisign_bin, "-V", "-H", "-q", "-m", newer, "-p", new_public], check=False)
    assert checked.returncode == 0


@pytest.mark.lab
def test_a_garbled_key_stops_the_run_before_it_measures(empty_netns: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _accept_risks(empty_netns, home)
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "probe.key").write_bytes(b"untrusted comment: x\nRWQAAEIy\n")
    results = tmp_path / "results"
    outcome = _probe(empty_netns, home, "run", "--results-dir", results, "--timeout", "1", "--no-upload")
    assert outcome.returncode == 2
    assert "probe.key" in outcome.stderr and "probe key rotate" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert not results.exists() or not any(results.rglob("*.jsonl"))


_RECORD_RENAMES = """
import os, sys
real_replace = os.replace
order = []
def recording_replace(src, dst, *args, **kwargs):
    real_replace(src, dst, *args, **kwargs)
    order.append(os.fspath(dst))
os.replace = recording_replace  # atomicfile.write_atomic publishes every file with os.replace
from probe.cli import main
sys.argv = ["probe", *sys.argv[2:]]
try:
    main()
finally:
    with open(os.environ["RENAME_LOG"], "w") as log:
        log.write("\\n".join(order))
"""


@pytest.mark.lab
def test_the_signature_is_in_place_before_the_result_file_appears(empty_netns: str, tmp_path: Path) -> None:
    """A reader (the upload spool, a sync tool) must never see F without F.minisig: the real run publishes the
    signature first (each file by an atomic rename)."""
    home, results, log = tmp_path / "home", tmp_path / "results", tmp_path / "renames"
    _accept_risks(empty_netns, home)
    python = PROBE.with_name("python")
    line = ["ip", "netns", "exec", empty_netns, str(python), "-c", _RECORD_RENAMES, "--"]
    line += ["run", "--results-dir", str(results), "--timeout", "1", "--no-upload"]
    env = {**_probe_env(home), "RENAME_LOG": str(log)}
    outcome = subprocess.run(line, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert outcome.returncode == 3, outcome.stderr
    published = [Path(p) for p in log.read_text().splitlines() if Path(p).is_relative_to(results)]
    assert [p.suffix for p in published] == [".minisig", ".jsonl"], published
    assert published[0] == published[1].with_name(published[1].name + ".minisig")
