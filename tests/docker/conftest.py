"""Fixtures of the Docker tests: the image built from the working tree once per session, and the two volumes the
README's commands use (state, results), fresh for each test. Names carry the pid; everything goes in `finally`.
Whether Docker is there at all is checked in tests/conftest.py."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.docker.engine import Image, Volumes, build_image, docker


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    tag = f"probe-test:{os.getpid()}"
    try:
        yield Image(tag, build_image(tag, tmp_path_factory.mktemp("docker-build")))
    finally:
        docker("image", "rm", "--force", tag, check=False)
        # Each build of a changed tree adds its layers to BuildKit's cache: keep it from growing run after run.
        docker("builder", "prune", "--force", "--keep-storage", "1GB", check=False)


@pytest.fixture
def volumes(request: pytest.FixtureRequest) -> Iterator[Volumes]:
    prefix = f"probe-test-{os.getpid()}-{request.node.name[:40].replace('[', '-').rstrip(']')}"
    made = Volumes(f"{prefix}-state", f"{prefix}-results")
    try:
        yield made
    finally:
        docker("volume", "rm", "--force", made.state, made.results, check=False)
