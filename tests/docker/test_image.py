"""The Docker image, built from the working tree and run as the README shows: offline (`--network none`, an empty
network namespace: nothing leaves the machine), every capability dropped, NET_RAW only where it is granted."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import privacy
from tests.docker.engine import GROUP, ROOT, UID, Image, Volumes, base_name, cli, docker, init, inspect, run

pytestmark = [pytest.mark.docker, pytest.mark.slow, GROUP]

SECRET_KEY_MAGIC = b"RWQAAEIy"  # base64 of a minisign secret key's "Ed", no KDF, "B2": probe.key's second line


def results(volumes: Volumes) -> list[Path]:
    """Every file in the results volume, hidden (temporary) ones included."""
    return sorted(p for p in volumes.folder(volumes.results).rglob("*") if p.is_file())


def check_signed(volumes: Volumes, image: Image, files: list[Path]) -> None:
    """Every result file is whole: signed, and verified by `probe verify` in the image and stock minisign here."""
    names = [f.name for f in files]
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")], names  # no half-written file
    public = volumes.folder(volumes.state) / "config" / "probe.pub"
    minisign = shutil.which("minisign")
    assert minisign is not None, "stock minisign (Debian's package, installed by scripts/test)"
    for path in (f for f in files if f.suffix == ".jsonl"):
        assert path.with_name(path.name + ".minisig") in files
        inside = "/results/" + path.parent.name + "/" + path.name
        verified = run(image, volumes, "verify", inside)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        checked = subprocess.run([minisign, "-V", "-H", "-m", str(path), "-p", str(public)], capture_output=True)
        assert checked.returncode == 0, checked.stderr


def capture_states(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    return {json.loads(line)["test_keys"]["controls"]["packet_capture"] for line in lines}


def test_the_base_is_kept_while_its_inputs_are_the_same(image: Image) -> None:
    """scripts/docker-base, run again, keeps the base the image was built on; with another input (a mirror, here one
    that cannot be read) it makes a new one, and a failed attempt leaves the kept one as it was. An official image
    (no inputs label) is kept whatever the inputs."""
    command = cli()
    assert command is not None
    script = str(ROOT / "scripts" / "docker-base")
    base = inspect(base_name())
    ours = (base["Config"]["Labels"] or {}).get("org.probe.base-inputs") is not None
    again = subprocess.run([script, command], capture_output=True, text=True, timeout=60, check=False)
    assert (again.returncode, again.stdout.strip()) == (0, base_name()), again.stderr
    other = {**os.environ, "PROBE_DEBIAN_MIRROR": "file:///nonexistent/debian"}
    changed = subprocess.run([script, command], env=other, capture_output=True, text=True, timeout=60, check=False)
    assert changed.returncode == (1 if ours else 0), changed.stdout + changed.stderr
    assert inspect(base_name())["Id"] == base["Id"]


def test_help_names_the_command_probe(image: Image) -> None:
    done = run(image, None, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: probe [OPTIONS] COMMAND"), done.stdout[:200]
    assert "python" not in done.stdout


def test_the_image_runs_as_its_user_and_holds_no_secret(image: Image) -> None:
    """Never root; no secret key (made in the volume on first run) and nothing of the build's secrets in any
    layer, read from `docker save` (a file removed by a later layer would still be in its own)."""
    assert inspect(image.tag)["Config"]["User"] == "probe"
    done = docker("run", "--rm", "--network", "none", "--entrypoint", "id", image.tag)
    assert re.match(rf"uid={UID}\(probe\)", done.stdout), done.stdout
    found = []
    seen_home = False
    for layer, member, data in image_files(image.tag):
        if member.name.startswith("var/lib/probe/") or member.name.startswith("results/"):
            found.append(f"{layer}: {member.name} (the volumes start empty)")
        seen_home |= member.name.rstrip("/") == "var/lib/probe"
        if SECRET_KEY_MAGIC in data or member.name.endswith("probe.key"):
            found.append(f"{layer}: {member.name} holds a minisign secret key")
        if image.secret_marker.encode() in data or member.name.startswith("run/secrets/"):
            found.append(f"{layer}: {member.name} holds a build secret")
    assert seen_home and not found, found


def test_a_run_offline_without_capabilities(image: Image, volumes: Volumes) -> None:
    """Exit 3 (offline, nothing measured, said so in a signed file owned by the image's user); the key is made
    in the state volume, private; no capture without NET_RAW; nothing of the host or the container's name."""
    init(image, volumes)
    hostname = f"probe-test-host-{os.getpid()}"
    done = run(image, volumes, "run", hostname=hostname)
    assert done.returncode == 3, done.stderr
    assert "no network" in done.stderr and "Traceback" not in done.stderr
    files = results(volumes)
    assert len(files) == 2, files  # the result file and its signature
    check_signed(volumes, image, files)
    key = volumes.folder(volumes.state) / "config" / "probe.key"
    for path in [*files, key]:
        assert path.stat().st_uid == UID, path
    assert key.stat().st_mode & 0o077 == 0
    (result,) = (f for f in files if f.suffix == ".jsonl")
    assert capture_states(result) == {"off: needs root or CAP_NET_RAW"}
    identity = privacy.machine(extra_texts=[hostname, volumes.state, volumes.results])
    assert privacy.leaks(result.read_bytes(), identity) == []


def test_net_raw_turns_capture_on(image: Image, volumes: Volumes) -> None:
    init(image, volumes)
    done = run(image, volumes, "run", caps=("NET_RAW",))
    assert done.returncode == 3, done.stderr
    files = results(volumes)
    check_signed(volumes, image, files)
    (result,) = (f for f in files if f.suffix == ".jsonl")
    assert capture_states(result) == {"on"}


def test_schedule_loop_stops_cleanly_on_docker_stop(image: Image, volumes: Volumes) -> None:
    """`docker stop` lands while a run is under way (the loop runs one at once with --delay 0): the container
    exits 0 well before Docker's 10 s SIGKILL, and leaves only whole, signed files. Nothing in it runs as root."""
    init(image, volumes)
    name = f"probe-test-{os.getpid()}-loop"
    arguments = ["--name", name, "--init", "--network", "none", "--cap-drop", "ALL", *volumes.mounts]
    try:
        docker("run", "-d", *arguments, image.tag, "schedule", "loop", "--every", "10m", "--delay", "0")
        processes = wait_for_run(name)
        assert {uid for uid, _ in processes} == {str(UID)}, processes
        started = time.monotonic()
        docker("stop", name, timeout=30)
        stopped = time.monotonic() - started
        state = inspect(name)["State"]
        logs = docker("logs", name)
        assert state["ExitCode"] == 0, (state, logs.stderr)
        assert stopped < 10, stopped
        assert "a run every 10m" in logs.stderr and "Traceback" not in logs.stderr
        check_signed(volumes, image, results(volumes))
    finally:
        docker("rm", "--force", "--volumes", name, check=False)  # and the image's anonymous volumes


def wait_for_run(name: str) -> list[tuple[str, str]]:
    """(uid, command) of the container's processes, once `probe run` is among them."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = docker("top", name, "-eo", "pid,uid,args").stdout.splitlines()[1:]
        processes = [(parts[1], parts[2]) for parts in (line.split(None, 2) for line in listed)]
        if any("-m probe run" in command for _, command in processes):
            return processes
        time.sleep(0.05)
    raise AssertionError(f"no run started within a minute: {processes}")


def image_files(tag: str) -> Iterator[tuple[str, tarfile.TarInfo, bytes]]:
    """(layer, member, content) of every entry of every layer of the image."""
    command = cli()
    assert command is not None
    with subprocess.Popen([command, "save", tag], stdout=subprocess.PIPE) as saved:
        assert saved.stdout is not None
        with tarfile.open(fileobj=saved.stdout, mode="r|") as outer:
            for entry in outer:
                if not entry.name.endswith("layer.tar"):
                    continue
                layer = outer.extractfile(entry)
                assert layer is not None
                with tarfile.open(fileobj=layer, mode="r|") as inner:
                    for member in inner:
                        content = inner.extractfile(member) if member.isfile() else None
                        yield entry.name, member, content.read() if content is not None else b""
    assert saved.returncode == 0
