"""`probe dataset export` turns the raw zone into Hive-partitioned Parquet that DuckDB queries as the docs show:
one row per endpoint measurement, verdicts and observations intact, duplicates left out, and files whose signature
does not hold never exported."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from probe.collector import layout
from probe.collector.export import export
from probe.collector.store import FileStore, open_store
from probe.minisign import SecretKey
from tests.dataset.files import make_file, make_lines, sign_lines
from tests.dataset.servers import Collector
from tests.dataset.test_collector import put

YESTERDAY = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def _query(root: Path, sql: str) -> list[tuple[Any, ...]]:  # duckdb's row type: values typed by the SQL
    source = f"read_parquet('{root}/**/*.parquet', hive_partitioning = true)"
    relation = duckdb.sql(sql.replace("measurements", source))
    assert relation is not None  # None only for a statement without a result; every query here is a SELECT
    return relation.fetchall()


def test_export_of_uploaded_files_is_queryable_with_duckdb(
    collector: Collector, secret: SecretKey, tmp_path: Path
) -> None:
    other = SecretKey.generate()
    uploads = [
        make_file(secret, "clean"),
        make_file(secret, "dns_injection_two_answers", YESTERDAY),
        make_file(other, "tcp_blackhole"),
        make_file(other, "ipv4_blackhole_ipv6_works"),
    ]
    for signed, key in zip(uploads, (secret, secret, other, other), strict=True):
        assert put(collector.url, signed, key.public_key()).status_code == 201
    # A second file that repeats a measurement (same probe, same measurement id) adds no row.
    lines = make_lines("clean")
    assert put(collector.url, sign_lines(lines, secret), secret.public_key()).status_code == 201
    relines = [dict(lines[0], report_id=lines[0]["report_id"])]
    assert put(collector.url, sign_lines(relines + lines[1:2], secret), secret.public_key()).status_code == 201

    out = tmp_path / "dataset"
    env = {**os.environ, "PROBE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "probe", "dataset", "export", "--store", collector.store, "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    expected = sum(s.data.count(b"\n") for s in uploads) + len(lines)
    [(rows,)] = _query(out, "SELECT count(*) FROM measurements")
    assert rows == expected
    [(distinct,)] = _query(out, "SELECT count(DISTINCT (probe_id, measurement_id)) FROM measurements")
    assert distinct == rows
    days = {str(d) for (d,) in _query(out, "SELECT DISTINCT dt FROM measurements")}
    assert days == {datetime.now(UTC).strftime("%Y-%m-%d"), YESTERDAY.strftime("%Y-%m-%d")}
    partitions = sorted(p.relative_to(out).parts[:2] for p in out.rglob("*.parquet"))
    assert all(a.startswith("dt=") and b.startswith("service=") for a, b in partitions)
    # Verdicts and key observations arrive intact: the injection day shows the forged-DNS verdict with evidence.
    injected = _query(
        out,
        "SELECT service, host, verdict, confidence, evidence, dns_answers, dns_late_answers "
        f"FROM measurements WHERE dt = '{YESTERDAY:%Y-%m-%d}' AND verdict = 'dns.injection'",
    )
    assert injected, "the injection scenario's verdicts are missing"
    assert all(row[3] == "high" and row[4] and row[6] for row in injected)
    by_verdict = dict(
        _query(
            out,
            "SELECT verdict, count(*) FROM measurements WHERE probe_id = "
            f"'{other.public_key().probe_id}' GROUP BY verdict",
        )
    )
    assert "tcp.timeout" in by_verdict
    [(connected,)] = _query(out, "SELECT count(*) FROM measurements WHERE verdict = 'ok' AND tcp_connected")
    assert connected > 0
    # Each address family's verdict has columns of its own: LINE's IPv4 blackholed while its IPv6 works.
    families = _query(
        out,
        "SELECT host, verdict, ipv4_verdict, ipv4_rule_id, ipv6_verdict FROM measurements "
        "WHERE host = 'legy.line-apps.com' AND ipv6_verdict IS NOT NULL",
    )
    assert families and all(v == "ok" and v4 == "tcp.timeout" and r4 and v6 == "ok" for _, v, v4, r4, v6 in families)
    [(older,)] = _query(out, "SELECT count(*) FROM measurements WHERE ipv4_verdict IS NULL")
    assert older > 0  # the golden files made before issue 15 have no families


def test_export_into_the_store_and_again_is_the_same(collector: Collector, secret: SecretKey, tmp_path: Path) -> None:
    assert put(collector.url, make_file(secret), secret.public_key()).status_code == 201
    store = FileStore(tmp_path / "store")
    first = export(store)
    parts = list(store.keys(layout.CURATED_PREFIX))
    assert parts and all(k.endswith("/part-0.parquet") for k in parts)
    contents = {k: store.get(k) for k in parts}
    second = export(store)
    assert (second.rows, second.partitions) == (first.rows, first.partitions)
    assert {k: store.get(k) for k in store.keys(layout.CURATED_PREFIX)} == contents  # deterministic rebuild


def test_a_raw_file_whose_signature_fails_is_left_out(collector: Collector, secret: SecretKey, tmp_path: Path) -> None:
    good, tampered = make_file(secret), make_file(secret)
    for signed in (good, tampered):
        assert put(collector.url, signed, secret.public_key()).status_code == 201
    store = FileStore(tmp_path / "store")
    [key] = [k for k in store.keys(layout.RAW_PREFIX) if tampered.sha256 in k and k.endswith(".jsonl")]
    path = tmp_path / "store" / key
    path.chmod(0o644)
    path.write_bytes(tampered.data.replace(b'"verdict":"ok"', b'"verdict":"no"', 1))  # someone edits the raw zone
    report = export(store, tmp_path / "out")
    assert [k for k, _ in report.skipped] == [key]
    assert report.files == 1


def test_since_rebuilds_only_recent_days(collector: Collector, secret: SecretKey, tmp_path: Path) -> None:
    old = make_file(secret, start=YESTERDAY - timedelta(days=3))
    new = make_file(secret)
    for signed in (old, new):
        assert put(collector.url, signed, secret.public_key()).status_code == 201
    report = export(open_store(collector.store), tmp_path / "out", since=datetime.now(UTC).date())
    assert {p.split("/")[0] for p in report.partitions} == {f"dt={datetime.now(UTC):%Y-%m-%d}"}


@pytest.mark.slow
def test_export_from_and_to_seaweedfs(secret: SecretKey, tmp_path: Path, seaweed: object) -> None:
    from tests.dataset.servers import SeaweedFS, running

    assert isinstance(seaweed, SeaweedFS)
    spec = f"s3://{seaweed.bucket}/export-{tmp_path.name}"
    with running(Collector(spec, tmp_path, args=["--s3-endpoint", seaweed.endpoint])) as c:
        signed = make_file(secret)
        assert put(c.url, signed, secret.public_key()).status_code == 201
    store = open_store(spec, seaweed.endpoint)
    report = export(store)
    assert report.rows == signed.data.count(b"\n")
    parts = list(store.keys(layout.CURATED_PREFIX))
    local = tmp_path / "copy"
    for key in parts:  # what ClickHouse/Trino/Spark would read from the bucket; DuckDB reads a copy here
        target = local / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.get(key) or b"")
    [(rows,)] = _query(local, "SELECT count(*) FROM measurements")
    assert rows == report.rows
