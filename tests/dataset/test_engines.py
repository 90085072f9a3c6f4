"""Every query docs/dataset.md shows is run here against a real engine, on a real export: DuckDB on the folder and
(through pyarrow's S3 filesystem) on SeaweedFS, ClickHouse's engine through chDB on SeaweedFS and on the folder,
Spark in local mode on the folder. Only the paths, the endpoint and the dates are put in; nothing is mocked. Trino
and Spark on S3 cannot run here (the docs say why); the Trino table's columns are checked against the export's."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from probe.collector.export import export, schema
from probe.collector.store import open_store
from probe.minisign import SecretKey
from tests.dataset.files import make_lines, sign_lines
from tests.dataset.servers import Collector, SeaweedFS, running
from tests.dataset.test_collector import put

DOC = Path(__file__).parents[2] / "docs" / "dataset.md"
OPERATOR_DOC = DOC.with_name("operator.md")
SINCE = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%d")
SCENARIOS = ["clean", "dns_injection_two_answers", "tcp_blackhole", "tls_sni_reset"]


def documented(label: str, doc: Path = DOC) -> str:
    """The code block that follows `<!-- run: label -->` (or `check:`) in docs/dataset.md (or `doc`)."""
    found = re.search(rf"<!-- (?:run|check): {label} -->\n```\w+\n(.*?)```", doc.read_text(), re.DOTALL)
    assert found, f"{doc.name} has no block marked {label}"
    return found[1]


def statements(sql: str) -> list[str]:
    return [s.strip() for s in re.split(r";\s*\n", sql) if s.strip()]


@dataclass(frozen=True)
class Exported:
    folder: Path  # `probe dataset export --out`
    store: Path  # a folder store's root (its raw zone)
    s3_endpoint: str
    s3_root: str  # bucket/prefix of an S3 store whose curated/ the export wrote
    rows: int

    def put_in(self, text: str) -> str:
        for documented_value, value in (
            ("https://s3.example.org/probe-data/prod", f"{self.s3_endpoint}/{self.s3_root}"),
            ('endpoint_override="https://s3.example.org"', f'endpoint_override="{self.s3_endpoint}"'),
            ('"probe-data/prod/', f'"{self.s3_root}/'),
            ("'dataset/", f"'{self.folder}/"),
            ('"dataset/"', f'"{self.folder}/"'),
            ("'store/", f"'{self.store}/"),
            ("2026-11-01", SINCE),
        ):
            text = text.replace(documented_value, value)
        return text


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, seaweed: SeaweedFS) -> Iterator[Exported]:
    """Three probes' runs of four scenarios, uploaded to a folder collector and an S3 collector, exported from both."""
    work = tmp_path_factory.mktemp("engines")
    spec = f"s3://{seaweed.bucket}/engines-{work.name}"
    keys = [SecretKey.generate() for _ in range(3)]
    rows = 0
    with (
        running(Collector(str(work / "store"), work)) as folder,
        running(Collector(spec, work, args=["--s3-endpoint", seaweed.endpoint])) as s3,
    ):
        for n, key in enumerate(keys):
            for scenario in SCENARIOS:
                lines = make_lines(scenario, datetime.now(UTC) - timedelta(days=n))
                rows += len(lines)
                signed = sign_lines(lines, key)
                for collector in (folder, s3):
                    assert put(collector.url, signed, key.public_key()).status_code == 201
    assert export(open_store(str(work / "store")), work / "dataset").rows == rows
    assert export(open_store(spec, seaweed.endpoint)).rows == rows
    yield Exported(work / "dataset", work / "store", seaweed.endpoint, spec.removeprefix("s3://"), rows)


def _printed(code: str, scope: dict[str, Any]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), scope)  # the docs' own Python, as a reader pastes it
    return out.getvalue()


def test_duckdb_queries_on_the_folder(exported: Exported) -> None:
    con = duckdb.connect()
    create, *queries = statements(documented("duckdb"))
    con.execute(exported.put_in(create))
    rows = [con.execute(exported.put_in(q)).fetchall() for q in queries]
    assert all(rows), "a documented query found nothing in an export that has every case"
    assert sum(n for *_, n in rows[0]) == exported.rows
    assert all(late for _, _, late, _ in rows[2])  # injection rows carry the late (genuine) answers
    [(raw,)] = rows[4]
    assert raw == exported.rows


def test_duckdb_control_vantage_query_on_the_folder(exported: Exported) -> None:
    con = duckdb.connect()
    con.execute(exported.put_in(statements(documented("duckdb"))[0]))  # the view `m`, as the docs make it
    [query] = statements(documented("duckdb-control"))
    # These probes had no control vantage beside them: every row has `vantage_role = 'probe'` and no control
    # measurement, so the query finds no row it could call the strongest.
    assert con.execute(exported.put_in(query)).fetchall() == []
    [(probes,)] = con.execute(exported.put_in("SELECT count(*) FROM m WHERE vantage_role = 'probe'")).fetchall()
    assert probes == exported.rows


def test_duckdb_one_liner_of_the_operators_doc(exported: Exported, tmp_path: Path) -> None:
    """docs/operator.md's shell line, run by a shell in a folder where `dataset/` is the export, with this Python
    (which has the `duckdb` package) as its `python3`."""
    (tmp_path / "dataset").symlink_to(exported.folder)
    line = documented("duckdb-shell", OPERATOR_DOC).replace("python3 ", f"{sys.executable} ", 1)
    done = subprocess.run(["sh", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "dns.injection" in done.stdout and "tcp.timeout" in done.stdout and "tls.reset" in done.stdout


def test_duckdb_on_s3_with_nothing_downloaded(exported: Exported) -> None:
    printed = _printed(exported.put_in(documented("duckdb-s3")), {})
    assert "dns.injection" in printed and "tcp.timeout" in printed and "tls.reset" in printed


def test_clickhouse_queries_through_chdb(exported: Exported, tmp_path: Path) -> None:
    from chdb import session

    chdb: Any = session.Session(str(tmp_path / "chdb"))  # type: ignore[no-untyped-call]  # chdb has no annotations
    try:
        answers = [str(chdb.query(exported.put_in(s), "CSV")) for s in statements(documented("clickhouse"))]
        by_day = [line.split(",") for line in answers[0].splitlines()]
        assert sum(int(n) for *_, n in by_day) == exported.rows
        assert {'"dns.injection"', '"tcp.timeout"', '"tls.reset"'} <= {verdict for _, _, verdict, _ in by_day}
        assert sum(int(line.rsplit(",", 1)[1]) for line in answers[2].splitlines()) == exported.rows
        assert sum(int(line.rsplit(",", 1)[1]) for line in answers[3].splitlines()) == exported.rows
        # The table keeps a measurement once even when it is loaded again (FINAL merges on the sorting key).
        load = statements(documented("clickhouse"))[1]
        again = "INSERT INTO measurements " + exported.put_in(load[load.index("SELECT * FROM s3") :])
        chdb.query(again)
        twice = chdb.query("SELECT count() FROM measurements FINAL", "CSV")
        assert int(str(twice).strip()) == exported.rows
    finally:
        chdb.close()


@pytest.mark.slow
@pytest.mark.java
def test_spark_in_local_mode_on_the_folder(exported: Exported, monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback only, and no look-up of this machine's own name (Java asks the system resolver otherwise).
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    monkeypatch.setenv("SPARK_LOCAL_HOSTNAME", "localhost")
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")  # a few hundred rows: one task per core, not 200
        .getOrCreate()
    )
    try:
        spark.sparkContext.setLogLevel("ERROR")
        printed = _printed(exported.put_in(documented("spark")), {})  # its getOrCreate() finds the session above
    finally:
        spark.stop()
    table = {tuple(cell.strip() for cell in line.strip("|").split("|")) for line in printed.splitlines() if "|" in line}
    verdicts = {row[1] for row in table}
    assert {"dns.injection", "tcp.timeout", "tls.reset"} <= verdicts and "ok" not in verdicts


def test_the_trino_table_has_the_exports_columns() -> None:
    ddl = documented("trino").split(")\nWITH", 1)[0].split("(", 1)[1]
    declared = [tuple(c.strip().split(" ", 1)) for c in re.split(r",\s*(?![^()]*\))", ddl)]
    trino = {"string": "varchar", "int32": "integer", "double": "double", "bool": "boolean",
             "timestamp[s, tz=UTC]": "timestamp(3)", "list<item: string>": "array(varchar)"}  # fmt: skip
    expected = [(f.name, trino[str(f.type)]) for f in schema()] + [("dt", "varchar"), ("service", "varchar")]
    assert declared == expected
