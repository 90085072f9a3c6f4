"""The probe as pip installs it, not as a clone runs it: a wheel built from this tree, unpacked, and run from a
folder outside the tree. Its `probe targets list` shows the clone's lists (they travel as package data from the
top-level targets/), and an installed probe keeps its results in its data folder, where a clone keeps them in the
repository's results/ (issue 20)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "results", "__pycache__", "test-*")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The unpacked wheel: a folder that holds the `probe` package as site-packages would."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=SKIP)  # build a copy: concurrent runs must not share build/
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = work.glob("probe-*.whl")
    site = work / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    yield site


def _probe(site: Path | None, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m probe ARGS` from `home` (outside the tree), on the unpacked wheel (or on the clone when None)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBE_", "XDG_", "PYTHON"))}
    env.update(HOME=str(home), PYTHONPATH=str(site) if site else str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "probe", *args], cwd=home, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_wheel_lists_the_clones_targets(installed: Path, tmp_path: Path) -> None:
    from_wheel = _probe(installed, tmp_path, "targets", "list", "--json")
    from_clone = _probe(None, tmp_path, "targets", "list", "--json")
    assert from_wheel.returncode == 0 and from_clone.returncode == 0, from_wheel.stderr + from_clone.stderr
    wheel, clone = json.loads(from_wheel.stdout), json.loads(from_clone.stdout)
    assert [Path(x.pop("file")).name for x in wheel["lists"]] == [Path(x.pop("file")).name for x in clone["lists"]]
    assert Path(json.loads(from_wheel.stdout)["lists"][0]["file"]).is_relative_to(installed)  # the wheel's own copy
    assert wheel == clone and wheel["lists"]  # the same lists, entry for entry


def test_an_installed_probe_keeps_results_in_its_data_folder_a_clone_in_the_repository(
    installed: Path, tmp_path: Path
) -> None:
    where = "import probe; from probe.local import paths; print(probe.__file__); print(paths.default_results_dir())"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBE_", "XDG_", "PYTHON"))}
    for site, expected in ((installed, tmp_path / ".local" / "share" / "probe" / "results"), (ROOT, ROOT / "results")):
        done = subprocess.run(
            [sys.executable, "-c", where],
            cwd=tmp_path,
            env={**env, "HOME": str(tmp_path), "PYTHONPATH": str(site)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        module, folder = done.stdout.splitlines()
        assert Path(module).is_relative_to(site)  # the copy under test, not the editable install
        assert Path(folder) == expected
