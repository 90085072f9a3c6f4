"""`probe collector serve --workers N`: N real worker processes, each listening on a socket of its own on the one
port, under a supervisor that replaces a dead worker and takes them all down with it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from probe.collector import workers
from probe.minisign import SecretKey
from tests.dataset.files import make_file
from tests.dataset.servers import LOOPBACK, Collector, free_port, running
from tests.dataset.test_collector import put

pytestmark = pytest.mark.skipif(not workers.BALANCED, reason="one socket per worker is Linux's SO_REUSEPORT")


def socket_owners(port: int, state: str) -> list[int]:
    """The pid behind each TCP socket on our side of `port` in `state` (ss, from iproute2)."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", state, "sport", "=", f":{port}"], capture_output=True, text=True, check=True
    ).stdout
    return [int(pid) for pid in re.findall(r"pid=(\d+)", out)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def listening_workers(collector: Collector, count: int) -> list[int]:
    assert wait_for(lambda: len(set(socket_owners(collector.port, "listening"))) == count), socket_owners(
        collector.port, "listening"
    )
    return sorted(set(socket_owners(collector.port, "listening")))


def test_each_worker_listens_on_its_own_socket_and_connections_spread(tmp_path: Path, secret: SecretKey) -> None:
    with running(Collector(str(tmp_path / "store"), tmp_path, args=["--workers", "3"])) as collector:
        pids = listening_workers(collector, 3)
        assert collector.popen is not None and collector.popen.pid not in pids  # the supervisor serves nothing
        connections = [socket.create_connection((LOOPBACK, collector.port), timeout=10) for _ in range(30)]
        try:
            for connection in connections:  # an answer on each: every one was taken by a worker
                connection.sendall(b"GET /health HTTP/1.1\r\nHost: collector\r\n\r\n")
                assert connection.recv(64).startswith(b"HTTP/1.1 200")
            serving = set(socket_owners(collector.port, "established"))
        finally:
            for connection in connections:
                connection.close()
        # Hashed over 3 sockets, 30 connections all land on one worker with odds of 3 in 3**30.
        assert serving <= set(pids) and len(serving) >= 2, serving
        signed = make_file(secret)
        assert put(collector.url, signed, secret.public_key()).status_code == 201
        assert put(collector.url, signed, secret.public_key()).status_code == 200


def test_a_dead_worker_is_replaced(tmp_path: Path) -> None:
    with running(Collector(str(tmp_path / "store"), tmp_path, args=["--workers", "2"])) as collector:
        victim, survivor = listening_workers(collector, 2)
        os.kill(victim, signal.SIGKILL)
        assert wait_for(lambda: victim not in socket_owners(collector.port, "listening"))
        after = listening_workers(collector, 2)
        assert survivor in after and victim not in after
        assert httpx.get(collector.url + "/health", timeout=10).status_code == 200
        assert collector.alive()


def test_sigterm_to_the_supervisor_stops_every_worker(tmp_path: Path) -> None:
    collector = Collector(str(tmp_path / "store"), tmp_path, args=["--workers", "2"])
    with running(collector):
        pids = listening_workers(collector, 2)
        assert collector.popen is not None
        collector.popen.send_signal(signal.SIGTERM)  # the supervisor alone, as `systemctl stop` with KillMode=mixed
        assert collector.popen.wait(30) == 0
        assert not any(alive(pid) for pid in pids)
        assert socket_owners(collector.port, "listening") == []


def test_workers_exit_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    collector = Collector(str(tmp_path / "store"), tmp_path, args=["--workers", "2"])
    with running(collector):
        pids = listening_workers(collector, 2)
        assert collector.popen is not None
        collector.popen.kill()  # the supervisor alone: orphans would keep the port
        collector.popen.wait(10)
        assert wait_for(lambda: not any(alive(pid) for pid in pids)), [pid for pid in pids if alive(pid)]
        assert socket_owners(collector.port, "listening") == []


def serve_on_taken_port(tmp_path: Path, port: int) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "probe", "collector", "serve", "--store", str(tmp_path / "other-store")]
    return subprocess.run(
        [*argv, "--host", LOOPBACK, "--port", str(port), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PROBE_HOME": str(tmp_path / "home")},
    )


def test_a_taken_port_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve_on_taken_port(tmp_path, port)
    assert result.returncode == 2
    assert f"cannot listen on {LOOPBACK}:{port}" in result.stderr


def test_a_second_collector_on_the_same_port_is_refused(tmp_path: Path) -> None:
    # Sockets that share a port by SO_REUSEPORT would take in a second collector unnoticed: the check must not.
    with running(Collector(str(tmp_path / "store"), tmp_path, args=["--workers", "2"])) as first:
        pids = listening_workers(first, 2)
        result = serve_on_taken_port(tmp_path, first.port)
        assert result.returncode == 2
        assert f"cannot listen on {LOOPBACK}:{first.port}" in result.stderr
        assert sorted(set(socket_owners(first.port, "listening"))) == pids


def test_a_worker_that_cannot_start_stops_the_collector() -> None:
    # An app that cannot be made fails the same way in every worker: no endless restarts. In a child process, so
    # that a supervisor that restarted forever fails this test on the timeout instead of hanging the suite.
    serve = (
        f"workers.serve('probe.collector.missing:factory', {LOOPBACK!r}, {free_port()}, 2, {{'log_level': 'critical'}})"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"from probe.collector import workers; {serve}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "WorkerFailed: collector worker" in result.stderr and "could not start serving" in result.stderr
