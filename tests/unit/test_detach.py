"""scripts/detach: a daemon started by ./scripts/test keeps none of its caller's descriptors, so a lock the caller
holds (land.sh's flock on the landing and heavy locks) is free again when the caller ends, daemon or not."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

DETACH = Path(__file__).resolve().parents[2] / "scripts" / "detach"


def test_a_detached_daemon_holds_none_of_its_callers_locks(tmp_path: Path) -> None:
    lock = tmp_path / "heavy.lock"
    log = tmp_path / "daemon.log"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        # as `flock LOCK ./scripts/test` runs it: the locked descriptor is inherited
        done = subprocess.run(
            [str(DETACH), str(log), "sh", "-c", "ls /proc/$$/fd; echo listed; exec sleep 30"],
            pass_fds=(held.fileno(),),
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    daemon = int(done.stdout)
    try:
        with lock.open("w") as again:  # the caller is gone; the daemon still runs
            fcntl.flock(again, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError while the daemon holds it
        for _ in range(200):
            if "listed" in log.read_text():
                break
            time.sleep(0.05)
        os.kill(daemon, 0)  # still running
    finally:
        os.kill(daemon, signal.SIGTERM)
    assert sorted(log.read_text().split()[:-1], key=int) == ["0", "1", "2"]  # stdin, stdout, stderr: nothing else
