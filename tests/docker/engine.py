"""The Docker engine the image tests drive: which CLI, whether a daemon answers, and the image built from the working
tree on the base scripts/docker-base makes (or the official one, when it is there).

pip inside the build reaches the index the way pip on this machine does: the index settings of `pip config list`
and the CA bundle pip trusts go in as build secrets (mounted for the install step only, never in a layer; the
Dockerfile says how), so a machine behind a mirror or a TLS-inspecting proxy builds the same Dockerfile unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Docker's own CLI from Debian's docker.io has BuildKit built in (build secrets need it); newer CLIs need the buildx
# plugin for it and, without the plugin, fall back to the legacy builder, which has no secrets.
DEBIAN_DOCKER = Path("/usr/bin/docker")
# pip settings that tell where packages come from; the rest of a machine's pip config stays on that machine.
INDEX_SETTINGS = ("index-url", "extra-index-url", "trusted-host")
SECRET_CA = "/run/secrets/ca.crt"  # where the Dockerfile's install step sees the ca.crt secret


def cli() -> str | None:
    """The docker command: PROBE_DOCKER, Debian's docker.io CLI, or the one on PATH."""
    chosen = os.environ.get("PROBE_DOCKER")
    if chosen:
        return chosen
    return str(DEBIAN_DOCKER) if DEBIAN_DOCKER.is_file() else shutil.which("docker")


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = cli()
    assert command is not None
    done = subprocess.run(
        [command, *args], capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def unavailable() -> str | None:
    """Why the image cannot be built and run here, or None when it can."""
    command = cli()
    if os.geteuid() != 0:
        return "the Docker tests need root (the daemon, debootstrap, the volumes' files); run ./scripts/test as root"
    if command is None:
        return "the Docker tests need Docker (Debian's docker.io); ./scripts/test as root installs and starts it"
    try:
        answered = docker("version", "--format", "{{.Server.Version}}", timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        answered = None
    if answered is None or answered.returncode != 0:
        return f"no Docker daemon answers {command}; ./scripts/test as root starts one"
    if docker("image", "inspect", base_name(), check=False).returncode != 0 and shutil.which("debootstrap") is None:
        return f"no {base_name()} image, and making one needs debootstrap; ./scripts/test as root installs it"
    return None


def base_name() -> str:
    """The image the Dockerfile's FROM names."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            return line.split()[1]
    raise AssertionError("the Dockerfile has no FROM")


def pip_settings() -> dict[str, str]:
    """This machine's effective pip settings (files and PIP_* variables), by their plain names."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, check=True
    )
    settings = {}
    for line in listed.stdout.splitlines():
        key, _, value = line.partition("=")
        settings[key.rsplit(".", 1)[-1]] = value.strip("'\"")
    return settings


def ca_bundle(settings: dict[str, str]) -> Path | None:
    """The CA bundle pip here trusts: its `cert` setting, else the system's default one."""
    paths = ssl.get_default_verify_paths()
    for candidate in (settings.get("cert"), paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def build_secrets(folder: Path) -> tuple[list[str], str]:
    """`--secret` arguments for the build, and a marker written into the pip.conf secret (no layer may hold it)."""
    settings = pip_settings()
    marker = f"probe-build-secret-{uuid.uuid4().hex}"
    lines = ["[global]", f"# {marker}"]
    for key in INDEX_SETTINGS:
        # Only what the build can reach: a file:// index or a local folder is a path on this machine, not there.
        values = [v for v in settings.get(key, "").split() if key == "trusted-host" or v.startswith("http")]
        if values:
            lines.append(f"{key} = {' '.join(values)}")
    arguments = []
    bundle = ca_bundle(settings)
    if bundle is not None:
        lines.append(f"cert = {SECRET_CA}")
        arguments += ["--secret", f"id=ca.crt,src={bundle}"]
    conf = folder / "pip.conf"
    conf.write_text("\n".join(lines) + "\n")
    return [*arguments, "--secret", f"id=pip.conf,src={conf}"], marker


def build_image(tag: str, folder: Path) -> str:
    """Build the working tree's Dockerfile as `tag` on its FROM image (kept when it is there, official or ours from
    the same inputs, else made: 1-2 minutes); returns the marker of the build's pip.conf secret."""
    command = cli()
    assert command is not None
    secrets, marker = build_secrets(folder)
    steps = (
        ([str(ROOT / "scripts" / "docker-base"), command], None),
        (
            [command, "build", "--network", "host", "--progress", "plain", *secrets, "-t", tag, str(ROOT)],
            {**os.environ, "DOCKER_BUILDKIT": "1"},
        ),
    )
    for argv, env in steps:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv[:2])} failed:\n{done.stderr[-4000:]}")
    return marker


UID = 10001  # the image's user (Dockerfile: useradd --uid 10001)
# Every Docker test in one pytest-xdist worker: the image is built once per worker (a session fixture).
GROUP = pytest.mark.xdist_group("tests/docker")


@dataclass(frozen=True)
class Image:
    tag: str
    secret_marker: str  # written into the build's pip.conf secret: no layer may hold it


@dataclass(frozen=True)
class Volumes:
    """A probe's two volumes, and the host folders behind them."""

    state: str
    results: str

    @property
    def mounts(self) -> list[str]:
        return ["-v", f"{self.state}:/var/lib/probe", "-v", f"{self.results}:/results"]

    def folder(self, volume: str) -> Path:
        return Path(docker("volume", "inspect", "--format", "{{.Mountpoint}}", volume).stdout.strip())


def run(
    image: Image,
    volumes: Volumes | None,
    *args: str,
    caps: tuple[str, ...] = (),
    hostname: str | None = None,
    network: str = "none",
    mounts: tuple[str, ...] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`docker run` the image with every capability dropped but `caps`, as docs/volunteer.md shows; offline unless
    `network` names another container's namespace (the lab's client, tests/docker/test_lab.py)."""
    options = ["--rm", "--init", "--network", network, "--cap-drop", "ALL", *(f"--cap-add={cap}" for cap in caps)]
    options += volumes.mounts if volumes is not None else []
    options += [a for mount in mounts for a in ("-v", mount)]
    options += ["--hostname", hostname] if hostname else []
    return docker("run", *options, image.tag, *args, check=False, timeout=timeout)


def init(image: Image, volumes: Volumes) -> None:
    """`probe init` as a volunteer runs it once: consent recorded, results kept local, the key made in the volume."""
    done = run(image, volumes, "init", "--accept-risks", "--no-upload")
    assert done.returncode == 0, done.stderr
    assert "Consent recorded in /var/lib/probe/" in done.stdout


def inspect(name: str) -> dict[str, Any]:
    found = json.loads(docker("inspect", name).stdout)
    assert isinstance(found, list) and len(found) == 1
    return dict(found[0])
