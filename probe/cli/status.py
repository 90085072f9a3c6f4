"""`probe status`: what an unattended probe has been doing, on one screen (or as JSON)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from pathlib import Path

    from probe.local.config import Settings

T = TypeVar("T")


def status(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the text.")] = False,
    runs: Annotated[int, typer.Option(help="How many past runs to show.", min=0)] = 10,
) -> None:
    """Show consent and upload settings, where the probe says it is, the key id, the schedule and its next run,
    the upload spool (size, oldest item), the results folder, and the last runs with their service verdicts."""
    from probe.cli.config import settings as load_settings
    from probe.local import consent, folders, history, retention, schedule

    settings = load_settings()
    # What cannot be read (a state folder of another user, a results folder gone) is said, not a traceback.
    problems: list[str] = []

    def readable(what: str, read: Callable[[], T], otherwise: T) -> T:
        try:
            return read()
        except OSError as exc:
            problems.append(
                f"{what}: cannot be read ({exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''})"
            )
            return otherwise

    past: tuple[history.RunRecord, ...] = readable("run history", lambda: history.read(), ())

    # Every folder a run wrote to (the state folder's results/ when the chosen one could not be written, issue 21),
    # the one a run would use now first (issue 20: not only the working directory's).
    def count(folder: Path) -> dict[str, Any]:
        return {
            "folder": str(folder),
            "files": readable("results folder", lambda: len(retention.results(folder)), 0),
            "bytes": readable("results folder", lambda: retention.folder_size(folder), 0),
        }

    counted = [count(f) for f in folders.every(settings.run.results_dir)]
    schedules = []
    installed: list[schedule.Installed] = readable("schedule", lambda: schedule.installed(), [])
    for item in installed:
        upcoming = schedule.next_run(item)
        schedules.append(
            {
                "kind": item.kind,
                "location": item.location,
                "every_seconds": item.every,
                "delay_seconds": item.delay,
                "next_run": _iso(upcoming.timestamp()) if upcoming else None,
            }
        )
    report: dict[str, Any] = {
        "consent": {
            "given": consent.given(settings),
            "version": settings.consent.version,
            "current_version": consent.VERSION,
            "when": settings.consent.when,
        },
        "upload": {
            "enabled": settings.upload.enabled,
            "collector_url": settings.upload.collector_url,
            "socks_proxy": settings.upload.socks_proxy,
        },
        "location": _location(settings),
        "key": _key(),
        "schedule": schedules,
        "log": str(schedule.log_path()),
        "spool": readable("upload spool", _spool, {"ready": 0, "dead": 0, "bytes": 0, "oldest": None}),
        "results": {
            "folder": counted[0]["folder"],
            "files": sum(c["files"] for c in counted),
            "bytes": sum(c["bytes"] for c in counted),
            "folders": counted,
            "retention_days": settings.retention.days,
            "retention_megabytes": settings.retention.megabytes,
        },
        "runs": [r.model_dump() for r in past[-runs:][::-1]] if runs else [],
        "problems": list(dict.fromkeys(problems)),
    }
    if json_output:
        typer.echo(json.dumps(report))
    else:
        typer.echo(render(report))


def _location(settings: Settings) -> dict[str, Any]:
    from probe.local import geo

    try:
        where = geo.locate(settings.location)
    except geo.GeoError as exc:
        return {"probe_cc": geo.UNKNOWN_CC, "probe_asn": geo.UNKNOWN_ASN, "source": f"error: {exc}"}
    return {"probe_cc": where.probe_cc, "probe_asn": where.probe_asn, "source": where.source}


def _key() -> dict[str, Any] | None:
    from probe.local import keys

    try:
        public = keys.current_public()
    except (OSError, ValueError, keys.KeyStoreError):
        return None
    if public is None:
        return None
    return {"key_id": public.key_id_hex, "probe_id": public.probe_id, "replaced": keys.replaced()}


def _spool() -> dict[str, Any]:
    """The spool through its own `Spool.stats()` when the module is there; else a count of its folders."""
    import importlib

    from probe.local import paths

    try:
        spool: Any = importlib.import_module("probe.local.spool")
    except ImportError:
        spool = None
    if spool is not None:
        stats = spool.Spool().stats()
        oldest = stats.oldest_queued
        return {
            "ready": stats.ready,
            "dead": stats.dead,
            "bytes": stats.bytes,
            "oldest": _iso(oldest) if oldest else None,
        }
    root = paths.state_dir() / "spool"
    counts = {
        name: sum(1 for _ in (root / name).glob("*")) if (root / name).is_dir() else 0 for name in ("ready", "dead")
    }
    files = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
    oldest_item = (
        min((p.stat().st_mtime for p in (root / "ready").glob("*")), default=None) if counts["ready"] else None
    )
    return {
        "ready": counts["ready"],
        "dead": counts["dead"],
        "bytes": sum(p.stat().st_size for p in files),
        "oldest": _iso(oldest_item) if oldest_item else None,
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _files(count: int) -> str:
    return "1 file" if count == 1 else f"{count} files"


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


def render(report: dict[str, Any]) -> str:
    """The text form of `probe status`."""
    from probe.local.schedule import describe

    lines = []
    c = report["consent"]
    if c["given"]:
        lines.append(f"consent:   given (version {c['version']}, {c['when']})")
    else:
        lines.append("consent:   NOT given: probe measures nothing until you run `probe init`")
    u = report["upload"]
    if u["enabled"]:
        via = f" via {u['socks_proxy']}" if u["socks_proxy"] else ""
        to = u["collector_url"] or "no collector yet (`probe init --collector URL`)"
        lines.append(f"uploads:   on, to {to}{via}")
    else:
        lines.append("uploads:   off (results stay on this machine)")
    loc = report["location"]
    lines.append(f"location:  {loc['probe_cc']} {loc['probe_asn']} ({loc['source']})")
    key = report["key"]
    lines.append(f"key:       {key['key_id']} (probe id {key['probe_id']})" if key else "key:       none yet")
    if key and key.get("replaced"):
        was = key["replaced"]["previous_key_id"] or "unknown"
        when = key["replaced"]["when"]
        lines.append(f"           a NEW identity since {when}: the secret key was missing (the previous key: {was})")
    if report["schedule"]:
        for s in report["schedule"]:
            every = f"every {describe(s['every_seconds'])}" if s["every_seconds"] else "every ?"
            nxt = s["next_run"] or "unknown"
            delay = f" + up to {describe(s['delay_seconds'])} random delay" if s["delay_seconds"] else ""
            lines.append(f"schedule:  {s['kind']} ({s['location']}), {every}, next run {nxt}{delay}")
    else:
        lines.append("schedule:  none (`probe schedule install`)")
    lines.append(f"log:       {report['log']}")
    sp = report["spool"]
    oldest = f", oldest queued {sp['oldest']}" if sp["oldest"] else ""
    lines.append(f"spool:     {sp['ready']} waiting, {sp['dead']} refused, {_size(sp['bytes'])}{oldest}")
    r = report["results"]
    kept = f"kept {r['retention_days']} days, at most {r['retention_megabytes']} MB per folder"
    if len(r["folders"]) == 1:
        lines.append(f"results:   {_files(r['files'])}, {_size(r['bytes'])} in {r['folder']} ({kept})")
    else:
        lines.append(f"results:   {_files(r['files'])}, {_size(r['bytes'])} ({kept})")
        for f in r["folders"]:
            lines.append(f"           {_files(f['files'])}, {_size(f['bytes'])} in {f['folder']}")
    if report["runs"]:
        lines.append("last runs:")
        from probe.local.history import service_summary

        for run in report["runs"]:
            when = run["started"].replace("T", " ")[:16]
            lines.append(f"  {when}  {run['vantage']:<7}  {service_summary(run['services'])}")
    else:
        lines.append("last runs: none yet")
    lines.extend(f"problem:   {problem}" for problem in report.get("problems", ()))
    return "\n".join(lines)
