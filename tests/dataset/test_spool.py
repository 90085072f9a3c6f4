"""The upload spool on a real folder: sealing is atomic and idempotent, the cap drops oldest-first and counts every
drop, the next result file reports the count, dead letters keep their reason, and drains exclude each other."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from probe.local.locks import Busy
from probe.local.spool import Spool, SpoolLimits
from probe.minisign import SecretKey
from tests.dataset.files import SignedFile, make_file


def test_seal_puts_file_and_signature_in_ready_together(tmp_path: Path, secret: SecretKey) -> None:
    spool = Spool(tmp_path / "spool")
    signed = make_file(secret)
    item = spool.seal(signed.data, signed.signature, signed.name, secret.public_key().to_base64())
    assert item.folder == spool.ready_dir / signed.sha256
    assert spool.read(item) == (signed.data, signed.signature)
    assert item.meta.name == signed.name and item.meta.measurements == signed.data.count(b"\n")
    assert list(spool.tmp_dir.iterdir()) == []  # nothing left half-made
    assert oct(spool.root.stat().st_mode & 0o777) == oct(0o700)


def test_sealing_the_same_bytes_twice_queues_them_once(tmp_path: Path, secret: SecretKey) -> None:
    spool = Spool(tmp_path / "spool")
    signed = make_file(secret)
    spool.seal(signed.data, signed.signature, signed.name)
    spool.seal(signed.data, signed.signature, signed.name)
    assert [i.sha256 for i in spool.ready()] == [signed.sha256]


def test_a_crashed_seal_leaves_nothing_in_ready_and_is_swept(tmp_path: Path, secret: SecretKey) -> None:
    spool = Spool(tmp_path / "spool")
    spool.seal(*_parts(make_file(secret)))
    half = spool.tmp_dir / ("a" * 64 + ".1.x")
    half.mkdir()
    (half / "result.jsonl").write_bytes(b"{")  # a seal killed before its rename
    old = 1_000_000.0
    os.utime(half, (old, old))
    assert len(spool.ready()) == 1
    spool.enforce_limits()
    assert not half.exists()


def test_cap_drops_oldest_first_counts_them_and_keeps_the_new_file(tmp_path: Path, secret: SecretKey) -> None:
    files = [make_file(secret) for _ in range(5)]
    size = len(files[0].data) + len(files[0].signature) + 400
    spool = Spool(tmp_path / "spool", SpoolLimits(max_bytes=int(size * 2.5)))
    for n, signed in enumerate(files):
        spool.seal(*_parts(signed), now=1000.0 + n)
    kept = [i.sha256 for i in spool.ready()]
    assert kept == [files[3].sha256, files[4].sha256]
    dropped = spool.dropped()
    assert dropped.files == 3
    assert dropped.measurements == sum(f.data.count(b"\n") for f in files[:3])
    assert dropped.since is not None
    notes = dropped.annotations()
    assert notes["spool_dropped_files"] == "3"
    assert all(isinstance(v, str) for v in notes.values())  # OONI annotations are strings


def test_age_cap_drops_old_items_and_dead_letters_go_first(tmp_path: Path, secret: SecretKey) -> None:
    spool = Spool(tmp_path / "spool", SpoolLimits(max_age_days=1))
    old, dead, fresh = (make_file(secret) for _ in range(3))
    now = 10 * 86400.0
    spool.seal(*_parts(old), now=now - 2 * 86400)
    buried = spool.seal(*_parts(dead), now=now - 2 * 86400)
    spool.bury(buried, 422, "bad", now=now)
    spool.seal(*_parts(fresh), now=now)
    assert [i.sha256 for i in spool.ready()] == [fresh.sha256]
    assert spool.dead() == []
    assert spool.dropped().files == 1 and spool.dropped().dead_files == 1


def test_reported_drops_are_cleared_and_later_drops_stay(tmp_path: Path, secret: SecretKey) -> None:
    spool = Spool(tmp_path / "spool", SpoolLimits(max_age_days=1))
    spool.seal(*_parts(make_file(secret)), now=0.0)
    spool.enforce_limits(now=3 * 86400)
    reported = spool.dropped()
    assert reported.files == 1
    spool.seal(*_parts(make_file(secret)), now=3 * 86400)
    spool.enforce_limits(now=6 * 86400)  # a drop while the report was being written
    spool.acknowledge_dropped(reported)
    assert spool.dropped().files == 1
    spool.acknowledge_dropped(spool.dropped())
    assert not spool.dropped()
    assert not (spool.root / "dropped.json").exists()


def test_bury_keeps_the_reason_beside_the_file(tmp_path: Path, secret: SecretKey) -> None:
    spool = Spool(tmp_path / "spool")
    signed = make_file(secret)
    item = spool.bury(spool.seal(*_parts(signed)), 422, "signature verification failed")
    assert spool.ready() == []
    [dead] = spool.dead()
    assert dead.sha256 == signed.sha256
    assert spool.read(dead) == (signed.data, signed.signature)
    assert spool.reason(dead)["status"] == 422
    assert json.loads((item.folder / "reason.json").read_text())["reason"] == "signature verification failed"


def test_two_drains_exclude_each_other(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    other = Spool(tmp_path / "spool")
    with spool.drain_lock(), pytest.raises(Busy), other.drain_lock():
        pass
    with other.drain_lock():  # released
        pass


def test_damaged_meta_still_uploads_the_bytes(tmp_path: Path, secret: SecretKey) -> None:
    spool = Spool(tmp_path / "spool")
    signed = make_file(secret)
    item = spool.seal(*_parts(signed))
    (item.folder / "meta.json").write_text("{not json")
    [again] = spool.ready()
    assert again.sha256 == signed.sha256 and spool.read(again)[0] == signed.data


def _parts(signed: SignedFile) -> tuple[bytes, bytes, str]:
    return signed.data, signed.signature, signed.name
