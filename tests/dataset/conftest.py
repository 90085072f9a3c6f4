"""Fixtures for the dataset tests: signing keys, real collector processes, one SeaweedFS per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.minisign import SecretKey
from tests.dataset.servers import Collector, SeaweedFS


@pytest.fixture
def secret() -> SecretKey:
    return SecretKey.generate()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A real S3-compatible store on loopback, shared by the session (each test uses its own key prefix)."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["file", "s3"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, list[str]]:
    """(store spec, extra collector arguments) for the folder store and for SeaweedFS."""
    if request.param == "file":
        return str(tmp_path / "store"), []
    server: SeaweedFS = request.getfixturevalue("seaweed")
    return f"s3://{server.bucket}/{tmp_path.name}", ["--s3-endpoint", server.endpoint]


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """A collector on the folder store, as `probe collector serve` runs by default."""
    process = Collector(str(tmp_path / "store"), tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.stop()
