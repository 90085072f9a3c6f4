"""The uploader against a collector (or whatever answers in its place) that misbehaves (issue 21): `probe upload
--budget` holds against answers sent a byte at a time, and a file leaves the spool only on a 200 or 201 that
names that very file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from probe.local.spool import Spool
from probe.local.upload import classify, parse_retry_after
from probe.minisign import SecretKey
from tests.dataset.files import make_file
from tests.dataset.servers import LOOPBACK, Process, free_port
from tests.dataset.test_faults import seal

BUDGET = 4.0


def test_upload_ends_within_its_budget_against_an_answer_sent_a_byte_at_a_time(
    tmp_path: Path, secret: SecretKey
) -> None:
    home = tmp_path / "home"
    spool = Spool(home / "state" / "spool")
    seal(spool, make_file(secret), secret)
    port = free_port()
    server = Process([sys.executable, "-m", "tests.net.hostile", "http-trickle", "--port", str(port), "--certs",
                      str(tmp_path)], tmp_path / "server.log")  # fmt: skip
    server.start()
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "server.log").exists() or not _listening(port):
            assert time.monotonic() < deadline and server.alive(), server.log_text()
            time.sleep(0.05)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBE_", "XDG_"))}
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "probe", "upload", "--to", f"http://{LOOPBACK}:{port}", "--budget", str(BUDGET)],
            env={**env, "PROBE_HOME": str(home)}, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert elapsed < BUDGET + 5, f"upload --budget {BUDGET:g} took {elapsed:.1f} s"  # + the interpreter's start
    assert len(spool.ready()) == 1  # still waiting, never forgotten


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection((LOOPBACK, port), timeout=0.5).close()
    except OSError:
        return False
    return True


SHA = "a" * 64


def test_a_200_or_201_counts_only_when_it_names_the_file() -> None:
    named = b'{"status":"stored","sha256":"' + SHA.encode() + b'"}'
    assert classify(201, {}, named, 0.0, SHA).kind == "stored"
    assert classify(200, {}, named.replace(b"stored", b"duplicate"), 0.0, SHA).kind == "duplicate"
    portal = b"<html><body>Welcome to the hotel Wi-Fi</body></html>"
    other = b'{"status":"stored","sha256":"' + b"b" * 64 + b'"}'
    for body in (portal, other, b"", b'{"status":"stored"}', b'["' + SHA.encode() + b'"]'):
        assert classify(200, {}, body, 0.0, SHA).kind == "retry", body
        assert classify(201, {}, body, 0.0, SHA).kind == "retry", body


def test_a_retry_after_that_is_neither_a_number_nor_a_date_is_ignored() -> None:
    for garbage in ("²", "٣", "1.5", "-3", "1e3", "0x10", "soon", "Tue, 99 Foo 2026 99:99:99 GMT"):
        assert parse_retry_after(garbage, 0.0) is None, garbage
        assert classify(503, {"retry-after": garbage}, b"", 0.0).retry_after is None
    assert parse_retry_after("120", 0.0) == 120.0
