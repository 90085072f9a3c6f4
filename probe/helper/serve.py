"""`probe helper serve`'s two processes: the measurer (a child, `probe.helper.measurer`) and the HTTP face (uvicorn
in this process). The port is bound before the measurer starts, so a taken port fails at once; when the measurer
stops, the HTTP face stops too (a helper that serves an ever older view would mislead), and the command exits 3
for a supervisor (systemd, Docker) to restart it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from typing import Any


def serve(uvicorn: Any, host: str, port: int, options: dict[str, Any]) -> str | None:
    """Serve until stopped; returns None after SIGINT/SIGTERM, or why the measurer stopped. Raises OSError when
    the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    config = uvicorn.Config("probe.helper.app:app_from_environment", factory=True, **options)
    server = uvicorn.Server(config)
    # Its stdin is a pipe we never write to: when this process goes, however it goes (SIGKILL from a supervisor
    # included), the pipe closes and the measurer stops (measurer.main), instead of measuring on for nobody.
    measurer = subprocess.Popen([sys.executable, "-m", "probe.helper.measurer"], stdin=subprocess.PIPE)
    ended: list[int] = []
    stopping = threading.Event()

    def watch() -> None:
        code = measurer.wait()
        if not stopping.is_set():  # it stopped by itself, not because we are stopping
            ended.append(code)
            server.should_exit = True

    threading.Thread(target=watch, name="measurer-watch", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        stopping.set()
        if measurer.poll() is None:
            measurer.terminate()
            try:
                measurer.wait(10)
            except subprocess.TimeoutExpired:
                measurer.kill()
                measurer.wait(5)
        sock.close()
        if measurer.stdin is not None:
            measurer.stdin.close()
    if ended:
        return f"exit status {ended[0]}"
    return None
