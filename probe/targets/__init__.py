"""Target lists: parse and validate TOML files (schema in README.md beside this file) into `Target` records.

The bundled lists live in this folder and are named in `BUNDLED`; a user's own files go through the same parser.
Every problem is collected and reported together, each naming the file, the entry and the field, so a volunteer
fixes a list in one pass.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from probe.model import Target

# The bundled lists, in the order they are measured. An explicit registry: no directory scanning.
BUNDLED: tuple[str, ...] = (
    "controls.toml",
    "kakaotalk.toml",
    "line.toml",
    "wechat.toml",
    "whatsapp.toml",
    "telegram.toml",
    "signal.toml",
)

PROTOCOLS = ("tls", "tcp")
CONFIDENCES = ("high", "medium", "low")
_WORD = re.compile(r"^[a-z][a-z0-9_]*$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_FIELDS = frozenset(
    {
        "service",
        "host",
        "port",
        "protocol",
        "sni",
        "role",
        "expected_asns",
        "core",
        "group",
        "fallback_addresses",
        "id",
        "source",
        "confidence",
        "notes",
    }
)
_TOP_LEVEL = frozenset({"version", "description", "endpoint"})


class TargetsError(Exception):
    """A target file is unreadable or invalid; `problems` lists every one, each naming file, entry and field."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class TargetList:
    """One parsed file: its own version and its endpoints."""

    source: str
    version: str
    targets: tuple[Target, ...]


def bundled_paths() -> tuple[Path, ...]:
    """The files of the bundled lists, in measuring order."""
    folder = resources.files(__name__)
    return tuple(Path(str(folder.joinpath(name))) for name in BUNDLED)


def load(paths: Iterable[Path] | None = None) -> tuple[Target, ...]:
    """Read target files (the bundled lists when `paths` is None) into one tuple of targets.

    Raises TargetsError naming every problem in every file; duplicates across files are problems too.
    """
    lists: list[TargetList] = []
    problems: list[str] = []
    for path in bundled_paths() if paths is None else paths:
        try:
            lists.append(parse_file(path))
        except TargetsError as exc:
            problems.extend(exc.problems)
    targets = tuple(t for lst in lists for t in lst.targets)
    problems.extend(_duplicates(targets, "all files"))
    if problems:
        raise TargetsError(problems)
    return targets


def parse_file(path: Path) -> TargetList:
    """Parse and validate one file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetsError([f"{path}: cannot read: {exc}"]) from exc
    return parse_text(text, str(path))


def parse_text(text: str, source: str) -> TargetList:
    """Parse and validate the text of one file; `source` names it in messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetsError([f"{source}: not valid TOML: {exc}"]) from exc
    problems: list[str] = []
    for key in sorted(set(document) - _TOP_LEVEL):
        problems.append(f"{source}: unknown top-level key {key!r} (expected: version, description, endpoint)")
    version = document.get("version")
    if not isinstance(version, str) or not version.strip():
        problems.append(f"{source}: 'version' must be a non-empty string, e.g. version = \"2026-11-28\"")
        version = ""
    entries = document.get("endpoint", [])
    if not isinstance(entries, list) or not entries:
        problems.append(f"{source}: no [[endpoint]] entries")
        entries = []
    targets: list[Target] = []
    for index, entry in enumerate(entries, start=1):
        where = f"{source}: endpoint {index}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table")
            continue
        if isinstance(entry.get("host"), str):
            where += f" ({entry['host']})"
        target, entry_problems = _parse_entry(entry, version, where)
        problems.extend(entry_problems)
        if target is not None:
            targets.append(target)
    problems.extend(_duplicates(targets, source))
    if problems:
        raise TargetsError(problems)
    return TargetList(source=source, version=version, targets=tuple(targets))


def _parse_entry(entry: Mapping[str, Any], version: str, where: str) -> tuple[Target | None, list[str]]:
    problems = [f"{where}: unknown field {key!r}" for key in sorted(set(entry) - _FIELDS)]

    def bad(field: str, why: str) -> None:
        problems.append(f"{where}: field {field!r}: {why}")

    service = entry.get("service")
    if not isinstance(service, str) or not _WORD.match(service):
        bad("service", "required, one lowercase word (kakaotalk, line, wechat, control, ...)")
    host = entry.get("host")
    if not isinstance(host, str) or not _valid_host(host):
        bad("host", "required, a host name or an IP address")
    port = entry.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        bad("port", "required, an integer from 1 to 65535")
    protocol = entry.get("protocol")
    if protocol not in PROTOCOLS:
        bad("protocol", f"required, one of {', '.join(PROTOCOLS)}")
    sni = entry.get("sni")
    if sni is not None:
        if not isinstance(sni, str) or not _HOSTNAME.match(sni.lower()):
            bad("sni", "must be a host name")
        elif protocol != "tls":
            bad("sni", 'only for protocol = "tls"')
    role = entry.get("role", "messaging")
    if not isinstance(role, str) or not _WORD.match(role):
        bad("role", "must be one lowercase word (login, messaging, media, web, ...)")
    asns = entry.get("expected_asns", [])
    if not isinstance(asns, list) or not all(
        isinstance(a, int) and not isinstance(a, bool) and 0 < a < 2**32 for a in asns
    ):
        bad("expected_asns", "must be a list of AS numbers, e.g. [9764, 38099]")
    core = entry.get("core", True)
    if not isinstance(core, bool):
        bad("core", "must be true or false")
    group = entry.get("group")
    if group is not None and (not isinstance(group, str) or not group):
        bad("group", "must be a non-empty string naming endpoints that stand in for each other")
    fallbacks = entry.get("fallback_addresses", [])
    if not isinstance(fallbacks, list) or not all(isinstance(a, str) and _is_ip(a) for a in fallbacks):
        bad("fallback_addresses", "must be a list of IP addresses")
    for field in ("id", "source", "notes"):
        value = entry.get(field)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            bad(field, "must be a non-empty string")
    confidence = entry.get("confidence")
    if confidence is not None and confidence not in CONFIDENCES:
        bad("confidence", f"must be one of {', '.join(CONFIDENCES)}")
    if problems:
        return None, problems
    assert isinstance(host, str) and isinstance(port, int) and isinstance(protocol, str)  # checked above
    return (
        Target(
            service=str(service),
            host=host.lower(),
            port=port,
            protocol=protocol,
            sni=sni.lower() if isinstance(sni, str) else None,
            role=str(role),
            expected_asns=tuple(asns),
            core=bool(core),
            group=group,
            fallback_addresses=tuple(fallbacks),
            id=entry.get("id"),
            source=entry.get("source"),
            confidence=confidence,
            list_version=version,
        ),
        [],
    )


def _duplicates(targets: Iterable[Target], where: str) -> list[str]:
    seen: set[tuple[str, str, int, str, str]] = set()
    problems = []
    for t in targets:
        key = (t.service, t.host, t.port, t.protocol, t.server_name)
        if key in seen:
            problems.append(f"{where}: duplicate endpoint {t.service} {t.input} (sni {t.server_name})")
        seen.add(key)
    return problems


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _valid_host(host: str) -> bool:
    return _is_ip(host) or bool(_HOSTNAME.match(host.lower()))


def select(targets: Iterable[Target], services: Iterable[str]) -> tuple[Target, ...]:
    """The targets of the named services, plus the controls (every verdict needs them)."""
    wanted = set(services)
    return tuple(t for t in targets if t.is_control or t.service in wanted)
