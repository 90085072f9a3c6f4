"""Suite-wide rules for the censorship lab (tests/lab): it needs root, network namespaces and real servers.

Without them every lab test is skipped with one loud reason (folded into a single line by `-ra`, and a banner at
the end), never silently passed. With PROBE_REQUIRE_LAB=1 (CI, and ./scripts/test as root) a skipped lab test
fails the whole session: the lab must run there.

./scripts/test runs the suite in parallel workers (pytest-xdist, `--dist loadgroup`); see
`pytest_collection_modifyitems` for how tests are grouped and ordered.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from functools import cache

import pytest

LAB_TOOLS = ("ip", "iptables", "iptables-restore", "sysctl", "ss", "ethtool", "unbound", "nginx")
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


_skipped_lab: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups and order for parallel workers (`-n N --dist loadgroup`; harmless without xdist).

    A test that names its own `xdist_group` keeps it (a lab scenario's self-test and verdict tests share one, so
    they run in one worker, behind the censor that worker proved). Every other test is grouped by its module, so
    module- and session-scoped fixtures are set up once per module, not once per worker. The lab's groups go
    first: they are the longest (a probe run each), and a long group started last would leave the other workers
    idle while it finishes. Each worker builds its own lab, with its own process id in every name.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    items.sort(key=lambda item: item.get_closest_marker("lab") is None)  # stable: the lab first, in its order


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("lab") is not None:
        reason = lab_unavailable()
        if reason is not None:
            pytest.skip(f"LAB NOT RUN: {reason}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # An expected failure is reported as "skipped" too; only a real skip means the lab did not run.
    if report.skipped and not hasattr(report, "wasxfail") and "lab" in report.keywords:
        _skipped_lab.append(report.nodeid)


def _required() -> bool:
    return os.environ.get("PROBE_REQUIRE_LAB") == "1"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped_lab and _required() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _skipped_lab:
        return
    verdict = "PROBE_REQUIRE_LAB=1, so the session FAILS" if _required() else "the lab did not run"
    terminalreporter.section("censorship lab", sep="!", red=True, bold=True)
    terminalreporter.line(f"{len(_skipped_lab)} lab tests skipped: {verdict}.", red=True, bold=True)
    terminalreporter.line(f"reason: {lab_unavailable() or 'see the skip reasons above'}", red=True)
