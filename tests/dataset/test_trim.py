"""A result file swollen by a hostile network (a flood of DNS answers and captured packets, long certificate
chains on every handshake: 9.8-11.4 MB in issue 21, refused by the collector with 413) is trimmed under the
collector's limits, every line and verdict kept, what was left out counted in each line; the real collector
takes it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from probe import jsonlines, trim
from probe.collector.checks import MAX_LINE_BYTES
from probe.collector.ingest import DEFAULT_MAX_BYTES
from probe.minisign import SecretKey
from tests.dataset.files import make_lines, sign_bytes
from tests.dataset.servers import Collector
from tests.dataset.test_collector import put


def swollen(lines: list[dict[str, Any]], factor: int) -> list[dict[str, Any]]:
    """Each line with `factor` times its packets, events and late answers, and a 60 kB chain on every handshake."""
    big_chain = [{"data": "A" * 60_000, "format": "base64"}]
    out = []
    for line in lines:
        line = copy.deepcopy(line)
        keys = line["test_keys"]
        keys["packets"] = keys["packets"] * factor or [{"t": 0.0, "direction": "in", "proto": "udp"}] * factor
        keys["network_events"] = keys["network_events"] * factor
        late = [dict(q, tags=[*q["tags"], "late_response"], raw_response="B" * 1600) for q in keys["queries"]]
        keys["queries"] = keys["queries"] + late * factor
        for handshake in keys["tls_handshakes"]:
            handshake["peer_certificates"] = big_chain
        out.append(line)
    return out


def encoded(lines: list[dict[str, Any]]) -> bytes:
    return jsonlines.encode_lines(lines)


def trimmed(lines: list[dict[str, Any]]) -> bytes:
    """The file as a run writes it: each line made from what was measured (here a copy, as the cuts change it)."""
    return trim.encode(lambda index: copy.deepcopy(lines[index]), len(lines))


def test_a_swollen_file_is_trimmed_under_the_limits_saying_what_went(
    collector: Collector, secret: SecretKey, tmp_path: Path
) -> None:
    lines = swollen(make_lines("dns_injection_two_answers_captured"), factor=80)
    assert len(encoded(lines)) > DEFAULT_MAX_BYTES  # what the collector refused for good
    data = trimmed(lines)
    assert len(data) <= trim.FILE_LIMIT < DEFAULT_MAX_BYTES
    kept = [json.loads(line) for line in data.splitlines()]
    assert len(kept) == len(lines)
    assert sum("dropped" in line["test_keys"] for line in kept) >= len(lines) // 2
    for before, after in zip(lines, kept, strict=True):
        assert len(jsonlines.canonical_line(after)) <= trim.LINE_LIMIT < MAX_LINE_BYTES
        assert after["test_keys"]["verdict"] == before["test_keys"]["verdict"]
        assert after["test_keys"]["evidence"] == before["test_keys"]["evidence"]
        if after == before:
            continue  # a line under its share keeps everything
        dropped = after["test_keys"]["dropped"]
        assert dropped and all(isinstance(n, int) and n > 0 for n in dropped.values())
        if "packets" in dropped:
            assert len(after["test_keys"]["packets"]) + dropped["packets"] == len(before["test_keys"]["packets"])
    response = put(collector.url, sign_bytes(data, secret, "run.jsonl"), secret.public_key())
    assert response.status_code == 201, response.text


def test_a_file_within_the_limits_is_left_alone() -> None:
    lines = make_lines("dns_injection_two_answers_captured")
    assert trimmed(lines) == encoded(lines)


def test_only_the_lines_over_their_share_are_touched() -> None:
    lines = make_lines("clean")
    lines[0] = swollen([lines[0]], factor=2000)[0]
    data = trimmed(lines)
    assert data.splitlines()[1:] == encoded(lines).splitlines()[1:]
    assert "dropped" in json.loads(data.splitlines()[0])["test_keys"]


def test_a_line_that_may_be_cut_is_made_again_not_kept() -> None:
    """Only lines over the least share a line can have (the file limit over the line count) are made twice: the
    file as measured is never held whole, and a run of ordinary lines pays for one encoding only."""
    lines = make_lines("clean")
    lines[0] = swollen([lines[0]], factor=2000)[0]
    made: list[int] = []

    def line(index: int) -> dict[str, Any]:
        made.append(index)
        return copy.deepcopy(lines[index])

    data = trim.encode(line, len(lines))
    assert sorted(made) == [0, *range(len(lines))]
    assert data.splitlines()[1:] == encoded(lines).splitlines()[1:]
