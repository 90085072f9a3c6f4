"""Every line of a result file validates against OONI's data formats: key names and types of df-000 (base),
df-002 (DNS), df-005 (TCP connect), df-006 (TLS handshake), df-008 (network events) — what OONI's own tooling
and pipeline read. The lines checked are real output of the runner (the golden scenarios' result files)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from probe import jsonlines
from probe.failures import UNKNOWN_PREFIX, Failure
from probe.model import Confidence, VantageStatus, Verdict
from tests.golden.scenarios import NAMES

GOLDEN = Path(__file__).parent.parent / "golden"
NUMBER = (int, float)
OPTIONAL_STR = (str, type(None))

BASE = {  # df-000
    "annotations": dict,
    "data_format_version": str,
    "extensions": dict,
    "input": OPTIONAL_STR,
    "measurement_start_time": str,
    "options": list,
    "probe_asn": str,
    "probe_cc": str,
    "probe_ip": str,
    "report_id": str,
    "software_name": str,
    "software_version": str,
    "test_helpers": dict,
    "test_keys": dict,
    "test_name": str,
    "test_runtime": NUMBER,
    "test_start_time": str,
    "test_version": str,
}
QUERY = {  # df-002
    "answers": (list, type(None)),
    "engine": str,
    "failure": OPTIONAL_STR,
    "hostname": str,
    "query_type": str,
    "resolver_address": str,
    "t0": NUMBER,
    "t": NUMBER,
    "transaction_id": int,
}
ANSWER = {"answer_type": str, "ttl": (int, type(None))}
TCP = {"ip": str, "port": int, "status": dict, "t0": NUMBER, "t": NUMBER, "transaction_id": int}  # df-005
TLS = {  # df-006
    "address": str,
    "cipher_suite": OPTIONAL_STR,
    "failure": OPTIONAL_STR,
    "negotiated_protocol": OPTIONAL_STR,
    "no_tls_verify": bool,
    "peer_certificates": (list, type(None)),
    "server_name": str,
    "t0": NUMBER,
    "t": NUMBER,
    "tls_version": OPTIONAL_STR,
    "transaction_id": int,
}
EVENT = {"operation": str, "t0": NUMBER, "t": NUMBER, "failure": OPTIONAL_STR}  # df-008
FAILURES = {f.value for f in Failure}


def lines() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in NAMES:
        out.extend(jsonlines.decode_lines((GOLDEN / name / "measurements.jsonl").read_bytes()))
    return out


LINES = lines()


def check(obj: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    for key, kind in schema.items():
        assert key in obj, f"{where}: missing {key}"
        assert isinstance(obj[key], kind), f"{where}: {key} is {type(obj[key]).__name__}"


def check_failure(value: str | None, where: str) -> None:
    assert value is None or value in FAILURES or value.startswith(UNKNOWN_PREFIX), f"{where}: failure {value!r}"


def test_there_are_lines_to_check() -> None:
    assert len(LINES) >= 4 * len(NAMES)  # six endpoints a scenario, four in the lists without controls


@pytest.mark.parametrize("line", LINES, ids=lambda line: f"{line['input']}")
def test_line_matches_ooni_formats(line: dict[str, Any]) -> None:
    check(line, BASE, "base")
    assert line["test_name"] == "messaging_reachability"
    assert re.fullmatch(r"(tls|tcp)://[^/]+:\d+", line["input"])
    assert re.fullmatch(r"AS\d+", line["probe_asn"]) and re.fullmatch(r"[A-Z]{2}", line["probe_cc"])
    assert line["probe_ip"] == "127.0.0.1"  # OONI's placeholder: the real address never appears
    for key in ("measurement_start_time", "test_start_time"):
        datetime.strptime(line[key], "%Y-%m-%d %H:%M:%S")
    assert all(isinstance(v, str) for v in line["annotations"].values())
    keys = line["test_keys"]
    for i, q in enumerate(keys["queries"]):
        check(q, QUERY, f"queries[{i}]")
        check_failure(q["failure"], f"queries[{i}]")
        for answer in q["answers"] or ():
            check(answer, ANSWER, f"queries[{i}].answers")
            assert answer["answer_type"] in ("A", "AAAA", "CNAME")
    for i, c in enumerate(keys["tcp_connect"]):
        check(c, TCP, f"tcp_connect[{i}]")
        assert isinstance(c["status"]["success"], bool)
        check_failure(c["status"]["failure"], f"tcp_connect[{i}]")
    for i, h in enumerate(keys["tls_handshakes"]):
        check(h, TLS, f"tls_handshakes[{i}]")
        check_failure(h["failure"], f"tls_handshakes[{i}]")
        for cert in h["peer_certificates"] or ():
            assert cert["format"] == "base64" and isinstance(cert["data"], str)
    for i, e in enumerate(keys["network_events"]):
        check(e, EVENT, f"network_events[{i}]")
    # our additions, beside the raw observations
    assert keys["verdict"] in {v.value for v in Verdict}
    assert keys["confidence"] in {c.value for c in Confidence}
    assert isinstance(keys["evidence"], list) and all(isinstance(e, str) for e in keys["evidence"])
    assert isinstance(keys["controls"], dict) and keys["controls"]["vantage"] in {s.value for s in VantageStatus}
    assert isinstance(keys["packets"], list)
    assert keys["analysis_version"]
    assert keys["target"]["list_version"]


def test_lines_are_canonical_json() -> None:
    data = (GOLDEN / "clean" / "measurements.jsonl").read_bytes()
    assert jsonlines.encode_lines(jsonlines.decode_lines(data)) == data
