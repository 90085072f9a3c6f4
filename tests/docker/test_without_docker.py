"""Where no Docker daemon answers, the Docker tests are skipped with one loud reason (tests/conftest.py), and
PROBE_REQUIRE_DOCKER=1 (CI) turns that skip into a failed session. These run anywhere: a pytest of their own is
pointed at a docker command that does not exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docker.engine import ROOT


@pytest.mark.parametrize("required", [False, True], ids=["optional", "required"])
def test_no_daemon_is_one_loud_skip(tmp_path: Path, required: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not a worker of this session's
    env |= {"PROBE_DOCKER": str(tmp_path / "no-docker"), "PROBE_REQUIRE_DOCKER": "1" if required else "0"}
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/docker/test_image.py"]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    summary = done.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ skipped\b", summary) and not re.search(r"passed|failed|error", summary), summary
    assert "DOCKER NOT RUN:" in done.stdout and "Docker image" in done.stdout  # the reason, and the banner
    assert done.returncode == (1 if required else 0), done.stdout[-2000:]
    assert ("PROBE_REQUIRE_DOCKER=1, so the session FAILS" in done.stdout) == required
