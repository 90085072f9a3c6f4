"""The probe in its container as the lab's client (issue 19): the container's network namespace is the lab's client
namespace (`ip netns attach`), so `docker run --network container:...` meets the lab's servers and censor as the
probe on the host does, every capability dropped but NET_RAW (capture on), one clean scenario and one censored."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.measure import CONTROL_SNI
from tests.docker.engine import GROUP, Image, Volumes, docker, init, run
from tests.lab import selftest
from tests.lab.lab import Lab
from tests.lab.netns import attach_namespace
from tests.lab.plan import LabPlan, lab_targets
from tests.lab.scenarios import SCENARIOS
from tests.lab.verdicts import check, finished, probe_argv

pytestmark = [pytest.mark.docker, pytest.mark.lab, pytest.mark.slow, GROUP]

LAB_CA = "/run/lab-ca.pem"  # where the container sees the lab CA


class Client:
    """Idle containers of the image (offline, every capability dropped), a new one each time the lab makes its
    client namespace (a fresh one with every censor): the newest one's namespace is the client's."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self.made = 0
        self.current: str | None = None

    def __call__(self, namespace: str) -> None:
        self.remove()
        self.made += 1
        self.current = f"probe-test-{os.getpid()}-client-{self.made}"
        options = ["--name", self.current, "--network", "none", "--cap-drop", "ALL", "--entrypoint", "sleep"]
        # The lab is dual-stack; Docker turns IPv6 off in a container without a network of its own.
        options += ["--sysctl", "net.ipv6.conf.all.disable_ipv6=0", "--sysctl", "net.ipv6.conf.default.disable_ipv6=0"]
        docker("run", "--detach", *options, self.image.tag, "infinity")
        attach_namespace(namespace, int(docker("inspect", "--format", "{{.State.Pid}}", self.current).stdout))

    def remove(self) -> None:
        if self.current is not None:
            docker("rm", "--force", "--volumes", self.current, check=False)  # and the image's anonymous volumes
            self.current = None


@pytest.fixture(scope="module")
def client(image: Image) -> Iterator[Client]:
    made = Client(image)
    try:
        yield made
    finally:
        made.remove()


@pytest.fixture(scope="module")
def lab(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab (its own prefix) whose client namespace is always a container's."""
    plan = LabPlan.from_targets(lab_targets())  # the lists the image bundles (the same working tree), the lab's own
    folder = tmp_path_factory.mktemp("docker-lab")
    made = Lab(folder, plan, CONTROL_SNI, sys.executable, prefix=f"pdkr{os.getpid()}", new_client=client)
    try:
        made.build()
        yield made
    finally:
        made.teardown()


@pytest.mark.parametrize("name", ["clean", "tls_sni_reset"])
def test_the_container_in_the_lab(image: Image, client: Client, lab: Lab, volumes: Volumes, name: str) -> None:
    """The censor proves itself, then `probe run --json` in a container beside the client's gets every verdict,
    the vantage status and the exit code the scenario expects, with the lab's resolver and CA mounted in."""
    scenario = next(s for s in SCENARIOS if s.name == name)
    assert lab.pki is not None
    with lab.censor(scenario.censor):
        report = selftest.run(lab, scenario.selftest)
    assert report.passed, report.text
    init(image, volumes)
    argv = [LAB_CA if a == str(lab.pki.ca_file) else a for a in probe_argv(lab, Path("/results"), scenario=scenario)]
    # The lists and anchors the lab's command line names (the bundled ones, the lab's own list, the lab's stand-in
    # for Signal's CA) at the same paths in the container, read-only.
    files = [a for flag, a in itertools.pairwise(argv) if flag == "--targets"]
    files += [a.split("=", 1)[1] for flag, a in itertools.pairwise(argv) if flag == "--anchor"]
    mounts = (
        f"{lab.pki.ca_file}:{LAB_CA}:ro",
        f"{lab.resolv_conf}:/etc/resolv.conf:ro",
        *(f"{f}:{f}:ro" for f in dict.fromkeys(files)),
    )
    with lab.censor(scenario.censor):
        done = run(
            image,
            volumes,
            *argv[1:],
            caps=("NET_RAW",),
            network=f"container:{client.current}",
            mounts=mounts,
            timeout=180,
        )
    outcome = finished(argv, done)
    assert outcome.summary["result_file"].startswith("/results/"), outcome.summary
    check(scenario, lab, outcome)
