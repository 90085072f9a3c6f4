"""The Dockerfile read as text, in seconds and without Docker (tests/docker builds and runs it): slim base,
installs the package the way the volunteers' guide (docs/volunteer.md) does, runs as a non-root user, keeps state
and results on volumes; the entrypoint grants packet capture only with NET_RAW (its shell logic runs here, under
dash, against fake /proc status files)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.netns import need

ROOT = Path(__file__).resolve().parents[2]
DOCKER_DEFAULT_CAPS = "00000000a80425fb"  # Docker's default bounding set: NET_RAW (bit 13) included
WITHOUT_NET_RAW = f"{int(DOCKER_DEFAULT_CAPS, 16) & ~(1 << 13):016x}"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def env() -> dict[str, str]:
    values: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                values[key] = value
    return values


def test_slim_python_base() -> None:
    bases = [rest for word, rest in instructions() if word == "FROM"]
    assert len(bases) == 1 and re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", bases[0]), bases


def test_runs_as_a_non_root_user_created_in_the_image() -> None:
    users = [rest for word, rest in instructions() if word == "USER"]
    assert users, "no USER: the container would run as root"
    final = users[-1].split(":")[0]
    assert final not in ("root", "0")
    runs = " ".join(rest for word, rest in instructions() if word == "RUN")
    assert re.search(rf"useradd .*\b{re.escape(final)}\b", runs)
    assert [w for w, _ in instructions()].index("USER") > [w for w, _ in instructions()].index("RUN")


def test_installs_the_package_the_way_the_readme_does() -> None:
    runs = [rest for word, rest in instructions() if word == "RUN"]
    installs = [m.group(0) for r in runs for m in re.finditer(r"pip install [^&;]*", r)]
    assert len(installs) == 1, installs
    command = installs[0].strip()
    words = shlex.split(command)
    assert words[:2] == ["pip", "install"] and words[2].startswith("."), command  # from the source tree
    guide = (ROOT / "docs" / "volunteer.md").read_text()
    assert command in guide  # the very command the volunteers' guide shows
    readme = (ROOT / "README.md").read_text()
    assert "pip install ." in readme.split("\n## ", 1)[0]  # and the README's quick start installs from the tree too
    copies = [rest for word, rest in instructions() if word == "COPY"]
    assert any("pyproject.toml" in c for c in copies) and any(c.split()[0] == "probe" for c in copies)


def test_state_and_results_live_on_volumes_owned_by_the_user() -> None:
    values = env()
    volumes = [v for word, rest in instructions() if word == "VOLUME" for v in re.findall(r'"([^"]+)"', rest)]
    assert values["PROBE_HOME"] in volumes
    assert values["PROBE_RESULTS_DIR"] in volumes
    runs = " ".join(rest for word, rest in instructions() if word == "RUN")
    for folder in volumes:
        assert re.search(rf"chown [^&]*{re.escape(folder)}", runs), f"{folder} would belong to root"


def test_entrypoint_is_the_script_in_the_tree() -> None:
    (entry,) = [rest for word, rest in instructions() if word == "ENTRYPOINT"]
    name = shlex.split(entry.strip("[]").replace('"', "'").replace(",", " "))[0]
    copies = [rest.split() for word, rest in instructions() if word == "COPY"]
    source = next(parts[0] for parts in copies if len(parts) == 2 and parts[1].endswith("/" + name))
    script = ROOT / source
    assert script.is_file() and script.stat().st_mode & 0o111


@pytest.mark.parametrize(("bounding", "chosen"), [(DOCKER_DEFAULT_CAPS, "netraw"), (WITHOUT_NET_RAW, "plain")])
def test_capture_interpreter_only_with_net_raw(tmp_path: Path, bounding: str, chosen: str) -> None:
    need(shutil.which("dash") is not None, "dash is not installed (Debian's /bin/sh)")
    status = tmp_path / "status"
    status.write_text(f"Name:\tsh\nCapInh:\t0000000000000000\nCapBnd:\t{bounding}\nCapAmb:\t0000000000000000\n")
    for name in ("plain", "netraw"):
        fake = tmp_path / name
        fake.write_text(f'#!/bin/sh\necho {name} "$@"\n')
        fake.chmod(0o755)
    done = subprocess.run(
        ["dash", str(ROOT / "docker" / "entrypoint.sh"), "schedule", "loop", "--every", "6h"],
        env={
            "PATH": "/usr/bin:/bin",
            "PROBE_PROC_STATUS": str(status),
            "PROBE_PYTHON": str(tmp_path / "plain"),
            "PROBE_PYTHON_NETRAW": str(tmp_path / "netraw"),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == f"{chosen} -m probe schedule loop --every 6h\n"


def test_guide_shows_one_run_a_long_lived_probe_and_net_raw() -> None:
    guide = (ROOT / "docs" / "volunteer.md").read_text()
    docker = guide[guide.index("## Docker") :]
    runs = [line for line in docker.splitlines() if line.startswith("docker run")]
    assert any(" run" in line.split("probe", 1)[-1] and "--rm" in line for line in runs)
    assert any("-d " in line for line in runs) and "schedule loop" in docker
    assert "init --accept-risks" in docker
    assert "--cap-add NET_RAW" in docker
