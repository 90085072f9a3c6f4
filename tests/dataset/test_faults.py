"""The faults the dataset must survive, proved against real processes: a real collector (`probe collector serve`)
on loopback, on the folder store and on a real SeaweedFS, and the probe's real spool and drain.

- collector down while a run ends: nothing lost, delivered on the next drain (the backoff kept across processes);
- collector SIGKILLed in the middle of uploads: every acknowledged file is there after restart, no partial object;
- the same file uploaded twice, by two probes at once, through two collector processes: stored once;
- bad signature, wrong sha256, truncated body, garbage JSON, oversized body: refused with the right status,
  nothing stored, and the probe moves the file to its dead-letter folder with the reason.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from probe import signing
from probe.collector import layout
from probe.collector.store import Store, open_store
from probe.local.spool import Spool
from probe.local.upload import Uploader, drain, load_state
from probe.minisign import PublicKey, SecretKey
from tests.dataset.files import SignedFile, make_file, make_lines, sign_bytes, sign_lines
from tests.dataset.servers import Collector, free_port, running
from tests.dataset.test_collector import put


def seal(spool: Spool, signed: SignedFile, secret: SecretKey) -> None:
    spool.seal(signed.data, signed.signature, signed.name, secret.public_key().to_base64())


def stored_bodies(store: Store) -> dict[str, str]:
    """sha256 -> key of every raw body in the store."""
    found = {}
    for key in store.keys(layout.RAW_PREFIX):
        parsed = layout.parse_raw_body(key)
        if parsed:
            found[parsed[1]] = key
    return found


def assert_whole_and_signed(store: Store, public: PublicKey) -> None:
    """Every raw object is complete: its bytes hash to its name, its signature is beside it and holds."""
    for sha, key in stored_bodies(store).items():
        data = store.get(key)
        signature = store.get(key + ".minisig")
        assert data is not None and signature is not None, key
        assert signing.verify_result(data, signature, public)["sha256"] == sha


def test_collector_down_when_the_run_ends_nothing_lost(tmp_path: Path, secret: SecretKey) -> None:
    spool = Spool(tmp_path / "spool")
    files = [make_file(secret) for _ in range(3)]
    for signed in files:
        seal(spool, signed, secret)
    port = free_port()  # nothing listens here yet
    uploader = Uploader(f"http://127.0.0.1:{port}", rng=random.Random(3))
    down = drain(spool, uploader, budget=10)
    assert down.delivered == 0 and down.remaining == 3 and down.dead == ()
    assert down.next_attempt is not None and down.next_attempt > time.time()
    assert down.last_error is not None and down.last_error.startswith("network")
    # The backoff is on disk: another process (the next cron run) sees it and does not hammer.
    assert load_state(Spool(tmp_path / "spool"), uploader.url).failures == 1
    with running(Collector(str(tmp_path / "store"), tmp_path, port=port)):
        waiting = drain(Spool(tmp_path / "spool"), uploader, budget=10)
        assert waiting.delivered == 0 and waiting.remaining == 3  # still inside the backoff window
        next_attempt = down.next_attempt
        assert next_attempt is not None
        after = drain(Spool(tmp_path / "spool"), uploader, budget=10, clock=lambda: next_attempt + 1)
        assert after.delivered == 3 and after.remaining == 0
    store = open_store(str(tmp_path / "store"))
    assert set(stored_bodies(store)) == {f.sha256 for f in files}
    assert_whole_and_signed(store, secret.public_key())
    assert load_state(spool, uploader.url).failures == 0


@pytest.mark.slow
def test_sigkill_mid_uploads_loses_no_acknowledged_file(
    tmp_path: Path, secret: SecretKey, store_spec: tuple[str, list[str]]
) -> None:
    spec, args = store_spec
    store = open_store(spec, args[1] if args else None)
    spool = Spool(tmp_path / "spool")
    files = [make_file(secret) for _ in range(150)]
    for signed in files:
        seal(spool, signed, secret)
    collector = Collector(spec, tmp_path, args=args)
    uploader = Uploader(collector.url, rng=random.Random(5))
    collector.start()
    try:
        reports = []
        worker = threading.Thread(target=lambda: reports.append(drain(spool, uploader, budget=120)))
        worker.start()
        deadline = time.monotonic() + 60
        while len(stored_bodies(store)) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        collector.kill()  # SIGKILL, mid-stream
        worker.join(60)
        [killed] = reports
        assert 0 < killed.delivered < len(files), killed  # (a file stored as the kill came may be unacknowledged)
        assert killed.next_attempt is not None  # it noticed, and backs off
        acknowledged = {f.sha256 for f in files} - {i.sha256 for i in spool.ready()}
        assert len(acknowledged) == killed.delivered
        assert acknowledged <= set(stored_bodies(store))  # every 201/200 the probe saw is durable
        assert_whole_and_signed(store, secret.public_key())  # and nothing stored is partial
        collector.start()  # restart on the same port and store
        resumed = drain(spool, uploader, budget=120, ignore_backoff=True)
        assert resumed.remaining == 0 and resumed.dead == ()
    finally:
        collector.stop()
    assert set(stored_bodies(store)) == {f.sha256 for f in files}
    assert_whole_and_signed(store, secret.public_key())


def test_same_file_at_once_through_two_collectors_is_stored_once(
    tmp_path: Path, secret: SecretKey, store_spec: tuple[str, list[str]]
) -> None:
    spec, args = store_spec
    store = open_store(spec, args[1] if args else None)
    signed = make_file(secret)
    public = secret.public_key()
    with running(Collector(spec, tmp_path, args=args)) as one, running(Collector(spec, tmp_path, args=args)) as two:
        gate = threading.Barrier(16)

        def upload(n: int) -> int:
            gate.wait()
            return put((one, two)[n % 2].url, signed, public).status_code

        with ThreadPoolExecutor(16) as pool:
            codes = sorted(pool.map(upload, range(16)))
        assert codes == [200] * 15 + [201]
        assert put(one.url, signed, public).status_code == 200  # and again, later
    assert list(stored_bodies(store)) == [signed.sha256]
    assert store.get(stored_bodies(store)[signed.sha256]) == signed.data


def test_two_probes_draining_the_same_file_at_once_store_it_once(
    collector: Collector, secret: SecretKey, tmp_path: Path
) -> None:
    shared = [make_file(secret) for _ in range(20)]
    spools = [Spool(tmp_path / "a"), Spool(tmp_path / "b")]
    for spool in spools:
        for signed in shared:
            seal(spool, signed, secret)
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda s: drain(s, Uploader(collector.url), budget=60), spools))
    assert all(r.remaining == 0 and r.dead == () for r in reports)
    assert sum(r.delivered for r in reports) == 20  # each file created once; the other answer was "already there"
    assert sum(r.duplicates for r in reports) == 20
    assert set(stored_bodies(open_store(collector.store))) == {f.sha256 for f in shared}


def test_refused_files_go_to_dead_letter_with_the_reason(tmp_path: Path, secret: SecretKey) -> None:
    normal = make_file(secret)
    spool = Spool(tmp_path / "spool")
    cases: dict[str, tuple[int, SignedFile]] = {}

    other = SecretKey.generate()
    forged = make_file(secret)
    cases["bad signature"] = (
        422,
        SignedFile(forged.name, forged.data, signing.sign_result(forged.data, forged.name, other)),
    )
    cases["garbage JSON"] = (422, sign_bytes(b"\x00\x01 definitely not json\n", secret))
    lines = make_lines()
    big = sign_lines(lines + [{**line, "id": str(uuid.uuid4())} for line in lines], secret)  # one run, twice the size
    cases["oversized"] = (413, big)
    for signed in [c[1] for c in cases.values()] + [normal]:
        seal(spool, signed, secret)
    # Damage two sealed files on disk, as a failing disk or a half-finished copy would.
    flipped, truncated = make_file(secret), make_file(secret)
    for signed in (flipped, truncated):
        seal(spool, signed, secret)
    flipped_path = spool.ready_dir / flipped.sha256 / "result.jsonl"
    data = bytearray(flipped_path.read_bytes())
    data[100] ^= 0x01
    flipped_path.write_bytes(bytes(data))
    truncated_path = spool.ready_dir / truncated.sha256 / "result.jsonl"
    truncated_path.write_bytes(truncated.data[:-200])
    cases["wrong sha256"] = (400, flipped)
    cases["truncated body"] = (400, truncated)

    limit = max(len(s.data) for name, (_, s) in cases.items() if name != "oversized")
    limit = max(limit, len(normal.data))
    assert len(big.data) > limit
    with running(Collector(str(tmp_path / "store"), tmp_path, args=["--max-bytes", str(limit)])) as c:
        report = drain(spool, Uploader(c.url), budget=60)
    assert report.delivered == 1 and report.remaining == 0
    dead = {item.sha256: spool.reason(item) for item in spool.dead()}
    for name, (status, signed) in cases.items():
        assert dead[signed.sha256]["status"] == status, (name, dead[signed.sha256])
        assert dead[signed.sha256]["reason"], name
    assert set(stored_bodies(open_store(str(tmp_path / "store")))) == {normal.sha256}  # nothing refused is stored


def test_retry_after_from_the_collector_is_honoured(tmp_path: Path, secret: SecretKey) -> None:
    spool = Spool(tmp_path / "spool")
    for _ in range(3):
        seal(spool, make_file(secret), secret)
    with running(Collector(str(tmp_path / "store"), tmp_path, args=["--rate", "0.0001", "--burst", "1"])) as c:
        start = time.time()
        report = drain(spool, Uploader(c.url), budget=30)
    assert report.delivered == 1 and report.remaining == 2
    assert report.last_error is not None and "429" in report.last_error
    # 1 token per 10 000 s: the collector asked for ~10 000 s, and that is what the probe will wait.
    assert report.next_attempt is not None and report.next_attempt - start > 5000


def test_probe_upload_command_drains_through_a_real_collector(
    collector: Collector, secret: SecretKey, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    spool = Spool(home / "state" / "spool")
    files = [make_file(secret) for _ in range(2)]
    for signed in files:
        seal(spool, signed, secret)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBE_", "XDG_"))}
    env["PROBE_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-m", "probe", "upload", "--to", collector.url, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"delivered": 2' in done.stdout
    nothing = subprocess.run(
        [sys.executable, "-m", "probe", "upload"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert nothing.returncode == 2 and "no collector" in nothing.stderr and "Traceback" not in nothing.stderr
    assert httpx.get(collector.url + "/health").status_code == 200


def test_a_file_signed_before_a_key_rotation_still_uploads(collector: Collector, tmp_path: Path) -> None:
    old, new = SecretKey.generate(), SecretKey.generate()
    assert put(collector.url, make_file(old), old.public_key()).status_code == 201  # the collector knows the old key
    spool = Spool(tmp_path / "spool")
    signed = make_file(old)
    spool.seal(signed.data, signed.signature, signed.name)  # sealed without a key (an older spool)
    report = drain(spool, Uploader(collector.url), budget=30, default_public_key=new.public_key().to_base64())
    assert report.delivered == 1 and report.dead == ()  # the new key was not sent with the old file
