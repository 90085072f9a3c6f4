"""The dataset's control join (issue 17): a control vantage registered with the collector (`--control-key`) has its
rows marked `control`, and every probe row gets the nearest-in-time control measurement of the same endpoint, within
the hour, as `control_*` columns; a key that was not registered is just another probe, whatever its files say."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from probe.collector.controls import Index, attach, columns
from probe.minisign import SecretKey
from tests.dataset.files import make_lines, sign_lines
from tests.dataset.servers import Collector
from tests.dataset.test_collector import put

NOON = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
SCENARIO = "helper_service_down"  # endpoints with ids, LINE refusing: the helper's own lines say the same


def _sql(sql: str) -> list[tuple[Any, ...]]:
    relation = duckdb.sql(sql)
    assert relation is not None  # None only for a statement without a result
    return relation.fetchall()


def _helper_lines(start: datetime) -> list[dict[str, Any]]:
    lines = make_lines(SCENARIO, start)
    for line in lines:
        line["annotations"] = {**line["annotations"], "vantage_role": "control"}
        line["probe_cc"], line["probe_asn"] = "DE", "AS3320"
    return lines


def test_probe_rows_get_the_nearest_control_measurement(tmp_path: Path, secret: SecretKey) -> None:
    helper, pretender = SecretKey.generate(), SecretKey.generate()
    (tmp_path / "helper.pub").write_bytes(helper.public_key().to_file())
    collector = Collector(str(tmp_path / "store"), tmp_path, args=["--control-key", str(tmp_path / "helper.pub")])
    collector.start()
    try:
        uploads = [
            (sign_lines(make_lines(SCENARIO, NOON), secret), secret),  # the probe, at noon
            (sign_lines(make_lines(SCENARIO, NOON + timedelta(hours=3)), secret), secret),  # no control near
            (sign_lines(_helper_lines(NOON - timedelta(minutes=20)), helper), helper),
            (sign_lines(_helper_lines(NOON + timedelta(minutes=4)), helper), helper),  # the nearest
            (sign_lines(_helper_lines(NOON - timedelta(minutes=1)), pretender), pretender),  # says control; is not
        ]
        for signed, key in uploads:
            assert put(collector.url, signed, key.public_key()).status_code == 201
    finally:
        collector.stop()
    out = tmp_path / "dataset"
    done = subprocess.run(
        [sys.executable, "-m", "probe", "dataset", "export", "--store", collector.store, "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False, env={"PROBE_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    source = f"read_parquet('{out}/**/*.parquet', hive_partitioning = true)"
    roles = _sql(f"SELECT probe_id, vantage_role, count(*) FROM {source} GROUP BY ALL")
    assert {(p[:8], r) for p, r, _ in roles} == {
        (secret.public_key().probe_id[:8], "probe"),
        (helper.public_key().probe_id[:8], "control"),
        (pretender.public_key().probe_id[:8], "probe"),
    }
    rows = _sql(
        f"SELECT measurement_start_time, endpoint_id, verdict, control_delta_s, control_probe_cc, control_verdict, "
        f"control_tcp_connected FROM {source} WHERE probe_id = '{secret.public_key().probe_id}' "
        f"AND endpoint_id = 'line.legy'"
    )
    at_noon = [r for r in rows if r[0].hour == 12]
    later = [r for r in rows if r[0].hour == 15]
    assert len(at_noon) == 1 and len(later) == 1
    assert at_noon[0][3:] == (240.0, "DE", "inconclusive", False)  # the helper 4 minutes later, LINE down there too
    assert later[0][3:] == (None, None, None, None)  # nothing within the hour
    controls = _sql(f"SELECT count(*) FROM {source} WHERE vantage_role = 'control' AND control_verdict IS NULL")
    assert controls[0][0] > 0  # control rows are not joined to themselves


def test_a_control_just_before_midnight_serves_the_next_day() -> None:
    midnight = NOON.replace(hour=0) + timedelta(days=1)

    def row(probe_id: str, when: datetime) -> dict[str, Any]:
        base = columns({"test_keys": {"target": {"id": "line.legy"}}})
        return {**base, "probe_id": probe_id, "input": "tls://legy.line-apps.com:443", "measurement_start_time": when,
                "measurement_id": f"{probe_id}-{when:%H%M}", "verdict": "ok"}  # fmt: skip

    index = Index()
    attach([row("h", midnight - timedelta(minutes=3))], frozenset({"h"}), index)
    probe = row("p", midnight + timedelta(minutes=2))
    attach([probe, row("h", midnight + timedelta(minutes=50))], frozenset({"h"}), index)
    assert probe["control_measurement_id"] == "h-2357" and probe["control_delta_s"] == -300.0
