"""The aggregated tables as CSV files, embedded in the page as `data:` links (a download needs no network).

Only aggregates: the same rows the charts draw, with no probe id, and networks named only where `tables` allows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from probe.views.tables import HEALTH, Counts, Tables


@dataclass(frozen=True)
class Download:
    name: str  # the file name the browser saves
    description: str
    rows: int
    text: str  # CSV

    @property
    def href(self) -> str:
        # Percent-encoding only what a URL cannot carry keeps the link barely larger than the CSV itself.
        return "data:text/csv;charset=utf-8," + quote(self.text, safe=" ,.:;-_/()+=")


_COUNT_COLUMNS = ("status", "runs", "probes", "reachable_runs", "partial_runs", "blocked_runs", "inconclusive_runs")


def _counts(counts: Counts) -> list[object]:
    c = counts
    return [c.status, c.runs, c.probes, c.reachable, c.partial, c.blocked, c.inconclusive]


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> tuple[int, str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count, buffer.getvalue()


def build(tables: Tables) -> tuple[Download, ...]:
    """Every table of the page, in the order of its sections."""
    verdicts = sorted({v for b in tables.methods for v, _ in b.verdicts})
    period = "week (starting Monday)" if tables.bin_days == 7 else "day"
    specs: list[tuple[str, str, Sequence[str], Iterable[Sequence[object]]]] = [
        (
            "service_status_daily.csv",
            "each service's status per country and day, with the runs and distinct probes behind it",
            ("day", "service", "probe_cc", *_COUNT_COLUMNS),
            ([c.day.isoformat(), c.service, c.cc, *_counts(c.counts)] for c in tables.cells),
        ),
        (
            "service_status_by_network.csv",
            f"each service's status per network over the whole period (networks with fewer than "
            f"{tables.min_probes} probes merged or left out)",
            ("probe_cc", "network", "service", *_COUNT_COLUMNS),
            ([n.cc, n.network, n.service, *_counts(n.counts)] for n in tables.networks),
        ),
        (
            "blocking_methods.csv",
            f"endpoint measurements per {period}, service and country, and how many had each blocking verdict",
            ("period_start", "service", "probe_cc", "measurements", *verdicts),
            (
                [b.start.isoformat(), b.service, b.cc, b.measurements, *(dict(b.verdicts).get(v, 0) for v in verdicts)]
                for b in tables.methods
            ),
        ),
        (
            "block_episodes.csv",
            "block episodes with their witness measurements (src_sha256:line)",
            (
                "service",
                "probe_cc",
                "first_seen",
                "last_seen",
                "blocking_days",
                "ongoing",
                "probes",
                "verdicts",
                "witnesses",
            ),
            (
                [
                    e.service,
                    e.cc,
                    e.span.first.isoformat(),
                    e.span.last.isoformat(),
                    e.span.days,
                    "yes" if e.span.ongoing else "no",
                    e.probes,
                    " ".join(f"{v}={n}" for v, n in e.verdicts),
                    " ".join(f"{w.src_sha256}:{w.src_line}" for w in e.witnesses),
                ]
                for e in tables.episodes
            ),
        ),
        (
            "vantage_health.csv",
            f"runs per {period} and country by the state of the vantage point",
            ("period_start", "probe_cc", *(h.replace(" ", "_") for h in HEALTH)),
            ([h.start.isoformat(), h.cc, *(dict(h.runs).get(name, 0) for name in HEALTH)] for h in tables.health),
        ),
    ]
    out = []
    for name, description, header, rows in specs:
        count, text = _csv(header, rows)
        out.append(Download(name, description, count, text))
    return tuple(out)
