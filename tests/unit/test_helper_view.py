"""The control vantage's view as data: built from a real measurement (a golden scenario's), encoded, decoded, and
judged; and the golden scenarios with a helper show that its facts, and nothing else, change their verdicts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from probe import analysis, jsonlines, report
from probe import helperview as view
from probe.analysis.facts import HELPER_WINDOW, utc_seconds
from probe.model import Measured
from tests.golden.scenarios import SCENARIOS, Scenario

GOLDEN = Path(__file__).parent.parent / "golden"


def _measured(name: str) -> list[Measured]:
    data = (GOLDEN / name / "measurements.jsonl").read_bytes()
    return [report.measured_from_line(line) for line in jsonlines.decode_lines(data)]


def test_an_entry_says_what_the_helper_saw() -> None:
    measured = [m.model_copy(update={"target": m.target.model_copy(update={"id": "x"})}) for m in _measured("clean")]
    measured += [
        m.model_copy(update={"target": m.target.model_copy(update={"id": "y"})}) for m in _measured("tcp_rst_on_syn")
    ]
    vantage = analysis.assess([m for m in measured[:6] if m.target.is_control])
    clean = next(m for m in measured[:6] if m.target.host == "legy.line-apps.com")
    refused = next(m for m in measured[6:] if m.target.host == "booking-loco.kakao.com")
    ok = view.entry(clean, analysis.classify(clean, vantage), vantage)
    down = view.entry(refused, analysis.classify(refused, vantage), vantage)
    assert ok is not None and down is not None
    assert ok.addresses == ("203.0.113.20",) and ok.verdict == "ok" and ok.vantage == "online"
    assert [(c.ip, c.works, c.failures) for c in ok.connections] == [("203.0.113.20", True, 0)]
    assert len(ok.certificates) == 1 and len(ok.certificates[0]) == 64  # the leaf the target SNI was given
    assert not any(c.works for c in down.connections)
    assert {c.failure for c in down.connections} == {"connection_refused"}


def test_an_entry_carries_the_first_exchange() -> None:
    """Issue 16's first exchange at the helper: "ok" where the protocol answered, the failure where it did not
    (and the address does not work), nothing for an endpoint without one."""
    seen = {}
    for name in ("app_mtproto_dropped", "app_mtproto_reset"):
        measured = [m.model_copy(update={"target": m.target.model_copy(update={"id": "x"})}) for m in _measured(name)]
        vantage = analysis.assess([m for m in measured if m.target.is_control])
        for m in measured:
            e = view.entry(m, analysis.classify(m, vantage), vantage)
            assert e is not None
            seen[(name, m.target.host)] = [(c.works, c.failure, c.first_exchange) for c in e.connections]
    timeout, reset = "generic_timeout_error", "connection_reset"
    assert seen[("app_mtproto_dropped", "203.0.113.50")] == [(False, timeout, timeout)]
    assert seen[("app_mtproto_reset", "203.0.113.50")] == [(False, reset, reset)]
    assert seen[("app_mtproto_dropped", "legy.line-apps.com")] == [(True, None, None)]


def test_encode_decode_round_trip_and_provenance() -> None:
    measured = _measured("helper_service_down")
    entries = [m.helper for m in measured if m.helper is not None]
    data = view.encode(entries, "2026-11-28 12:00:00", "DE", "AS3320")
    document = json.loads(data)
    assert document["format"] == view.VIEW_FORMAT and document["helper"]["probe_cc"] == "DE"
    assert "helper_id" not in document["endpoints"][0]  # provenance is the probe's to add, not the helper's to claim
    decoded = view.decode(data, "a" * 64)
    assert set(decoded) == {e.id for e in entries}
    first = decoded[entries[0].id]
    assert first.helper_id == "a" * 64 and first.probe_asn == "AS3320" and len(first.view_sha256) == 64
    assert first.model_dump(exclude={"helper_id", "view_sha256", "probe_cc", "probe_asn"}) == entries[0].model_dump(
        exclude={"helper_id", "view_sha256", "probe_cc", "probe_asn"}
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"not json", "not JSON"),
        (b'{"format": 2, "endpoints": []}', "format"),
        (b'{"format": 1, "endpoints": {}}', "endpoints"),
        (b'{"format": 1, "endpoints": [{"id": "x"}]}', "endpoint 1"),
        (b'{"format": 1, "endpoints": [1]}', "endpoint 1"),
    ],
)
def test_what_is_not_a_view_is_refused(data: bytes, problem: str) -> None:
    with pytest.raises(view.ViewError, match=problem):
        view.decode(data)


def test_utc_seconds_counts_days_like_the_calendar() -> None:
    assert utc_seconds("1970-01-01 00:00:00") == 0
    assert utc_seconds("2000-03-01 00:00:00") - utc_seconds("2000-02-28 00:00:00") == 2 * 86400  # a leap year
    assert utc_seconds("2026-11-28 12:30:00") == 1795869000
    with pytest.raises(ValueError):
        utc_seconds("2026-11-28T12:30:00Z")


HELPER_SCENARIOS = [s for s in SCENARIOS if s.helper is not None]


@pytest.mark.parametrize("scenario", HELPER_SCENARIOS, ids=lambda s: s.name)
def test_the_helper_decides_what_its_scenarios_show(scenario: Scenario) -> None:
    """Judged again without the helper's entries, the endpoints the helper speaks for get another verdict (the
    one a probe without a control vantage gives): the helper's facts are what decided. Outside its window, an entry
    is ignored; and where the helper reaches what fails here, it changes nothing."""
    measured = _measured(scenario.name)
    vantage = analysis.assess([m for m in measured if m.target.is_control])
    for m in measured:
        if m.target.host not in scenario.expected:
            continue
        with_helper = analysis.classify(m, vantage)
        without = analysis.classify(m.model_copy(update={"helper": None}), vantage)
        if scenario.name in ("helper_stale_view", "helper_censored_stays_blocked", "helper_mtproto_answered_there"):
            assert with_helper == without, m.target.host
        else:
            assert (with_helper.verdict, with_helper.confidence) != (without.verdict, without.confidence), without
            assert with_helper.rule_id is not None
            assert "helper" in with_helper.rule_id or "control vantage" in " ".join(with_helper.evidence)


def test_the_window_is_half_an_hour_either_way() -> None:
    measured = next(m for m in _measured("helper_service_down") if m.target.host == "legy.line-apps.com")
    vantage = analysis.assess([m for m in _measured("helper_service_down") if m.target.is_control])
    assert measured.helper is not None
    start = utc_seconds(measured.start_time)
    for offset, counts in ((HELPER_WINDOW, True), (-HELPER_WINDOW, True), (HELPER_WINDOW + 1, False)):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start + offset))
        moved = measured.model_copy(update={"helper": measured.helper.model_copy(update={"measured_at": stamp})})
        verdict = analysis.classify(moved, vantage)
        assert (verdict.rule_id == "helper.down_too") is counts, offset
    offline = measured.model_copy(update={"helper": measured.helper.model_copy(update={"vantage": "offline"})})
    assert analysis.classify(offline, vantage).rule_id != "helper.down_too"
