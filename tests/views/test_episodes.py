"""Golden checks of the report's summing up: block episodes from a synthetic on/off series, and each run's service
status recomputed in SQL exactly as the probe's own aggregation gives it."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from probe import jsonlines
from probe.analysis.services import aggregate
from probe.model import Confidence, EndpointVerdict, ServiceStatus, Target, Verdict
from probe.views import episodes, glossary, source, svg, tables
from tests.dataset.files import GOLDEN, make_lines

DAY0 = date(2026, 3, 1)


def _day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def test_episodes_of_an_on_off_series() -> None:
    # day:    0 1 2 3 4 5 6 7 8 9
    # status: R B B ? R P - B I B      (? inconclusive, - no data, I inconclusive)
    series = [(0, "reachable"), (1, "blocked"), (2, "blocked"), (3, "inconclusive"), (4, "reachable"),
              (5, "partial"), (7, "blocked"), (8, "inconclusive"), (9, "blocked")]  # fmt: skip
    found = episodes.find((_day(n), status) for n, status in series)
    assert found == (
        episodes.Span(_day(1), _day(2), days=2, ongoing=False),
        episodes.Span(_day(5), _day(9), days=3, ongoing=True),
    )


def test_no_episode_without_blocking_and_one_day_alone_counts() -> None:
    assert episodes.find([(_day(0), "reachable"), (_day(1), "inconclusive")]) == ()
    assert episodes.find([(_day(0), "reachable"), (_day(1), "blocked"), (_day(2), "reachable")]) == (
        episodes.Span(_day(1), _day(1), days=1, ongoing=False),
    )


def _write_run(folder: Path, scenario: str, day: date, hour: int = 6) -> Path:
    from datetime import UTC, datetime

    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    lines = make_lines(scenario, start)
    path = folder / day.isoformat() / f"{start:%Y%m%dT%H%M%SZ}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jsonlines.encode_lines(lines))
    return path


def test_episode_boundaries_and_witnesses_through_the_tables(tmp_path: Path) -> None:
    """Days 0-2 clean, 3-5 KakaoTalk blackholed, 6 offline (no evidence), 7 clean, 8-9 blackholed again."""
    plan = ["clean"] * 3 + ["tcp_blackhole"] * 3 + ["trap_offline", "clean", "tcp_blackhole", "tcp_blackhole"]
    written = {n: _write_run(tmp_path, scenario, _day(n)) for n, scenario in enumerate(plan)}
    con = source.connect()
    source.open_results(con, tmp_path)
    computed = tables.compute(con, min_probes=1)
    kakao = [e for e in computed.episodes if e.service == "kakaotalk"]
    assert [(e.span.first, e.span.last, e.span.days, e.span.ongoing) for e in kakao] == [
        (_day(3), _day(5), 3, False),
        (_day(8), _day(9), 2, True),
    ]
    assert [e.verdicts[0][0] for e in kakao] == ["tcp.timeout", "tcp.timeout"]
    # One probe, so one witness each: the first blocking line of the episode's first day, checkable in its file.
    for episode in kakao:
        [witness] = episode.witnesses
        data = written[(witness.day - DAY0).days].read_bytes()
        assert witness.src_sha256 == hashlib.sha256(data).hexdigest()
        line = json.loads(data.splitlines()[witness.src_line - 1])
        assert line["test_keys"]["verdict"] == witness.verdict == "tcp.timeout"
        assert witness.day == episode.span.first
    assert not [e for e in computed.episodes if e.service == "line"]  # LINE stayed reachable throughout
    statuses = {(c.service, c.day): c.counts.status for c in computed.cells}
    assert statuses[("kakaotalk", _day(6))] == "inconclusive"


@pytest.mark.parametrize("scenario", sorted(p.name for p in GOLDEN.iterdir() if (p / "expected.json").exists()))
def test_run_status_in_sql_is_the_probes_own(scenario: str, tmp_path: Path) -> None:
    lines = jsonlines.decode_lines((GOLDEN / scenario / "measurements.jsonl").read_bytes())
    pairs = []
    for line in lines:
        target = dict(line["test_keys"]["target"])
        target["expected_asns"] = tuple(target.get("expected_asns") or ())
        fields = {k: v for k, v in target.items() if k in Target.model_fields and v is not None}
        verdict = EndpointVerdict(verdict=Verdict(line["test_keys"]["verdict"]), confidence=Confidence.LOW)
        pairs.append((Target(**fields), verdict))
    expected = {v.service: v.status.value for v in aggregate([t for t, _ in pairs], [v for _, v in pairs])}
    folder = tmp_path / "results" / "2026-11-29"
    folder.mkdir(parents=True)
    (folder / "run.jsonl").write_bytes((GOLDEN / scenario / "measurements.jsonl").read_bytes())
    con = source.connect()
    source.open_results(con, tmp_path / "results")
    tables.compute(con, min_probes=1)
    found = dict(con.execute("SELECT service, status FROM run_status").fetchall())
    expected.pop("control", None)
    assert found == expected


def test_every_verdict_status_and_health_is_explained_and_coloured() -> None:
    assert set(glossary.VERDICTS) == {v.value for v in Verdict}
    assert set(glossary.STATUSES) == {s.value for s in ServiceStatus} == set(tables.STATUSES)
    assert set(svg.STATUS_COLORS) == set(tables.STATUSES)
    assert set(glossary.HEALTH) == set(tables.HEALTH) == set(svg.HEALTH_COLORS)
    assert set(svg.VERDICT_COLORS) == {v.value for v in Verdict} - set(tables.NOT_BLOCKING)
