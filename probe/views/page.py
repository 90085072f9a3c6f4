"""The report as one HTML page: eight sections, each a chart where a reader would rather look than read.

The page carries a Content-Security-Policy of `default-src 'none'` (styles inline only, images only from `data:`),
so even a value that slipped a URL into it could not make the reader's browser fetch anything; there is no script.
The bytes depend only on the input and the options (no clock), so the same command on the same data gives the
same file, which the input hash on the page lets anyone check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from probe import __version__
from probe.views import downloads, glossary, svg
from probe.views.source import Input
from probe.views.tables import HEALTH, STATUSES, Counts, Tables, Witness

EPISODE_ROWS = 200  # the page lists the longest episodes; the CSV has them all

_STYLE = """
:root{color-scheme:light;--ink:#1d1d1f;--mute:#5f6368;--line:#d9d9d9}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0 auto;
 max-width:1180px;padding:0 20px 60px}
header{border-bottom:1px solid var(--line);margin-bottom:8px}
h1{font-size:26px;margin:24px 0 4px}h2{font-size:20px;margin:36px 0 8px;border-top:1px solid var(--line);
 padding-top:18px}h3{font-size:16px;margin:20px 0 6px}
nav ol{columns:2;padding-left:22px;margin:8px 0 16px}
.note,figcaption{color:var(--mute);font-size:13px}figure{margin:8px 0 18px;overflow-x:auto}
svg.chart{display:block;max-width:none;font:10px system-ui,sans-serif;fill:var(--ink)}
svg.chart .axis{stroke:var(--line);fill:none}svg.chart .on-fill{fill:#fff;font-weight:600}
.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:13px}
.legend svg{vertical-align:-1px;margin-right:4px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 14px}
th,td{border-bottom:1px solid var(--line);padding:3px 10px 3px 0;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}pre{white-space:pre-wrap;word-break:break-all;
 background:#f6f6f6;padding:8px}
.witness{display:block;white-space:nowrap}
"""


@dataclass(frozen=True)
class Options:
    title: str
    command: str  # as the reader can run it again
    subject: str  # "the dataset" | "this probe's results"


def render(tables: Tables, source: Input, options: Options) -> str:
    """The whole page."""
    sections = [
        ("provenance", "Provenance", _provenance(tables, source, options)),
        ("status", "Service status by country and day", _status(tables)),
        ("networks", "Networks (ASN) in each country", _networks(tables)),
        ("methods", "Blocking methods over time", _methods(tables)),
        ("episodes", "Block episodes", _episodes(tables)),
        ("vantage", "Vantage health", _vantage(tables)),
        ("downloads", "The tables (CSV)", _downloads(tables)),
        ("caveats", "Methods and caveats", _caveats(tables)),
    ]
    nav = "".join(f'<li><a href="#{ident}">{escape(title)}</a></li>' for ident, title, _ in sections)
    body = "".join(
        f'<section id="{ident}"><h2>{n}. {escape(title)}</h2>{content}</section>'
        for n, (ident, title, content) in enumerate(sections, start=1)
    )
    p = tables.provenance
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(options.title)}</title><style>{_STYLE}</style></head><body>{svg.DEFS}"
        f'<header><h1>{escape(options.title)}</h1><p class="note">{escape(options.subject.capitalize())}, '
        f"{p.first} to {p.last}: {p.measurements:,} endpoint measurements in {p.runs:,} runs. Made by probe "
        f"{escape(__version__)}; it opens offline and asks the network for nothing.</p>"
        f"<nav><ol>{nav}</ol></nav></header>{body}</body></html>\n"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    lines = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{_cell(v)}</td>' if n in numeric else f"<td>{_cell(v)}</td>" for n, v in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _cell(value: object) -> str:
    if isinstance(value, Markup):
        return value.html
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


@dataclass(frozen=True)
class Markup:
    """Already-escaped HTML for a table cell."""

    html: str


def _legend(items: Sequence[tuple[str, str]], thin: bool = False) -> str:
    entries = [f"<li>{svg.swatch(color)}{escape(name)}</li>" for name, color in items]
    if thin:
        entries.append(f"<li>{svg.swatch('#a8a8a8', thin=True)}hatched: thin evidence</li>")
    return f'<ul class="legend">{"".join(entries)}</ul>'


def _figure(chart: str, caption: str) -> str:
    return f"<figure>{chart}<figcaption>{caption}</figcaption></figure>"


def _provenance(tables: Tables, source: Input, options: Options) -> str:
    p = tables.provenance
    what = "Parquet files of the curated dataset" if source.kind == "dataset" else "result files"
    facts = [
        ("period", f"{p.first} to {p.last} ({(p.last - p.first).days + 1} days)"),
        ("endpoint measurements", p.measurements),
        ("runs", p.runs),
        ("distinct probes", p.probes),
        ("countries", f"{len(p.countries)}: {', '.join(p.countries)}"),
        (
            "networks (ASN)",
            f"{p.networks_named + p.networks_unnamed}; {p.networks_named} named, {p.networks_unnamed} with fewer "
            f"than {tables.min_probes} distinct probes, never named",
        ),
        ("analysis versions", ", ".join(f"{v} ({n:,} measurements)" for v, n in p.analysis_versions)),
        ("probe versions", ", ".join(f"{v} ({n:,} measurements)" for v, n in p.software_versions)),
        ("input", f"{source.files:,} {what}"),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in facts)
    skipped = ""
    if source.skipped:
        items = "".join(f"<li>{escape(s)}</li>" for s in source.skipped)
        skipped = f"<p>Left out (could not be read):</p><ul>{items}</ul>"
    lists = _table(("service", "target list version", "runs"), p.list_versions, numeric=(2,))
    return (
        f"<table><tbody>{rows}</tbody></table>{skipped}"
        f"<h3>Re-run</h3><p>This page was made with the command below; the input hash is the SHA-256 over every "
        f"input file's path and SHA-256, in path order, so anyone with the same files can check they have what this "
        f"page shows, and make it again.</p><pre>{escape(options.command)}</pre>"
        f"<p>input sha256: <code>{source.sha256}</code></p><h3>Target lists</h3>{lists}"
    )


def _status_box(column: int, row: int, counts: Counts, min_probes: int) -> svg.Box:
    return svg.Box(column, row, svg.STATUS_COLORS[counts.status], thin=counts.probes < min_probes)


def _status(tables: Tables) -> str:
    if not tables.cells:
        return "<p>No measurement of a service (controls only).</p>"
    days = tables.days
    index = {day: n for n, day in enumerate(days)}
    rows: dict[tuple[str, str], int] = {}
    for cell in tables.cells:
        rows.setdefault((cell.cc, cell.service), len(rows))
    boxes = [_status_box(index[c.day], rows[(c.cc, c.service)], c.counts, tables.min_probes) for c in tables.cells]
    labels = [f"{cc} · {service}" for cc, service in rows]
    chart = svg.day_grid("Service status by country and day", labels, days, boxes)
    legend = _legend([(s, svg.STATUS_COLORS[s]) for s in STATUSES], thin=True)
    caption = (
        f"One row per country and service, one column per day (UTC); white: no run that day. A cell's status is the "
        f"majority of that day's runs (section 8). Hatched: fewer than {tables.min_probes} distinct probes measured "
        f"it that day, so a single network or device may be all it shows."
    )
    return legend + _figure(chart, caption)


def _networks(tables: Tables) -> str:
    parts = [_legend([(s, svg.STATUS_COLORS[s]) for s in STATUSES], thin=True)]
    by_country: dict[str, list[tuple[str, str, Counts]]] = {cc: [] for cc in tables.provenance.countries}
    for n in tables.networks:
        by_country.setdefault(n.cc, []).append((n.network, n.service, n.counts))
    for cc, cells in by_country.items():
        if not cells:
            parts.append(
                f"<h3>{escape(cc)}</h3><p>No network here had {tables.min_probes} or more distinct probes, nor had "
                f"the small ones together: nothing is shown per network, to keep volunteers unidentifiable.</p>"
            )
            continue
        networks = list(dict.fromkeys(network for network, _, _ in cells))
        services = sorted({service for _, service, _ in cells})
        boxes, texts = [], {}
        for network, service, counts in cells:
            column, row = services.index(service), networks.index(network)
            boxes.append(_status_box(column, row, counts, tables.min_probes))
            texts[(column, row)] = f"{counts.blocked_share:.0%}"
        chart = svg.label_grid(f"{cc}: service status per network", networks, services, boxes, texts)
        caption = (
            f"{escape(cc)}: each service's status per network over the whole period, and the share of its conclusive "
            f"runs that found it blocked or partly blocked. Networks with fewer than {tables.min_probes} distinct "
            f"probes are merged into \u201cother networks\u201d, or left out when those too are fewer."
        )
        parts.append(f"<h3>{escape(cc)}</h3>" + _figure(chart, caption))
    return "".join(parts)


def _methods(tables: Tables) -> str:
    bins = tables.bins
    index = {start: n for n, start in enumerate(bins)}
    by_pair: dict[tuple[str, str], list[tuple[int, int, tuple[tuple[str, int], ...]]]] = {}
    for b in tables.methods:
        by_pair.setdefault((b.cc, b.service), []).append((index[b.start], b.measurements, b.verdicts))
    charts = []
    used: set[str] = set()
    for (cc, service), series in by_pair.items():
        names = sorted({v for _, _, verdicts in series for v, _ in verdicts})
        if not names:
            continue
        used.update(names)
        layers = []
        for name in names:
            shares = [0.0] * len(bins)
            for n, total, verdicts in series:
                shares[n] = dict(verdicts).get(name, 0) / total
            layers.append((svg.VERDICT_COLORS.get(name, svg.OTHER_COLOR), shares))
        chart = svg.stacked(f"{cc} {service}: blocking verdicts over time", bins, layers)
        charts.append(f"<h3>{escape(cc)} · {escape(service)}</h3>" + _figure(chart, ""))
    if not charts:
        return "<p>No endpoint measurement had a blocking verdict in this period.</p>"
    period = "week" if tables.bin_days == 7 else "day"
    legend = _legend([(v, svg.VERDICT_COLORS.get(v, svg.OTHER_COLOR)) for v in sorted(used)])
    intro = (
        f'<p class="note">For each country and service with any blocking verdict: per {period}, the share of its '
        f"endpoint measurements that had each blocking verdict (the rest were ok or inconclusive). A censor that "
        f"moves from one method to another (DNS to SNI filtering, say) shows as a change of colour.</p>"
    )
    return intro + legend + "".join(charts)


def _episodes(tables: Tables) -> str:
    if not tables.episodes:
        return "<p>No block episode: no service was seen blocked or partly blocked on any day.</p>"
    days = tables.days
    index = {day: n for n, day in enumerate(days)}
    rows: dict[tuple[str, str], int] = {}
    spans = []
    for e in tables.episodes:
        row = rows.setdefault((e.cc, e.service), len(rows))
        color = svg.STATUS_COLORS["blocked"] if e.span.ongoing else svg.STATUS_COLORS["partial"]
        spans.append((row, index[e.span.first], index[e.span.last], color))
    chart = svg.timeline("Block episodes", [f"{cc} · {service}" for cc, service in rows], days, spans)
    legend = _legend([("ongoing", svg.STATUS_COLORS["blocked"]), ("ended", svg.STATUS_COLORS["partial"])])
    shown = sorted(tables.episodes, key=lambda e: (not e.span.ongoing, -e.span.days, e.cc, e.service, e.span.first))
    rows_html = [
        (
            e.service,
            e.cc,
            e.span.first.isoformat(),
            e.span.last.isoformat(),
            "yes" if e.span.ongoing else "no",
            e.span.days,
            e.probes,
            ", ".join(f"{v} ({n:,})" for v, n in e.verdicts[:3]),
            Markup(_witnesses(e.witnesses)),
        )
        for e in shown[:EPISODE_ROWS]
    ]
    more = ""
    if len(shown) > EPISODE_ROWS:
        more = f'<p class="note">{len(shown) - EPISODE_ROWS:,} shorter episodes are in block_episodes.csv.</p>'
    header = ("service", "country", "first seen", "last seen", "ongoing", "blocking days", "probes", "methods",
              "witnesses (src_sha256:line)")  # fmt: skip
    caption = (
        "An episode is a stretch of days on which a service was blocked or partly blocked in a country, with no day "
        "seen reachable in between; days without data or with inconclusive runs only neither end nor extend it. "
        "It began after the last reachable day before its first day, and ended before the first reachable day after "
        "its last."
    )
    table = _table(header, rows_html, numeric=(5, 6))
    verify = (
        '<p class="note">A witness is one blocking measurement: line <em>line</em> of the raw file '
        "<code>raw/v1/dt=DAY/SRC_SHA256.jsonl</code> in the collector's store, signed by the probe that measured it; "
        "<code>probe verify FILE --key KEY</code> checks it (the key is <code>keys/v1/&lt;probe id&gt;.pub</code>). "
        f"Witnesses come only from networks with {tables.min_probes} or more distinct probes, one per probe.</p>"
    )
    return legend + _figure(chart, caption) + table + more + verify


def _witnesses(found: Sequence[Witness]) -> str:
    if not found:
        return '<span class="note">withheld: from networks with fewer probes</span>'
    return "".join(
        f'<code class="witness" title="{w.day} {escape(w.verdict)} ({escape(w.confidence)})">'
        f"{w.src_sha256}:{w.src_line}</code>"
        for w in found
    )


def _vantage(tables: Tables) -> str:
    bins = tables.bins
    index = {start: n for n, start in enumerate(bins)}
    by_country: dict[str, list[tuple[int, tuple[tuple[str, int], ...]]]] = {}
    for h in tables.health:
        by_country.setdefault(h.cc, []).append((index[h.start], h.runs))
    totals = []
    charts = []
    for cc, series in by_country.items():
        sums = dict.fromkeys(HEALTH, 0)
        per_bin = [dict.fromkeys(HEALTH, 0) for _ in bins]
        for n, runs in series:
            for name, count in runs:
                sums[name] += count
                per_bin[n][name] += count
        layers = []
        for name in HEALTH:
            shares = [b[name] / (sum(b.values()) or 1) for b in per_bin]
            if any(shares):
                layers.append((svg.HEALTH_COLORS[name], shares))
        charts.append(f"<h3>{escape(cc)}</h3>" + _figure(svg.stacked(f"{cc}: vantage health", bins, layers), ""))
        total = sum(sums.values())
        totals.append((cc, total, *(f"{sums[h] / total:.0%}" if sums[h] else "" for h in HEALTH)))
    legend = _legend([(h, svg.HEALTH_COLORS[h]) for h in HEALTH])
    explain = "".join(f"<li><strong>{escape(h)}</strong>: {escape(t)}</li>" for h, t in glossary.HEALTH.items())
    return (
        f'<p class="note">How the vantage points fared in each country\'s runs: weak runs (offline, captive portal, '
        f"overloaded, restricted) make weaker evidence; discount a country's days where they dominate.</p>"
        f"<ul>{explain}</ul>{_table(('country', 'runs', *HEALTH), totals, numeric=tuple(range(1, 8)))}"
        f"{legend}{''.join(charts)}"
    )


def _downloads(tables: Tables) -> str:
    items = []
    for d in downloads.build(tables):
        size = len(d.text.encode())
        items.append(
            f'<li><a download="{d.name}" href="{escape(d.href)}">{d.name}</a>: {escape(d.description)} '
            f'<span class="note">({d.rows:,} rows, {size / 1024:,.0f} kB)</span></li>'
        )
    return (
        '<p class="note">The aggregates behind the charts, as CSV. They are inside this file: saving one needs no '
        f"network.</p><ul>{''.join(items)}</ul>"
    )


def _caveats(tables: Tables) -> str:
    verdicts = _table(("verdict", "meaning"), list(glossary.VERDICTS.items()))
    statuses = _table(("service status", "meaning"), list(glossary.STATUSES.items()))
    lists = _target_lists({s for s, _, _ in tables.provenance.list_versions})
    return (
        "<p>Each run measures every endpoint of a service's target list (DNS through the system resolver and a "
        "trusted DNS-over-HTTPS control, TCP, TLS with the service's name and with a control name), judges each "
        "endpoint against controls, and sums the endpoints up into a service status: only core endpoints count, and "
        "endpoints of one group stand in for each other. Verdicts are stored beside the raw observations, so they "
        "can be recomputed when the rules improve (the analysis version says which rules made them).</p>"
        f"{verdicts}{statuses}"
        "<h3>How the page sums up</h3><ul>"
        "<li>A day's status in a country is the status most of that day's conclusive runs share (more than half); "
        "without such a majority it is partial; with no conclusive run, inconclusive.</li>"
        f"<li>Thin evidence: a cell measured by fewer than {tables.min_probes} distinct probes is hatched. One "
        "probe can sit behind an unusual network (a company firewall, a school filter) that is not the country's "
        "censor.</li>"
        f"<li>Privacy: only aggregates, never a probe id. Networks with fewer than {tables.min_probes} distinct "
        "probes over the period are never named: merged into \u201cother networks\u201d, or left out when those "
        "too are fewer.</li>"
        "<li>Days are UTC days on which a run started.</li></ul>"
        "<h3>Caveats</h3><ul>"
        "<li>Volunteers choose where and when to measure: a country's days reflect their networks, not every "
        "network of the country.</li>"
        "<li>A blocked endpoint can be a service's own outage seen from one place; controls and the trusted resolver "
        "rule most of these out, and a verdict without a contrasting control has low confidence.</li>"
        "<li>The first and last seen days of an episode bound it from inside: the change happened between them and "
        "the neighbouring reachable days.</li></ul>"
        f"<h3>Target lists</h3>{lists}"
    )


def _target_lists(services: set[str]) -> str:
    """The bundled lists' own descriptions for the services the data has (their sources: targets/README.md)."""
    from probe import targets

    try:
        bundled = targets.load_lists()
    except targets.TargetsError:
        bundled = ()
    rows = []
    for listing in bundled:
        for service in sorted({t.service for t in listing.targets} & services):
            rows.append((service, listing.version, listing.description))
    if not rows:
        return "<p>The services measured are not in this probe's bundled lists.</p>"
    return (
        f"<p>This probe's bundled lists (the dataset's own versions are in section 1; each list's sources are in "
        f"the project's targets/README.md):</p>{_table(('service', 'version', 'what it covers'), rows)}"
    )
