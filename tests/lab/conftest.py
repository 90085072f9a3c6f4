"""Fixtures of the censorship lab: the lab itself (built once per session, torn down in `finally`), and which
scenarios' censors proved themselves in this session. Root and tools are checked in tests/conftest.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.measure import CONTROL_SNI
from tests.lab.lab import Lab
from tests.lab.plan import LabPlan, lab_targets
from tests.lab.verdicts import prepare_home


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The client and server namespaces with every server running; a scenario adds its censor with
    `lab.censor(scenario.censor)`."""
    folder = tmp_path_factory.mktemp("lab")
    the_lab = Lab(folder, LabPlan.from_targets(lab_targets()), CONTROL_SNI, sys.executable)
    try:
        the_lab.build()
        yield the_lab
    finally:
        the_lab.teardown()


@pytest.fixture(scope="session")
def probe_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe's own home for the session (keys, settings with consent recorded, run history)."""
    home = tmp_path_factory.mktemp("probe-home")
    prepare_home(home)
    return home


@pytest.fixture(scope="session")
def proven() -> dict[str, bool]:
    """scenario name -> whether its censor self-test passed in this session."""
    return {}
