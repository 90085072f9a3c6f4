"""`probe dataset report` as a reader meets it: probes upload to a real collector, `probe dataset export` builds
the Parquet, `probe dataset report` writes the page, and headless Chromium opens it with no network at all.
`probe report` does the same from a volunteer's own results folder."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

from probe import jsonlines
from probe.minisign import SecretKey
from tests.dataset.browser import UPDATER_SINK, visit
from tests.dataset.files import make_lines, sign_lines
from tests.dataset.servers import Collector
from tests.dataset.test_collector import put

ARTEFACTS = Path(os.environ.get("PROBE_TEST_ARTEFACTS", Path(__file__).parents[2] / "test-artefacts"))
TODAY = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
SECTIONS = ["Provenance", "Service status by country and day", "Networks (ASN) in each country",
            "Blocking methods over time", "Block episodes", "Vantage health", "The tables (CSV)",
            "Methods and caveats"]  # fmt: skip
# Four days: KakaoTalk is reachable, blackholed for two days, reachable again (the last day: today).
PLAN = ["clean", "tcp_blackhole", "tcp_blackhole", "clean"]
DOWNLOADS = ["service_status_daily.csv", "service_status_by_network.csv", "blocking_methods.csv", "block_episodes.csv",
             "vantage_health.csv"]  # fmt: skip
NAMED_NETWORK = "AS4766"  # three probes: enough to be named
THIN_NETWORK = "AS64511"  # one probe: must never be named


def _probe(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROBE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "probe", *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )


def _upload_runs(collector: Collector, secret: SecretKey, cc: str, asn: str, plan: list[str]) -> None:
    for n, scenario in enumerate(plan):
        start = TODAY - timedelta(days=len(plan) - 1 - n, hours=n)
        lines = make_lines(scenario, start)
        for line in lines:
            line.update(probe_cc=cc, probe_asn=asn)
        assert put(collector.url, sign_lines(lines, secret), secret.public_key()).status_code == 201


@pytest.fixture
def exported(collector: Collector, tmp_path: Path) -> tuple[Path, list[SecretKey]]:
    """The curated dataset of five probes: three in one Korean network, one alone in another, one in China."""
    keys = [SecretKey.generate() for _ in range(5)]
    for key in keys[:3]:
        _upload_runs(collector, key, "KR", NAMED_NETWORK, PLAN)
    _upload_runs(collector, keys[3], "KR", THIN_NETWORK, ["tls_sni_reset"] * len(PLAN))
    _upload_runs(collector, keys[4], "CN", "AS4134", ["dns_injection_two_answers"] * len(PLAN))
    dataset = tmp_path / "dataset"
    done = _probe(["dataset", "export", "--store", collector.store, "--out", str(dataset)], tmp_path / "home")
    assert done.returncode == 0, done.stderr
    return dataset, keys


@pytest.mark.browser
def test_the_report_opens_offline_with_every_chart_drawn(
    exported: tuple[Path, list[SecretKey]], collector: Collector, tmp_path: Path
) -> None:
    dataset, keys = exported
    out = tmp_path / "report.html"
    done = _probe(["dataset", "report", "--dataset", str(dataset), "--out", str(out)], tmp_path / "home")
    assert done.returncode == 0, done.stderr
    page = out.read_text()

    seen = visit(out, tmp_path / "browser", ARTEFACTS / "dataset-report.png")
    assert seen.sections == [f"{n}. {title}" for n, title in enumerate(SECTIONS, start=1)]
    assert seen.requests == [out.resolve().as_uri()], "the page asked for something besides itself"
    assert seen.network_log and all(url.startswith(UPDATER_SINK) for url in seen.network_log), seen.network_log
    assert not seen.errors and not [text for kind, text in seen.console if kind in ("error", "warning")]
    # Status grid, one network grid per country, a methods chart per blocked pair, episodes, health per country.
    assert len(seen.charts) >= 7
    for title, width, height, drawn in seen.charts:
        assert width > 0 and height > 0 and drawn > 0, f"chart {title!r} is empty"
    assert (ARTEFACTS / "dataset-report.png").stat().st_size > 20_000

    # Privacy: no probe id anywhere, and the network with one probe is never named; the one with three is.
    assert NAMED_NETWORK in page and THIN_NETWORK not in page
    assert not [k for k in keys if k.public_key().probe_id in page]
    # The KakaoTalk episode in Korea: two blackholed days, ended, each witness a signed raw line that says so.
    episode = re.search(r"<tr><td>kakaotalk</td><td>KR</td><td>([\d-]+)</td><td>([\d-]+)</td><td>no</td>(.*?)</tr>",
                        page)  # fmt: skip
    assert episode, "the Korean KakaoTalk episode is missing"
    first, last = (TODAY - timedelta(days=2)).date(), (TODAY - timedelta(days=1)).date()
    assert (episode[1], episode[2]) == (first.isoformat(), last.isoformat())
    witnesses = re.findall(r"([0-9a-f]{64}):(\d+)", episode[3])
    assert len(witnesses) == 3  # one per probe of the named network; none from the thin one
    store = Path(collector.store)
    for sha, line in witnesses:
        [raw] = store.glob(f"raw/v1/dt=*/{sha}.jsonl")
        measured = list(jsonlines.decode_lines(raw.read_bytes()))[int(line) - 1]
        assert measured["test_keys"]["verdict"] == "tcp.timeout" and measured["probe_asn"] == NAMED_NETWORK
        checked = [_probe(["verify", str(raw), "--key", str(k)], tmp_path / "home").returncode
                   for k in store.glob("keys/v1/*.pub")]  # fmt: skip
        assert checked.count(0) == 1, "a witness must verify with exactly its probe's key"

    # The CSV downloads are in the page itself, whole: a header and rows, and the thin network in none of them.
    links = re.findall(r'<a download="([a-z_]+\.csv)" href="data:text/csv;charset=utf-8,([^"]*)"', page)
    assert [name for name, _ in links] == [d for d in DOWNLOADS]
    for name, href in links:
        text = unquote(html.unescape(href))
        assert len(text.splitlines()) > 1 and THIN_NETWORK not in text, name
    again = _probe(["dataset", "report", "--dataset", str(dataset), "--out", str(out)], tmp_path / "home")
    assert again.returncode == 0 and out.read_text() == page  # the same input gives the same bytes


def test_min_probes_hides_every_network_it_must(exported: tuple[Path, list[SecretKey]], tmp_path: Path) -> None:
    dataset, _ = exported
    out = tmp_path / "strict.html"
    done = _probe(["dataset", "report", "--dataset", str(dataset), "--out", str(out), "--min-probes", "4"],
                  tmp_path / "home")  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    # KR's networks together have four probes: shown only merged; CN's single probe leaves nothing to show.
    assert NAMED_NETWORK not in page and THIN_NETWORK not in page and "AS4134" not in page
    assert "other networks" in page
    assert "withheld" in page  # no witness from a network that is not named


def test_bad_input_is_named_without_a_traceback(tmp_path: Path) -> None:
    missing = _probe(["dataset", "report", "--dataset", str(tmp_path / "nope")], tmp_path / "home")
    assert missing.returncode == 2 and "no such folder" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = _probe(["dataset", "report", "--dataset", str(tmp_path / "empty")], tmp_path / "home")
    assert empty.returncode == 2 and "no Parquet files" in empty.stderr
    broken = tmp_path / "broken" / "dt=2026-01-01" / "service=line"
    broken.mkdir(parents=True)
    (broken / "part-0.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    garbled = _probe(["dataset", "report", "--dataset", str(tmp_path / "broken")], tmp_path / "home")
    assert garbled.returncode == 2 and "cannot read it as the dataset" in garbled.stderr
    assert "Traceback" not in garbled.stderr


@pytest.mark.browser
def test_a_volunteers_own_report(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for n, scenario in enumerate(PLAN):
        lines = make_lines(scenario, TODAY - timedelta(days=len(PLAN) - 1 - n))
        path = results / lines[0]["test_start_time"][:10] / f"run-{n}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jsonlines.encode_lines(lines))
    (results / "damaged.jsonl").write_bytes(b'{"not": "a measurement"\n')
    out = tmp_path / "mine.html"
    done = _probe(["report", "--results-dir", str(results), "--out", str(out)], tmp_path / "home")
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "damaged.jsonl" in page  # named as left out, and the rest still counts
    assert re.search(r"<tr><td>kakaotalk</td><td>ZZ</td>", page)
    seen = visit(out, tmp_path / "browser", ARTEFACTS / "volunteer-report.png")
    assert seen.requests == [out.resolve().as_uri()] and not seen.errors
    assert all(drawn > 0 for _, _, _, drawn in seen.charts) and len(seen.charts) >= 4
    nothing = _probe(["report", "--results-dir", str(tmp_path / "none")], tmp_path / "home")
    assert nothing.returncode == 2 and "no such folder" in nothing.stderr
