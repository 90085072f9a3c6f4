"""Fixtures for the dataset tests: signing keys, real collector processes, one SeaweedFS per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.minisign import SecretKey
from tests.dataset.servers import Collector, SeaweedFS


@pytest.fixture(scope="session", autouse=True)
def no_instance_metadata() -> Iterator[None]:
    """No AWS SDK the tests themselves use (pyarrow's S3, chDB, a test's own boto3 client) may ask the cloud
    instance metadata service, 169.254.169.254, for credentials: the stores here are on loopback and unsigned, and
    no packet may leave the machine. The probe's own S3 client never asks it unless told to
    (test_instance_metadata.py, which runs without this variable)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


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
