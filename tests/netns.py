"""An empty network namespace for running the real probe: nothing in it but a loopback that is down, so a run
can send nothing anywhere and writes an offline result file. Needs root; CI and ./scripts/test run as root, and
with PROBE_REQUIRE_LAB=1 a missing prerequisite fails the test instead of skipping it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def need(condition: bool, message: str) -> None:
    """Skip the test when `condition` fails, or fail it where the lab must run (PROBE_REQUIRE_LAB=1)."""
    if condition:
        return
    if os.environ.get("PROBE_REQUIRE_LAB") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def empty_netns(prefix: str) -> Iterator[str]:
    """A fresh namespace named `prefix` + pid, deleted however the block ends."""
    need(os.geteuid() == 0, "a network namespace needs root (CI and ./scripts/test run as root)")
    need(shutil.which("ip") is not None, "iproute2 is not installed (./scripts/test installs it as root)")
    name = f"{prefix}{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
