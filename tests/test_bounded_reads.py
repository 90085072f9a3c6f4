"""Every file a user names is read bounded (issue 21): `probe verify` (and its `-x`/`--key`), `probe targets
validate`, `probe run --targets` and `PROBE_CONFIG` read `/dev/zero` whole (a MemoryError traceback, or 23.7 GB
until the kernel killed it), and waited for ever on a FIFO. Now: exit 2 naming the file and the problem, no
traceback. Each try is a real process under a memory limit (`ulimit -v`), and `probe run` in an empty network
namespace."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import netns as namespaces

PROBE = [sys.executable, "-m", "probe"]
MEMORY = 1024**3  # far more than any of these commands needs, far less than a read of /dev/zero reaches


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, Path]:
    """A device, a FIFO, a folder and a (sparse) regular file larger than any of these files can be."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.toml"
    with huge.open("wb") as out:
        out.truncate(200 * 1024 * 1024)
    return {"/dev/zero": Path("/dev/zero"), "a FIFO": fifo, "a folder": tmp_path, "200 MB": huge}


EXPECTED = {
    "/dev/zero": "not a regular file",
    "a FIFO": "not a regular file",
    "a folder": "a folder",
    "200 MB": "more than such a file ever needs",
}


def _probe(env: dict[str, str], *args: str | Path, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [*(["ip", "netns", "exec", netns] if netns else []), *PROBE, *map(str, args)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, preexec_fn=_limited, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PROBE_", "XDG_"))}
    return {**clean, "PROBE_HOME": str(tmp_path / "home")}


@pytest.fixture
def empty_netns() -> Iterator[str]:
    with namespaces.empty_netns("br") as name:
        yield name


def _refused(done: subprocess.CompletedProcess[str], what: str, path: Path) -> None:
    assert done.returncode == 2, (what, done.returncode, done.stderr[-500:])
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr[-500:]
    assert str(path) in done.stderr and EXPECTED[what] in done.stderr, (what, done.stderr)


def test_verify_and_its_signature_and_key_refuse_what_is_no_file(
    hostile: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    result = tmp_path / "r.jsonl"
    result.write_bytes(b"{}\n")
    (tmp_path / "r.jsonl.minisig").write_bytes(b"untrusted comment: x\n")
    for what, path in hostile.items():
        _refused(_probe(env, "verify", path), what, path)
        _refused(_probe(env, "verify", result, "-x", path), what, path)
        _refused(_probe(env, "verify", result, "--key", path), what, path)


def test_target_lists_refuse_what_is_no_file(hostile: dict[str, Path], env: dict[str, str], empty_netns: str) -> None:
    for what, path in hostile.items():
        _refused(_probe(env, "targets", "validate", path), what, path)
        _refused(_probe(env, "run", "--targets", path, "--no-capture", netns=empty_netns), what, path)


def test_a_configuration_file_that_is_no_file_is_refused(hostile: dict[str, Path], env: dict[str, str]) -> None:
    for what, path in hostile.items():
        _refused(_probe({**env, "PROBE_CONFIG": str(path)}, "config", "show"), what, path)


def test_a_geoip_database_that_is_no_file_is_refused_and_never_waited_for(
    hostile: dict[str, Path], env: dict[str, str], empty_netns: str
) -> None:
    """A MaxMind database is opened by its library (mapped, not read): a FIFO named as one kept the run waiting
    for ever, before measuring when there was an address to look up, else after measuring, holding the run lock
    with its result unwritten."""
    assert _probe(env, "init", "--accept-risks", "--no-upload").returncode == 0
    run = ("run", "--no-capture", "--timeout", "1", "--service", "line")
    for what in ("a FIFO", "/dev/zero", "a folder"):
        path = hostile[what]
        located = {**env, "PROBE_GEOIP_DB": str(path), "PROBE_GEOIP_ADDRESS": "198.51.100.7"}
        _refused(_probe(located, *run, netns=empty_netns), what, path)
    # Offline and without an address, the database only adds AS numbers to the answers, after measuring: the run
    # goes on without them.
    done = _probe({**env, "PROBE_GEOIP_DB": str(hostile["a FIFO"])}, *run, netns=empty_netns)
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr[-500:]
