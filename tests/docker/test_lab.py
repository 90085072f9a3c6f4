"""The probe in its container as the lab's client (issue 19): the container's network namespace is the lab's client
namespace (`ip netns attach`), so `docker run --network container:...` meets the lab's servers and censor as the
probe on the host does, every capability dropped but NET_RAW (capture on), one clean scenario and one censored."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe import targets
from probe.measure import CONTROL_SNI
from tests.docker.engine import GROUP, Image, Volumes, docker, init, run
from tests.lab import selftest
from tests.lab.lab import Lab
from tests.lab.plan import LabPlan
from tests.lab.scenarios import SCENARIOS
from tests.lab.verdicts import check, finished, probe_argv

pytestmark = [pytest.mark.docker, pytest.mark.lab, pytest.mark.slow, GROUP]

LAB_CA = "/run/lab-ca.pem"  # where the container sees the lab CA


@pytest.fixture(scope="module")
def holder(image: Image) -> Iterator[str]:
    """An idle container of the image, offline until the lab wires its namespace: the lab's client."""
    name = f"probe-test-{os.getpid()}-client"
    try:
        options = ["--name", name, "--network", "none", "--cap-drop", "ALL", "--entrypoint", "sleep"]
        docker("run", "--detach", *options, image.tag, "infinity")
        yield name
    finally:
        docker("rm", "--force", "--volumes", name, check=False)  # and the image's anonymous volumes


@pytest.fixture(scope="module")
def lab(holder: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab (its own prefix) whose client namespace is the holder container's."""
    plan = LabPlan.from_targets(targets.load())  # the lists the image bundles: the same working tree
    made = Lab(tmp_path_factory.mktemp("docker-lab"), plan, CONTROL_SNI, sys.executable, prefix=f"pdkr{os.getpid()}")
    made.client_pid = int(docker("inspect", "--format", "{{.State.Pid}}", holder).stdout)
    try:
        made.build()
        yield made
    finally:
        made.teardown()


@pytest.mark.parametrize("name", ["clean", "tls_sni_reset"])
def test_the_container_in_the_lab(image: Image, holder: str, lab: Lab, volumes: Volumes, name: str) -> None:
    """The censor proves itself, then `probe run --json` in a container beside the client's gets every verdict,
    the vantage status and the exit code the scenario expects, with the lab's resolver and CA mounted in."""
    scenario = next(s for s in SCENARIOS if s.name == name)
    assert lab.pki is not None
    with lab.censor(scenario.censor):
        report = selftest.run(lab, scenario.selftest)
    assert report.passed, report.text
    init(image, volumes)
    argv = [LAB_CA if a == str(lab.pki.ca_file) else a for a in probe_argv(lab, Path("/results"), scenario=scenario)]
    mounts = (f"{lab.pki.ca_file}:{LAB_CA}:ro", f"{lab.resolv_conf}:/etc/resolv.conf:ro")
    with lab.censor(scenario.censor):
        done = run(
            image, volumes, *argv[1:], caps=("NET_RAW",), network=f"container:{holder}", mounts=mounts, timeout=180
        )
    outcome = finished(argv, done)
    assert outcome.summary["result_file"].startswith("/results/"), outcome.summary
    check(scenario, lab, outcome)
