"""`probe dataset report` on a year of synthetic data: wall time, peak memory and the page's size.

Run: .venv/bin/python -m bench.report [--rows 1000000] [--days 365] [--keep DIR]
Writes a Hive-partitioned dataset with the export's own schema (one Parquet file per day and service, as
`probe dataset export` lays it out): 12 countries, 60 networks (some with one or two probes, which the page must
not name), 300 probes, 8 services of 2 endpoints and 2 controls per run; censors that block a service for weeks,
switch from DNS injection to SNI filtering, and vantage points that are sometimes offline or overloaded. Then it
runs the report as a user does, in a process of its own on the 2 cores, and prints its wall time, CPU time, peak
RSS (the child's ru_maxrss) and the HTML file's size per section. Goal (issue 18): 1 million measurements under
60 s and 1 GB, the page under about 3 MB.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

COUNTRIES = ["CN", "IR", "RU", "KR", "JP", "TR", "VN", "MM", "PK", "EG", "BY", "KZ"]
SERVICES = ["kakaotalk", "line", "wechat", "whatsapp", "telegram", "signal", "sentinel"]
ENDPOINTS_PER_SERVICE = 2
METHODS = ["dns.injection", "tls.reset", "tcp.timeout", "dns.nxdomain"]


def _networks() -> list[tuple[str, str, int]]:
    """(country, ASN, probes): five networks per country, the last two small (one or two probes)."""
    out = []
    asn = 64500
    for cc in COUNTRIES:
        for size in (10, 7, 5, 2, 1):
            out.append((cc, f"AS{asn}", size))
            asn += 1
    return out


def _censor(rng: random.Random, days: int) -> dict[tuple[str, str], list[tuple[int, int, str]]]:
    """(country, service) -> blocking spells (first day, last day, method)."""
    spells: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    for cc in COUNTRIES:
        for service in SERVICES:
            if rng.random() < 0.5:
                continue
            day = rng.randrange(0, days // 2)
            while day < days:
                length = rng.randrange(3, 60)
                spells.setdefault((cc, service), []).append((day, min(day + length, days - 1), rng.choice(METHODS)))
                day += length + rng.randrange(5, 90)
    return spells


def write_dataset(root: Path, rows: int, days: int, seed: int = 18) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from probe.collector.export import schema

    rng = random.Random(seed)
    networks = _networks()
    probes = [(f"{n:064x}", cc, asn) for n, (cc, asn, size) in enumerate(networks) for _ in range(size)]
    probes = [(f"{i:064x}", cc, asn) for i, (_, cc, asn) in enumerate(probes)]
    spells = _censor(rng, days)
    per_run = 2 + len(SERVICES) * ENDPOINTS_PER_SERVICE
    runs = rows // per_run
    first = date(2026, 1, 1)
    full = schema().append(pa.field("dt", pa.string())).append(pa.field("service", pa.string()))
    columns: dict[str, list[Any]] = {f.name: [] for f in full}
    written = 0

    def add(**values: Any) -> None:
        for name, column in columns.items():
            column.append(values.get(name))

    def flush() -> None:
        nonlocal written
        if not columns["dt"]:
            return
        table = pa.Table.from_pydict(columns, schema=full)
        pq.write_to_dataset(table, root, partition_cols=["dt", "service"], compression="zstd",
                            basename_template=f"part-{written}-{{i}}.parquet",
                            max_partitions=len(SERVICES) * 2 * 366)  # fmt: skip
        written += table.num_rows
        for column in columns.values():
            column.clear()

    for run in range(runs):
        day = run * days // runs
        probe_id, cc, asn = rng.choice(probes)
        start = datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(
            days=day, seconds=rng.randrange(86400)
        )
        report_id = f"{start:%Y%m%dT%H%M%SZ}_{cc}_{asn}_messaging_reachability_{run:032x}"
        health = rng.random()
        vantage = "offline" if health < 0.03 else "restricted" if health < 0.04 else "online"
        overloaded = 0.04 <= health < 0.06
        sha = f"{rng.getrandbits(256):064x}"
        line = 0
        for service in ["control", *SERVICES]:
            spell = next((s for s in spells.get((cc, service), ()) if s[0] <= day <= s[1]), None)
            count = 2 if service == "control" else ENDPOINTS_PER_SERVICE
            for endpoint in range(count):
                line += 1
                if vantage == "offline":
                    verdict = "inconclusive"
                elif spell is not None and rng.random() < 0.9:
                    verdict = spell[2] if day < (spell[0] + spell[1]) / 2 or endpoint else "tls.reset"
                else:
                    verdict = "ok" if rng.random() < 0.97 else "inconclusive"
                add(measurement_id=f"{run:08x}-{line}", report_id=report_id, probe_id=probe_id, src_sha256=sha,
                    src_line=line, measurement_start_time=start, test_start_time=start, test_runtime=12.5,
                    probe_cc=cc, probe_asn=asn, resolver_asn=asn, software_version="0.1.0",
                    input=f"tls://{service}-{endpoint}.example:443", host=f"{service}-{endpoint}.example", port=443,
                    protocol="tls", role="messaging", core=True, list_version="2026-11-28", verdict=verdict,
                    confidence="high" if verdict.startswith("dns.injection") else "medium", evidence=[],
                    rule_id=None, analysis_version="1", dns_answers=[], dns_late_answers=[], dns_control_answers=[],
                    tcp_connected=verdict == "ok", vantage=vantage, vantage_captive_portal=False,
                    vantage_overloaded=overloaded, dt=start.date().isoformat(), service=service)  # fmt: skip
        if len(columns["dt"]) >= 200_000:
            flush()
    flush()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep", type=Path, help="write the dataset and the page here and keep them (reused if there)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        dataset, page = work / "dataset", work / "report.html"
        started = time.perf_counter()
        reused = dataset.is_dir()  # --keep with a dataset already there: the report again, on the same data
        rows = 0 if reused else write_dataset(dataset, args.rows, args.days)
        files = sum(1 for _ in dataset.rglob("*.parquet"))
        size = sum(p.stat().st_size for p in dataset.rglob("*.parquet"))
        made = "reused" if reused else f"{rows:,} rows written in {time.perf_counter() - started:.0f} s"
        print(f"dataset: {files:,} Parquet files, {size / 1e6:.0f} MB ({made})")
        probe = str(Path(sys.executable).with_name("probe"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([probe, "dataset", "report", "--dataset", str(dataset), "--out", str(page)], check=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        html = page.read_text()
        print(f"report: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {after.ru_maxrss / 1024:.0f} MB, "
              f"page {len(html.encode()) / 1e6:.2f} MB")  # fmt: skip
        for ident, body in re.findall(r'<section id="([a-z]+)">(.*?)</section>', html, re.DOTALL):
            print(f"  {ident:10} {len(body.encode()) / 1e3:8.0f} kB")
        print("goal: under 60 s and 1 GB (2 cores), the page under about 3 MB")


if __name__ == "__main__":
    main()
