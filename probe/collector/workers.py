"""Several collector processes on one port, each listening on a socket of its own (Linux `SO_REUSEPORT`), under a
small supervisor: it restarts a worker that dies, and stops them all on SIGTERM or SIGINT.

Why not uvicorn's own `--workers`: its parent binds one socket that every worker shares, and the kernel gives each
new connection to the worker that began waiting last, so a few workers take most connections while the rest idle.
Measured with 64 keep-alive clients over 4 workers: 33/17/9/5 and 34/29/1/0 connections. Each worker runs the
checks on its one event loop, so the busiest worker bounds the collector. With a socket each, the kernel spreads
connections by a hash of their addresses: 15/16/16/17. docs/dataset.md "Ingest benchmark" has what it changed.
The price: when a worker dies, the connections still waiting in its own queue are reset, and their probes send
again later (an upload is idempotent); with one shared socket, another worker would have taken them.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from multiprocessing.process import BaseProcess
from typing import Any

BALANCED = sys.platform.startswith("linux")  # elsewhere SO_REUSEPORT does not spread connections
BACKLOG = 2048
STARTUP_FAILURE = 3  # a worker's exit status when it never served (as uvicorn's): restarting would fail the same way
STOP_SECONDS = 15.0  # after SIGTERM, what a worker gets to finish its uploads before SIGKILL
PORT_WAIT = 3.0  # seconds a new collector waits for the port (a killed supervisor's workers take 1-2 s to leave)
_POLL = 0.5


class WorkerFailed(Exception):
    """A worker died while starting; restarting it would fail the same way."""


def listener(host: str, port: int, *, shared: bool) -> socket.socket:
    """A TCP socket bound to (host, port). `shared`: one of a group of sockets on that port (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once, despite TIME_WAIT
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def wait_for_port(host: str, port: int, seconds: float = PORT_WAIT) -> None:
    """Return once a plain bind to (host, port) succeeds, trying for up to `seconds` while the port is in use;
    raises the last OSError. Right after SIGKILL of a supervisor its workers still listen until they notice (issue
    21: 4 restarts of 9 failed with "port in use"); a collector that keeps running keeps the port, and is refused."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            listener(host, port, shared=False).close()
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise
        time.sleep(0.1)


def raise_open_files_limit() -> None:
    """Open files up to the hard limit: each connection is a file, and at a soft limit of 1024 a crowd of slow
    connections from many addresses would leave none for honest probes (accept() fails with EMFILE)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(app: str, host: str, port: int, workers: int, options: Mapping[str, Any]) -> None:
    """Run `workers` processes serving the ASGI factory `app` on (host, port) until SIGTERM or SIGINT.

    Raises OSError when the port is taken (checked before any worker starts), WorkerFailed when a worker could not
    start serving."""
    # A plain bind, not a shared one: it fails when anything holds the port, a second collector included.
    listener(host, port, shared=False).close()
    context = multiprocessing.get_context("spawn")  # a clean interpreter per worker, as uvicorn's workers

    def start() -> BaseProcess:
        process = context.Process(target=_worker, args=(app, host, port, dict(options), os.getpid()))
        process.start()
        return process

    stop = threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGTERM, signal.SIGINT)}
    running = [start() for _ in range(workers)]
    try:
        while not stop.wait(_POLL):
            for index, process in enumerate(running):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    raise WorkerFailed(f"collector worker {process.pid} could not start serving")
                print(f"collector: worker {process.pid} exited ({process.exitcode}); starting another", file=sys.stderr)
                running[index] = start()
    finally:
        _stop_all(running)
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stop_all(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _worker(app: str, host: str, port: int, options: dict[str, Any], parent: int) -> None:
    import uvicorn

    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        sock = listener(host, port, shared=True)
        sock.listen(BACKLOG)
    except OSError as exc:
        print(f"collector worker: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(uvicorn.Config(app, factory=True, **options))
    with contextlib.suppress(SystemExit):  # uvicorn exits when the app cannot be made; it has said why
        server.run(sockets=[sock])
    sys.exit(0 if server.started else STARTUP_FAILURE)


def _exit_with_parent(parent: int) -> None:
    """Stop (gracefully) when the supervisor is gone, killed included: an orphan would keep the port."""
    while os.getppid() == parent:
        time.sleep(_POLL)
    os.kill(os.getpid(), signal.SIGTERM)
