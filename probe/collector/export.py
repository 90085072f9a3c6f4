"""`probe dataset export`: the curated zone, built from the raw zone.

One row per endpoint measurement (one result-file line) with its verdict and the observations that matter most,
de-duplicated on (probe id, measurement id), in Hive-partitioned Parquet (zstd):

    curated/v1/measurements/dt=YYYY-MM-DD/service=<service>/part-0.parquet

`dt` is the UTC day the run started, the same day that partitions the raw zone, so rebuilding one day reads one raw
folder and writes that day's partitions whole (each file replaced atomically). Every raw file's signature is
checked again against the probe's stored key on the way: the raw zone stays verifiable, and an object that does
not verify is left out (and counted) rather than exported.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from probe import atomicfile, minisign, signing
from probe.collector import controls, layout
from probe.collector.store import Store

SYSTEM_RESOLVER = "system_resolver"
CONTROL_DOH = "control_doh"
LATE_RESPONSE = "late_response"
TARGET = "target"
CONTROL_SNI = "control_sni"
FAMILIES = ("ipv4", "ipv6")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9_\-]{0,39}")


@dataclass(frozen=True)
class ExportReport:
    files: int = 0
    rows: int = 0
    duplicates: int = 0
    partitions: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (raw key, why)


def schema() -> Any:
    """The Parquet schema of a row (partition columns `dt` and `service` live in the path)."""
    import pyarrow as pa

    strings = pa.list_(pa.string())
    return pa.schema(
        [
            ("measurement_id", pa.string()),
            ("report_id", pa.string()),
            ("probe_id", pa.string()),
            ("src_sha256", pa.string()),
            ("src_line", pa.int32()),
            ("measurement_start_time", pa.timestamp("s", tz="UTC")),
            ("test_start_time", pa.timestamp("s", tz="UTC")),
            ("test_runtime", pa.float64()),
            ("probe_cc", pa.string()),
            ("probe_asn", pa.string()),
            ("resolver_asn", pa.string()),
            ("software_version", pa.string()),
            ("input", pa.string()),
            ("host", pa.string()),
            ("port", pa.int32()),
            ("protocol", pa.string()),
            ("sni", pa.string()),
            ("role", pa.string()),
            ("core", pa.bool_()),
            ("target_group", pa.string()),
            ("list_version", pa.string()),
            ("verdict", pa.string()),
            ("confidence", pa.string()),
            ("evidence", strings),
            ("rule_id", pa.string()),
            ("analysis_version", pa.string()),
            ("dns_failure", pa.string()),
            ("dns_answers", strings),
            ("dns_late_answers", strings),
            ("dns_control_answers", strings),
            ("tcp_connected", pa.bool_()),
            ("tcp_failure", pa.string()),
            ("tls_failure", pa.string()),
            ("tls_version", pa.string()),
            ("tls_cipher_suite", pa.string()),
            ("control_sni_failure", pa.string()),
            # The vantage point's health in that run (test_keys.controls), so a reader can discount weak data.
            ("vantage", pa.string()),
            ("vantage_captive_portal", pa.bool_()),
            ("vantage_overloaded", pa.bool_()),
            # The endpoint judged over each address family alone (test_keys.families): NULL where it has no
            # address of that family, and in rows from result files made before issue 15.
            *(
                (f"{family}_{part}", pa.string())
                for family in FAMILIES
                for part in ("verdict", "confidence", "rule_id")
            ),
            *controls.schema_fields(),
        ]
    )


def export(source: Store, out: Store | Path | None = None, since: date | None = None) -> ExportReport:
    """Rebuild the curated partitions of every raw day (or of the days from `since` on). `out` is the store to
    write `curated/...` into (default: `source`), or a local folder that receives the `dt=.../service=...` tree."""
    files = rows = duplicates = 0
    partitions: list[str] = []
    skipped: list[tuple[str, str]] = []
    keys: dict[str, minisign.PublicKey | None] = {}
    control_ids, control_index = controls.registered(source), controls.Index()
    for day, raw_keys in _days(source, since):
        by_service: dict[str, list[dict[str, Any]]] = {}
        seen: set[tuple[str, str]] = set()
        for key, sha in raw_keys:
            parsed = _read(source, key, sha, day, keys)
            if isinstance(parsed, str):
                skipped.append((key, parsed))
                continue
            files += 1
            probe_id, data = parsed
            for number, line in fitting_lines(data, key, skipped):
                ident = (probe_id, str(line.get("id", f"{sha}:{number}")))
                if ident in seen:
                    duplicates += 1
                    continue
                seen.add(ident)
                service, row = measurement_row(line, probe_id, sha, number)
                by_service.setdefault(service, []).append(row)
        controls.attach((row for rows in by_service.values() for row in rows), control_ids, control_index)
        for service, service_rows in sorted(by_service.items()):
            service_rows.sort(key=lambda r: (r["probe_cc"] or "", r["probe_asn"] or "", r["measurement_start_time"]))
            _write(out if out is not None else source, day, service, _parquet(service_rows))
            partitions.append(f"dt={day}/service={service}")
            rows += len(service_rows)
    return ExportReport(files, rows, duplicates, tuple(partitions), tuple(skipped))


def _days(source: Store, since: date | None) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """(day, [(raw body key, sha256)]) for every raw day, in order."""
    if since is None:
        prefixes = [layout.RAW_PREFIX]
    else:
        last = datetime.now(UTC).date() + timedelta(days=2)
        prefixes = [f"{layout.RAW_PREFIX}dt={since + timedelta(days=n)}/" for n in range((last - since).days)]
    current: str | None = None
    batch: list[tuple[str, str]] = []
    for prefix in prefixes:
        for key in source.keys(prefix):
            parsed = layout.parse_raw_body(key)
            if parsed is None:
                continue
            day, sha = parsed
            if day != current:
                if current is not None and batch:
                    yield current, batch
                current, batch = day, []
            batch.append((key, sha))
    if current is not None and batch:
        yield current, batch


def _read(
    source: Store, key: str, sha: str, day: str, keys: dict[str, minisign.PublicKey | None]
) -> tuple[str, bytes] | str:
    """(probe id, bytes) of a raw file whose signature holds, or why it is left out."""
    data = source.get(key)
    signature = source.get(layout.raw_signature(day, sha))
    if data is None or signature is None:
        return "body or signature missing"
    try:
        comment = signing.parse_trusted_comment(minisign.parse(signature).trusted_comment)
    except minisign.SignatureError as exc:
        return str(exc)
    probe_id = comment.get("probe", "")
    if probe_id not in keys:
        stored = source.get(layout.public_key(probe_id)) if layout.SHA256_HEX.fullmatch(probe_id) else None
        try:
            keys[probe_id] = minisign.PublicKey.from_file(stored) if stored else None
        except minisign.MinisignError:
            keys[probe_id] = None
    public = keys[probe_id]
    if public is None:
        return f"no stored key for probe {probe_id[:16]}"
    try:
        signing.verify_result(data, signature, public)
    except (minisign.SignatureError, ValueError) as exc:
        return str(exc)
    return probe_id, data


def fitting_lines(data: bytes, key: str, skipped: list[tuple[str, str]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(number, line) of every line that fits the shape the rows are built from (`probe.collector.schema`, which
    the collector also checks at upload); a line that does not, stored before that check or by hand, is skipped
    and reported (`skipped`), so that no stored file can stop an export (issue 21)."""
    import msgspec

    from probe.collector import schema

    for number, text in enumerate(data.splitlines(), start=1):
        if not text.strip():
            continue  # blank lines, which earlier collectors let in, hold nothing
        try:
            schema.decode(text)
            line = msgspec.json.decode(text)
        except schema.Misfit as exc:
            skipped.append((key, f"line {number}: {exc}"))
            continue
        if not isinstance(line, dict):  # (the shape says so: never)
            continue
        yield number, line


def measurement_row(line: dict[str, Any], probe_id: str, sha: str, number: int) -> tuple[str, dict[str, Any]]:
    """(service, curated row) of one result-file line, the `number`th (1-based) of the file `sha`."""
    keys = line.get("test_keys") or {}
    target = keys.get("target") or {}
    queries = keys.get("queries") or []
    connects = keys.get("tcp_connect") or []
    handshakes = keys.get("tls_handshakes") or []
    system = [q for q in queries if SYSTEM_RESOLVER in (q.get("tags") or [])]
    target_connects = [c for c in connects if TARGET in (c.get("tags") or [])]
    target_handshakes = [h for h in handshakes if TARGET in (h.get("tags") or [])]
    control_handshakes = [h for h in handshakes if CONTROL_SNI in (h.get("tags") or [])]
    good = next((h for h in target_handshakes if h.get("failure") is None), None)
    service = str(target.get("service") or "")
    if not _SERVICE.fullmatch(service):  # it becomes a folder name: nothing else gets in
        service = "unknown"
    row = {
        "measurement_id": line.get("id"),
        "report_id": line.get("report_id"),
        "probe_id": probe_id,
        "src_sha256": sha,
        "src_line": number,
        "measurement_start_time": _time(line.get("measurement_start_time")),
        "test_start_time": _time(line.get("test_start_time")),
        "test_runtime": _float(line.get("test_runtime")),
        "probe_cc": line.get("probe_cc"),
        "probe_asn": line.get("probe_asn"),
        "resolver_asn": line.get("resolver_asn"),
        "software_version": line.get("software_version"),
        "input": line.get("input"),
        "host": target.get("host"),
        "port": target.get("port"),
        "protocol": target.get("protocol"),
        "sni": target.get("sni"),
        "role": target.get("role"),
        "core": target.get("core"),
        "target_group": target.get("group"),
        "list_version": target.get("list_version"),
        "verdict": keys.get("verdict"),
        "confidence": keys.get("confidence"),
        "evidence": [str(e) for e in keys.get("evidence") or []],
        "rule_id": keys.get("rule_id"),
        "analysis_version": keys.get("analysis_version"),
        "dns_failure": next((q.get("failure") for q in system if q.get("failure")), None),
        "dns_answers": _answers(q for q in system if LATE_RESPONSE not in (q.get("tags") or [])),
        "dns_late_answers": _answers(q for q in system if LATE_RESPONSE in (q.get("tags") or [])),
        "dns_control_answers": _answers(q for q in queries if CONTROL_DOH in (q.get("tags") or [])),
        "tcp_connected": any((c.get("status") or {}).get("success") for c in target_connects) if connects else None,
        "tcp_failure": next(
            ((c.get("status") or {}).get("failure") for c in target_connects if (c.get("status") or {}).get("failure")),
            None,
        ),
        "tls_failure": next((h.get("failure") for h in target_handshakes if h.get("failure")), None),
        "tls_version": good.get("tls_version") if good else None,
        "tls_cipher_suite": good.get("cipher_suite") if good else None,
        "control_sni_failure": next((h.get("failure") for h in control_handshakes if h.get("failure")), None),
        **controls.columns(line),
    }
    row.update(_vantage(keys.get("controls")))
    row.update(_families(keys.get("families")))
    return service, row


def _vantage(controls: Any) -> dict[str, Any]:
    controls = controls if isinstance(controls, dict) else {}
    status = controls.get("vantage")
    return {
        "vantage": status if isinstance(status, str) else None,
        "vantage_captive_portal": _bool(controls.get("captive_portal")),
        "vantage_overloaded": _bool(controls.get("overloaded")),
    }


def _families(families: Any) -> dict[str, str | None]:
    families = families if isinstance(families, dict) else {}
    out: dict[str, str | None] = {}
    for family in FAMILIES:
        judged = families.get(family)
        judged = judged if isinstance(judged, dict) else {}
        for part in ("verdict", "confidence", "rule_id"):
            value = judged.get(part)
            out[f"{family}_{part}"] = value if isinstance(value, str) else None
    return out


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _answers(queries: Iterable[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for query in queries:
        for answer in query.get("answers") or []:
            address = answer.get("ipv4") or answer.get("ipv6")
            if address and address not in found:
                found.append(str(address))
    return found


def _time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema())
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _write(out: Store | Path, day: str, service: str, data: bytes) -> None:
    key = layout.curated_part(day, service)
    if isinstance(out, Path):
        atomicfile.write_atomic(out / key[len(layout.CURATED_PREFIX) :], data)
    else:
        out.replace(key, data)
