"""`probe targets list` / `probe targets validate`: show the target lists, and check a list before using it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from probe.cli.common import fail, group

if TYPE_CHECKING:
    from probe.model import Target
    from probe.targets import TargetList

app = group("Show the target lists, or check a list file.")


@app.command("list")
def list_targets(
    targets: Annotated[
        list[Path] | None, typer.Option("--targets", help="Target list (TOML); repeatable. Default: the bundled lists.")
    ] = None,
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service",
            help="Show only what `probe run --service` would measure: this service and the controls; repeatable.",
        ),
    ] = None,
    no_controls: Annotated[
        bool, typer.Option("--no-controls", help="As `probe run --no-controls`: without the bundled controls.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
) -> None:
    """Show every endpoint of the target lists, list by list, with its version: id, protocol, host and port,
    role, whether it is core (and its group of alternatives), and how sure its facts are. Without options it
    shows what `probe run` would measure, settings included (`probe config show`)."""
    from probe import targets as target_lists
    from probe.cli import volunteer

    settings = volunteer.settings()
    targets = targets or list(settings.run.targets) or None
    service = service or list(settings.run.services) or None
    lists = _as_run(_load(targets, strict=None), own=bool(targets), no_controls=no_controls)
    everything = [t for lst in lists for t in lst.targets]
    if service:
        known = target_lists.services(everything)
        unknown = sorted(set(service) - set(known))
        if unknown:
            fail(f"unknown --service {', '.join(unknown)}; the target list has: {', '.join(known)}")
        wanted = set(target_lists.select(everything, service))
        lists = tuple(_only(lst, wanted) for lst in lists)
    lists = tuple(lst for lst in lists if lst.targets)
    if json_output:
        typer.echo(json.dumps({"lists": [_list_json(lst) for lst in lists]}))
    else:
        typer.echo(_table(lists))


@app.command("validate")
def validate(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Target list files (TOML). Default: the bundled lists (strictly).")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Also apply the bundled lists' rules: id, source and confidence on every "
            "entry, ids named after their service, a dated version, a description.",
        ),
    ] = False,
) -> None:
    """Check target list files and name every problem with its file, line, entry and field. Files given
    together are checked together (an endpoint or id in two files is a problem). Exit 0 when valid, 2 when not."""
    lists = _load(files, strict=strict or not files)
    for lst in lists:
        services = ", ".join(dict.fromkeys(t.service for t in lst.targets))
        typer.echo(f"{lst.source}: valid, version {lst.version}, {len(lst.targets)} endpoints ({services})")


def _load(paths: list[Path] | None, *, strict: bool | None) -> tuple[TargetList, ...]:
    from probe import targets as target_lists

    try:
        return target_lists.load_lists(paths or None, strict=strict)
    except target_lists.TargetsError as exc:
        count = len(exc.problems)
        fail(f"invalid target list ({count} problem{'s' if count != 1 else ''}):\n  " + "\n  ".join(exc.problems))


def _as_run(lists: tuple[TargetList, ...], *, own: bool, no_controls: bool) -> tuple[TargetList, ...]:
    """The lists as `probe run` measures them: lists of one's own get the bundled controls they lack (in front,
    as their own block), and --no-controls leaves the bundled lists' controls out (an own list's stay)."""
    from dataclasses import replace

    from probe import targets as target_lists

    if no_controls:
        return lists if own else tuple(replace(x, targets=target_lists.without_controls(x.targets)) for x in lists)
    if not own:
        return lists
    have = {t for x in lists for t in x.targets}
    added = tuple(t for t in target_lists.with_bundled_controls(have) if t not in have)
    (controls,) = _load([target_lists.bundled_paths()[target_lists.BUNDLED.index("controls.toml")]], strict=True)
    return (replace(controls, targets=added), *lists)


def _only(target_list: TargetList, wanted: set[Target]) -> TargetList:
    from dataclasses import replace

    return replace(target_list, targets=tuple(t for t in target_list.targets if t in wanted))


def _list_json(target_list: TargetList) -> dict[str, Any]:
    return {
        "file": target_list.source,
        "version": target_list.version,
        "description": target_list.description,
        "endpoints": [t.model_dump(mode="json") for t in target_list.targets],
    }


def _table(lists: tuple[TargetList, ...]) -> str:
    """One block per list: a header with file, version and description, then one line per endpoint."""
    rows = [[_row(t) for t in lst.targets] for lst in lists]
    widths = [max((len(r[i]) for block in rows for r in block), default=0) for i in range(5)]
    lines = []
    for lst, block in zip(lists, rows, strict=True):
        lines.append(f"{Path(lst.source).name}  version {lst.version}  ({len(lst.targets)} endpoints)")
        if lst.description:
            lines.append(f"  {lst.description}")
        for row in block:
            lines.append(("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))).rstrip())
        lines.append("")
    total = sum(len(lst.targets) for lst in lists)
    lines.append(f"{total} endpoints in {len(lists)} list{'s' if len(lists) != 1 else ''}")
    return "\n".join(lines)


def _row(t: Target) -> list[str]:
    where = t.input
    if t.protocol == "tls" and t.sni:
        where += f" sni={t.sni}"
    if t.is_control or t.service == "sentinel":
        kind = t.service
    else:
        kind = ("core" if t.core else "extra") + (f" group={t.group}" if t.group else "")
    return [t.id or "-", where, t.role, kind, t.confidence or "-"]
