"""Suite-wide rules for the tests that need more than Python: the censorship lab (tests/lab: root, network
namespaces, real servers) and the Docker image (tests/docker: a Docker daemon).

Without what they need, those tests are skipped with one loud reason (folded into a single line by `-ra`, and a
banner at the end), never silently passed. Where they must run, a skip fails the whole session: PROBE_REQUIRE_LAB=1
(CI, and ./scripts/test as root) for the lab, PROBE_REQUIRE_DOCKER=1 (CI) for the image.

./scripts/test runs the suite in parallel workers (pytest-xdist, `--dist loadgroup`); see
`pytest_collection_modifyitems` for how tests are grouped and ordered.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import pytest

LAB_TOOLS: tuple[str, ...] = ("ip", "iptables", "iptables-restore", "ip6tables", "ip6tables-restore", "sysctl")
LAB_TOOLS += ("ss", "ethtool", "unbound", "nginx")
LAB_MODULES = ("scapy", "trustme", "httpx", "h2")


@cache
def lab_unavailable() -> str | None:
    """Why the lab cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the censorship lab needs root (network namespaces, iptables); run ./scripts/test as root"
    missing = [t for t in LAB_TOOLS if shutil.which(t) is None]
    missing += [m for m in LAB_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return f"the censorship lab needs {', '.join(missing)}; ./scripts/test as root installs them"
    return None


@cache
def docker_unavailable() -> str | None:
    from tests.docker.engine import unavailable

    return unavailable()


@dataclass
class Needs:
    """A marker whose tests need something the machine may lack, and the variable that makes them required."""

    marker: str
    title: str
    required_by: str
    unavailable: Callable[[], str | None]
    skipped: list[str] = field(default_factory=list)

    def required(self) -> bool:
        return os.environ.get(self.required_by) == "1"


@cache
def browser_unavailable() -> str | None:
    from tests.dataset.browser import chromium_missing

    return chromium_missing()


@cache
def java_unavailable() -> str | None:
    if shutil.which("java") is None:
        return "Spark needs Java: apt install openjdk-17-jre-headless (./scripts/test as root installs it)"
    return None


NEEDS = (
    Needs("lab", "censorship lab", "PROBE_REQUIRE_LAB", lab_unavailable),
    Needs("docker", "Docker image", "PROBE_REQUIRE_DOCKER", docker_unavailable),
    # Debian packages that ./scripts/test installs as root, as it installs the lab's: required where the lab is.
    Needs("browser", "headless Chromium", "PROBE_REQUIRE_LAB", browser_unavailable),
    Needs("java", "Spark (Java)", "PROBE_REQUIRE_LAB", java_unavailable),
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups and order for parallel workers (`-n N --dist loadgroup`; harmless without xdist).

    A test that names its own `xdist_group` keeps it (a lab scenario's self-test and verdict tests share one, so
    they run in one worker, behind the censor that worker proved). Every other test is grouped by its module, so
    module- and session-scoped fixtures are set up once per module, not once per worker. The lab's groups go
    first: they are the longest (a probe run each), and a long group started last would leave the other workers
    idle while it finishes; the Docker image's group next (building the image takes 1-2 minutes). Each worker
    builds its own lab, with its own process id in every name.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    # Stable: the lab first, in its order, then the Docker image.
    items.sort(key=lambda item: (item.get_closest_marker("lab") is None, item.get_closest_marker("docker") is None))


def pytest_runtest_setup(item: pytest.Item) -> None:
    for needs in NEEDS:
        if item.get_closest_marker(needs.marker) is not None:
            reason = needs.unavailable()
            if reason is not None:
                pytest.skip(f"{needs.marker.upper()} NOT RUN: {reason}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # An expected failure is reported as "skipped" too; only a real skip means the tests did not run.
    if report.skipped and not hasattr(report, "wasxfail"):
        for needs in NEEDS:
            if needs.marker in report.keywords:
                needs.skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if any(n.skipped and n.required() for n in NEEDS) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for needs in NEEDS:
        if not needs.skipped:
            continue
        verdict = f"{needs.required_by}=1, so the session FAILS" if needs.required() else "they did not run"
        terminalreporter.section(needs.title, sep="!", red=True, bold=True)
        terminalreporter.line(f"{len(needs.skipped)} {needs.marker} tests skipped: {verdict}.", red=True, bold=True)
        terminalreporter.line(f"reason: {needs.unavailable() or 'see the skip reasons above'}", red=True)
