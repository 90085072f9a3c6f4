"""Every aggregate the report shows, computed by DuckDB over the view `m` (see `source`).

A run's status for a service is recomputed as `probe.analysis.services.aggregate` decides it: only core endpoints
count (unless a service has none in the run), endpoints of one `target_group` stand in for each other (the group
is reachable when any member is), and a service is reachable when every group is, blocked when every group is,
partial when some are, inconclusive otherwise. Several runs on one day and in one country (a cell) are summed up
by majority: the status more than half of the conclusive runs share; without a majority, `partial` (some runs saw
the service blocked, some did not); with no conclusive run, `inconclusive`.

Privacy: the page shows aggregates only and never a probe id. A network (ASN) in which fewer than `min_probes`
distinct probes measured over the whole period is never named: its runs are merged into "other networks" of its
country, and that row too is left out when the merged networks still have fewer than `min_probes` probes. Witness
measurements are taken only from named networks. Thin evidence elsewhere (a cell with fewer than `min_probes`
probes) is shown, and marked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from probe.views import episodes

STATUSES = ("reachable", "partial", "blocked", "inconclusive")
HEALTH = ("online", "overloaded", "restricted", "captive portal", "offline", "unknown")
NOT_BLOCKING = ("ok", "inconclusive")
OTHER_NETWORKS = "other networks"
WITNESSES = 3
WEEKLY_AFTER_DAYS = 92  # longer periods are drawn and tabled by week, which keeps a year's page small

# One row per (run, service): the service's status in that run, as the probe's own aggregation decides it.
_RUN_STATUS = """
CREATE TEMP TABLE run_status AS
WITH decisive AS (
  SELECT * FROM m WHERE service <> 'control' QUALIFY core OR NOT bool_or(core) OVER (PARTITION BY run, service)
), groups AS (
  SELECT probe, run, service, any_value(dt) AS dt, any_value(probe_cc) AS cc, any_value(probe_asn) AS asn,
         CASE WHEN bool_or(verdict = 'ok') THEN 'reachable'
              WHEN bool_or(verdict <> 'inconclusive') THEN 'blocked' ELSE 'inconclusive' END AS status
  FROM decisive GROUP BY probe, run, service, endpoint_group
)
SELECT probe, run, service, any_value(dt) AS dt, any_value(cc) AS cc, any_value(asn) AS asn,
       CASE WHEN bool_and(status = 'reachable') THEN 'reachable'
            WHEN bool_and(status = 'blocked') THEN 'blocked'
            WHEN bool_or(status = 'blocked') THEN 'partial' ELSE 'inconclusive' END AS status
FROM groups GROUP BY probe, run, service
"""

_COUNTS = """count(*) AS runs, count(DISTINCT probe) AS probes,
  count(*) FILTER (WHERE status = 'reachable') AS reachable, count(*) FILTER (WHERE status = 'partial') AS partial,
  count(*) FILTER (WHERE status = 'blocked') AS blocked, count(*) FILTER (WHERE status = 'inconclusive') AS unknown"""

# Networks that may be named: at least min_probes distinct probes over the whole period.
_NETWORKS = """
CREATE TEMP TABLE networks AS
SELECT probe_cc AS cc, probe_asn AS asn, count(DISTINCT probe) >= $min AS named
FROM m GROUP BY probe_cc, probe_asn
"""


@dataclass(frozen=True)
class Counts:
    runs: int
    probes: int
    reachable: int
    partial: int
    blocked: int
    inconclusive: int

    @property
    def status(self) -> str:
        """The majority rule of the module docstring."""
        conclusive = self.reachable + self.partial + self.blocked
        if conclusive == 0:
            return "inconclusive"
        if 2 * self.reachable > conclusive:
            return "reachable"
        if 2 * self.blocked > conclusive:
            return "blocked"
        return "partial"

    @property
    def blocked_share(self) -> float:
        conclusive = self.reachable + self.partial + self.blocked
        return (self.partial + self.blocked) / conclusive if conclusive else 0.0


@dataclass(frozen=True)
class Cell:
    """A service's status in one country on one day."""

    day: date
    service: str
    cc: str
    counts: Counts


@dataclass(frozen=True)
class NetworkCell:
    """A service's status in one network (or the merged small ones) of a country, over the whole period."""

    cc: str
    network: str
    service: str
    counts: Counts


@dataclass(frozen=True)
class MethodBin:
    """How a service's endpoint measurements in one country were judged, in one day or week."""

    start: date
    service: str
    cc: str
    measurements: int
    verdicts: tuple[tuple[str, int], ...]  # blocking verdicts only, by name


@dataclass(frozen=True)
class HealthBin:
    """The vantage points' state in one country's runs, in one day or week."""

    start: date
    cc: str
    runs: tuple[tuple[str, int], ...]  # (HEALTH name, runs)


@dataclass(frozen=True)
class Witness:
    day: date
    src_sha256: str
    src_line: int
    verdict: str
    confidence: str


@dataclass(frozen=True)
class Episode:
    service: str
    cc: str
    span: episodes.Span
    probes: int
    verdicts: tuple[tuple[str, int], ...]
    witnesses: tuple[Witness, ...]


@dataclass(frozen=True)
class Provenance:
    first: date
    last: date
    measurements: int
    runs: int
    probes: int
    countries: tuple[str, ...]
    networks_named: int
    networks_unnamed: int  # merged into "other networks" or left out
    list_versions: tuple[tuple[str, str, int], ...]  # (service, list version, runs)
    analysis_versions: tuple[tuple[str, int], ...]  # (version, measurements)
    software_versions: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Tables:
    min_probes: int
    bin_days: int  # 1 (daily) or 7 (weekly) for the charts over time
    provenance: Provenance
    cells: tuple[Cell, ...]
    networks: tuple[NetworkCell, ...]
    methods: tuple[MethodBin, ...]
    health: tuple[HealthBin, ...]
    episodes: tuple[Episode, ...]

    @property
    def days(self) -> tuple[date, ...]:
        first, last = self.provenance.first, self.provenance.last
        return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))

    @property
    def bins(self) -> tuple[date, ...]:
        if self.bin_days == 1:
            return self.days
        first = _week(self.provenance.first)
        count = (_week(self.provenance.last) - first).days // 7 + 1
        return tuple(first + timedelta(days=7 * n) for n in range(count))


def compute(con: Any, min_probes: int) -> Tables:
    """Every table of the page from the view `m` on `con` (a DuckDB connection)."""
    con.execute(_RUN_STATUS)
    con.execute(_NETWORKS, {"min": min_probes})
    provenance = _provenance(con)
    weekly = (provenance.last - provenance.first).days >= WEEKLY_AFTER_DAYS
    bin_of = "CAST(date_trunc('week', dt) AS DATE)" if weekly else "dt"
    cells = tuple(
        Cell(day, service, cc, Counts(*counts))
        for day, service, cc, *counts in con.execute(
            f"SELECT dt, service, cc, {_COUNTS} FROM run_status GROUP BY ALL ORDER BY cc, service, dt"
        ).fetchall()
    )
    found = _episodes(con, cells)
    return Tables(
        min_probes=min_probes,
        bin_days=7 if weekly else 1,
        provenance=provenance,
        cells=cells,
        networks=_networks(con, min_probes),
        methods=_methods(con, bin_of),
        health=_health(con, bin_of),
        episodes=found,
    )


def _provenance(con: Any) -> Provenance:
    first, last, measurements, runs, probes = con.execute(
        "SELECT min(dt), max(dt), count(*), count(DISTINCT run), count(DISTINCT probe) FROM m"
    ).fetchone()
    countries = tuple(c for (c,) in con.execute("SELECT DISTINCT probe_cc FROM m ORDER BY 1").fetchall() if c)
    named, unnamed = con.execute(
        "SELECT count(*) FILTER (WHERE named), count(*) FILTER (WHERE NOT named) FROM networks"
    ).fetchone()
    lists = con.execute(
        "SELECT service, coalesce(list_version, '?'), count(DISTINCT run) FROM m GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    return Provenance(
        first=first,
        last=last,
        measurements=measurements,
        runs=runs,
        probes=probes,
        countries=countries,
        networks_named=named,
        networks_unnamed=unnamed,
        list_versions=tuple((str(s), str(v), int(n)) for s, v, n in lists),
        analysis_versions=_tally(con, "analysis_version"),
        software_versions=_tally(con, "software_version"),
    )


def _tally(con: Any, column: str) -> tuple[tuple[str, int], ...]:
    rows = con.execute(f"SELECT coalesce({column}, '?'), count(*) FROM m GROUP BY 1 ORDER BY 1").fetchall()
    return tuple((str(value), int(n)) for value, n in rows)


def _networks(con: Any, min_probes: int) -> tuple[NetworkCell, ...]:
    rows = con.execute(
        f"""
        WITH labelled AS (
          SELECT r.*, CASE WHEN n.named THEN coalesce(r.asn, '?') ELSE '{OTHER_NETWORKS}' END AS network
          FROM run_status r JOIN networks n ON r.cc IS NOT DISTINCT FROM n.cc AND r.asn IS NOT DISTINCT FROM n.asn
        ), shown AS (  -- the merged row only when the merged networks together reach min_probes
          SELECT cc, network FROM labelled GROUP BY ALL HAVING count(DISTINCT probe) >= $min
        )
        SELECT cc, network, service, {_COUNTS} FROM labelled SEMI JOIN shown USING (cc, network)
        GROUP BY cc, network, service ORDER BY cc, network = '{OTHER_NETWORKS}', network, service
        """,
        {"min": min_probes},
    ).fetchall()
    return tuple(NetworkCell(cc, network, service, Counts(*counts)) for cc, network, service, *counts in rows)


def _methods(con: Any, bin_of: str) -> tuple[MethodBin, ...]:
    rows = con.execute(
        f"""
        WITH judged AS (
          SELECT {bin_of} AS start, service, probe_cc AS cc, verdict, count(*) AS n
          FROM m WHERE service <> 'control' GROUP BY ALL
        )
        SELECT start, service, cc, sum(n),
               list(verdict ORDER BY verdict) FILTER (WHERE verdict NOT IN ('ok', 'inconclusive')),
               list(n ORDER BY verdict) FILTER (WHERE verdict NOT IN ('ok', 'inconclusive'))
        FROM judged GROUP BY ALL ORDER BY cc, service, start
        """
    ).fetchall()
    return tuple(
        MethodBin(start, service, cc, int(total), tuple(zip(names or (), counts or (), strict=True)))
        for start, service, cc, total, names, counts in rows
    )


def _health(con: Any, bin_of: str) -> tuple[HealthBin, ...]:
    rows = con.execute(
        f"""
        WITH run AS (
          SELECT min(dt) AS dt, any_value(probe_cc) AS cc, any_value(vantage) AS vantage,
                 bool_or(vantage_captive_portal) AS captive, bool_or(vantage_overloaded) AS overloaded
          FROM m GROUP BY run
        )
        SELECT {bin_of} AS start, cc,
               CASE WHEN vantage = 'offline' THEN 'offline' WHEN captive THEN 'captive portal'
                    WHEN vantage = 'restricted' THEN 'restricted' WHEN overloaded THEN 'overloaded'
                    WHEN vantage = 'online' THEN 'online' ELSE 'unknown' END AS health,
               count(*)
        FROM run GROUP BY ALL ORDER BY cc, start
        """
    ).fetchall()
    grouped: dict[tuple[date, str], dict[str, int]] = {}
    for start, cc, health, n in rows:
        grouped.setdefault((start, cc), {})[health] = n
    return tuple(
        HealthBin(start, cc, tuple((h, found[h]) for h in HEALTH if h in found))
        for (start, cc), found in grouped.items()
    )


def _episodes(con: Any, cells: Iterable[Cell]) -> tuple[Episode, ...]:
    series: dict[tuple[str, str], list[tuple[date, str]]] = {}
    for cell in cells:
        series.setdefault((cell.service, cell.cc), []).append((cell.day, cell.counts.status))
    spans = [(service, cc, span) for (service, cc), days in sorted(series.items()) for span in episodes.find(days)]
    if not spans:
        return ()
    import pyarrow as pa

    con.register(
        "episode",
        pa.table(
            {
                "id": list(range(len(spans))),
                "service": [s for s, _, _ in spans],
                "cc": [c for _, c, _ in spans],
                "first": [span.first for _, _, span in spans],
                "last": [span.last for _, _, span in spans],
            }
        ),
    )
    blocked = """
      FROM episode e JOIN m ON m.service = e.service AND m.probe_cc = e.cc AND m.dt BETWEEN e.first AND e.last
      WHERE m.verdict NOT IN ('ok', 'inconclusive')"""
    probes = dict(
        con.execute(
            "SELECT e.id, count(DISTINCT m.probe) FROM episode e JOIN run_status m ON m.service = e.service "
            "AND m.cc = e.cc AND m.dt BETWEEN e.first AND e.last WHERE m.status IN ('blocked', 'partial') GROUP BY 1"
        ).fetchall()
    )
    verdicts: dict[int, list[tuple[str, int]]] = {}
    for ident, verdict, n in con.execute(
        f"SELECT e.id, m.verdict, count(*) {blocked} GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2"
    ).fetchall():
        verdicts.setdefault(ident, []).append((verdict, n))
    # One witness per probe (its most confident blocking measurement), from named networks only, WITNESSES at most.
    witnesses: dict[int, list[Witness]] = {}
    for ident, day, sha, line, verdict, confidence in con.execute(
        f"""
        SELECT id, dt, src_sha256, src_line, verdict, confidence FROM (
          SELECT e.id, m.dt, m.src_sha256, m.src_line, m.verdict, coalesce(m.confidence, '') AS confidence,
                 row_number() OVER (PARTITION BY e.id, m.probe ORDER BY m.confidence = 'high' DESC,
                   m.confidence = 'medium' DESC, m.dt, m.src_sha256, m.src_line) AS nth
          {blocked} AND EXISTS (SELECT 1 FROM networks n WHERE n.named AND n.cc = m.probe_cc AND n.asn = m.probe_asn)
        ) WHERE nth = 1
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY confidence = 'high' DESC, dt, src_sha256, src_line)
          <= {WITNESSES}
        ORDER BY id, dt, src_sha256, src_line
        """
    ).fetchall():
        witnesses.setdefault(ident, []).append(Witness(day, sha, line, verdict, confidence))
    return tuple(
        Episode(service, cc, span, probes.get(n, 0), tuple(verdicts.get(n, ())), tuple(witnesses.get(n, ())))
        for n, (service, cc, span) in enumerate(spans)
    )


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())
