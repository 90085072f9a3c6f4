"""Target lists: parse and validate TOML files (schema in targets/README.md) into `Target` records.

The bundled lists live in the repository's `targets/` folder (installed as the data package `probe.bundled_targets`,
see pyproject.toml) and are named in `BUNDLED`; a user's own files go through the same parser.
Every problem is collected and reported together, each naming the file (and line), the entry and the field, so a
volunteer fixes a list in one pass. `strict` adds the rules the bundled lists keep (provenance on every entry, a
dated version, ids named after their service); `probe targets validate --strict` applies them to any file.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard, cast, get_args

from probe import readfile
from probe.addresses import is_ip_address
from probe.anchors import ANCHORS
from probe.model import EndpointProtocol, Target

BUNDLED_PACKAGE = "probe.bundled_targets"  # the repository's targets/ folder, mapped into the package
# The bundled lists, in the order they are measured and shown. An explicit registry: no directory scanning.
BUNDLED: tuple[str, ...] = (
    "controls.toml",
    "kakaotalk.toml",
    "line.toml",
    "wechat.toml",
    "whatsapp.toml",
    "telegram.toml",
    "signal.toml",
    "sentinels.toml",
)

CONTROL = "control"  # the service name of the vantage canaries (probe.model.Target.is_control)
SENTINEL = "sentinel"  # known-blocked hosts: judged like targets, never canaries (targets/README.md)
PROTOCOLS: tuple[EndpointProtocol, ...] = get_args(EndpointProtocol)
CONFIDENCES = ("high", "medium", "low")
# The protocols whose first exchange the probe can check after the connect (`first_message`), each implemented in
# probe/net/firstexchange.py (tests/net/test_firstexchange.py keeps the two in step).
FIRST_MESSAGES: Mapping[str, str] = {
    "mtproto": "Telegram's MTProto: req_pq_multi, unencrypted, must be answered by a resPQ (core.telegram.org/mtproto)",
}
_TRANSFER_PATH = re.compile(r"^/[!-~]{0,199}$")  # an absolute URL path, printable ASCII, no spaces

# Every field an endpoint may have, with the one-line meaning `probe targets` and targets/README.md share.
FIELDS: Mapping[str, str] = {
    "id": "stable name of the endpoint, <service>.<word>[.<word>...]; travels in every measurement",
    "service": "kakaotalk | line | wechat | whatsapp | telegram | signal | control | sentinel | any lowercase word",
    "host": "host name, or an IP address for endpoints the app reaches by address (Telegram's data centres)",
    "port": "TCP port, 1-65535",
    "protocol": "tls: TCP connect and TLS handshake with SNI | tcp: TCP connect only (proprietary protocols)",
    "sni": "server name sent in the TLS handshake; default: host; only for protocol tls",
    "role": "what the endpoint does for the app: bootstrap, checkin, login, messaging, media, web, ...",
    "core": "true (default): the app cannot log in or exchange text without it (or its group)",
    "group": "endpoints that stand in for each other: the group is blocked only when all members are",
    "expected_asns": "AS numbers that legitimately answer for this name (helps tell a forged DNS answer)",
    "fallback_addresses": "IP literals the app itself carries, tried even when DNS lies",
    "source": "where the facts come from: repository@commit path, URL, report",
    "confidence": "high (two independent sources, one of them code or a capture) | medium (one) | low",
    "notes": "anything a reviewer should know: why tcp, what is unverified",
    "ca": "a bundled trust anchor (probe/anchors.py: signal) that alone validates this tls endpoint's certificate",
    "first_message": "for tcp: the protocol whose first exchange is checked after the connect (mtproto)",
    "transfer": "for tls: a URL path fetched (capped) with a control SNI at the same time: stalls and throttling",
}
TOP_LEVEL: Mapping[str, str] = {
    "version": "the list's own version, copied into every measurement (bundled lists: YYYY-MM-DD[.N])",
    "description": "one sentence: what the list covers",
    "endpoint": "the [[endpoint]] tables",
}
STRICT_REQUIRED = ("id", "source", "confidence")

_WORD = re.compile(r"^[a-z][a-z0-9_]*$")
_ID = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$")
_DATED_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.\d+)?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ENDPOINT_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*endpoint[ \t]*\]\]", re.MULTILINE)


@dataclass(frozen=True)
class NotTLS:
    """Endpoints whose app speaks something other than standard TLS: a TLS handshake there fails even on a clean
    network, so a list that probes them with `tls` reports blocking that is not there (research/targets.md §0)."""

    host: re.Pattern[str] | None  # host names this applies to
    networks: tuple[str, ...]  # or IP literals inside these networks
    speaks: str
    source: str
    unless_ca: str | None = None  # standard TLS after all when validated against this bundled anchor (`ca`)


NOT_TLS: tuple[NotTLS, ...] = (
    NotTLS(re.compile(r"^ticket-loco\.kakao\.com$"), (), "KakaoTalk's LOCO secure layer (RSA key exchange, AES frames)",
           "storycraft/node-kakao src/talk/network/index.ts"),
    NotTLS(re.compile(r"^[a-z0-9]*(long|short)[a-z0-9]*\.(weixin\.qq|wechat)\.com$"), (),
           "WeChat's MMTLS (records start 16 f1 04)", "citizenlab/wechat-security-report docs/mmtls-layer"),
    NotTLS(re.compile(r"^(e\d+|g)\.whatsapp\.net$"), (), "WhatsApp's Noise-based chat protocol",
           "ooni/probe-cli internal/experiment/whatsapp (tcpconnect only)"),
    NotTLS(None, ("149.154.160.0/20", "91.108.4.0/22", "91.108.8.0/22", "91.108.12.0/22", "91.108.16.0/22",
                  "91.108.20.0/22", "91.108.56.0/22", "91.105.192.0/23", "95.161.64.0/20", "185.76.151.0/24",
                  "2001:67c:4e8::/48", "2001:b28:f23c::/46", "2001:b28:f23d::/48", "2001:b28:f23f::/48"),
           "Telegram's MTProto (the data centres do not speak TLS on 443)", "ooni/spec nettests/ts-020-telegram.md"),
    NotTLS(re.compile(r"^((chat|cdsi|storage|sfu\.voip|svr2|ud-chat)\.signal\.org"
                      r"|textsecure-service\.whispersystems\.org)$"), (),
           "TLS with a certificate from Signal's private CA, which no system store trusts (the probe would call "
           "it tls.mitm)", "ooni/probe-cli internal/experiment/signal (pins Signal's CA)", unless_ca="signal"),
)  # fmt: skip


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
    description: str = ""


@dataclass(frozen=True)
class _Located:
    """A parsed endpoint and how messages name it."""

    target: Target
    where: str


def bundled_paths() -> tuple[Path, ...]:
    """The files of the bundled lists, in measuring order."""
    folder = resources.files(BUNDLED_PACKAGE)
    return tuple(Path(str(folder.joinpath(name))) for name in BUNDLED)


def load(paths: Iterable[Path] | None = None, *, strict: bool | None = None) -> tuple[Target, ...]:
    """Read target files (the bundled lists when `paths` is None) into one tuple of targets.

    Raises TargetsError naming every problem in every file; duplicates across files are problems too. `strict`
    defaults to True for the bundled lists and False for a user's files.
    """
    return tuple(t for lst in load_lists(paths, strict=strict) for t in lst.targets)


def load_lists(paths: Iterable[Path] | None = None, *, strict: bool | None = None) -> tuple[TargetList, ...]:
    """Like `load`, but keeps each file's version and description (what `probe targets list` shows)."""
    if strict is None:
        strict = paths is None
    lists: list[TargetList] = []
    located: list[_Located] = []
    problems: list[str] = []
    for path in bundled_paths() if paths is None else paths:
        try:
            text = readfile.read_text(path, readfile.TARGET_LIST)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.append(f"{path}: cannot read: {reason}")
            continue
        target_list, entries, file_problems = _parse(text, str(path), strict)
        lists.append(target_list)
        located.extend(entries)
        problems.extend(file_problems)
    problems.extend(_cross_checks(located, strict))
    if problems:
        raise TargetsError(problems)
    return tuple(lists)


def parse_file(path: Path, *, strict: bool = False) -> TargetList:
    """Parse and validate one file."""
    return load_lists([path], strict=strict)[0]


def parse_text(text: str, source: str, *, strict: bool = False) -> TargetList:
    """Parse and validate the text of one file; `source` names it in messages."""
    target_list, entries, problems = _parse(text, source, strict)
    problems.extend(_cross_checks(entries, strict))
    if problems:
        raise TargetsError(problems)
    return target_list


def select(targets: Iterable[Target], services: Iterable[str]) -> tuple[Target, ...]:
    """The targets of the named services, plus the controls (every verdict needs them). Sentinels are targets
    like any other: they come along only when named."""
    wanted = set(services)
    return tuple(t for t in targets if t.is_control or t.service in wanted)


def with_bundled_controls(targets: Iterable[Target]) -> tuple[Target, ...]:
    """`targets` with the bundled controls in front, but for those it measures already: a list of one's own
    still needs the vantage canaries (issue 15: without them a dead network looked online)."""
    targets = tuple(targets)
    have = {(t.host, t.port, t.protocol, t.server_name) for t in targets}
    controls = load([bundled_paths()[BUNDLED.index("controls.toml")]], strict=True)
    return tuple(c for c in controls if (c.host, c.port, c.protocol, c.server_name) not in have) + targets


def without_controls(targets: Iterable[Target]) -> tuple[Target, ...]:
    """`targets` without any control endpoint (`probe run --no-controls`)."""
    return tuple(t for t in targets if not t.is_control)


def services(targets: Iterable[Target]) -> tuple[str, ...]:
    """The service names in `targets`, in order of first appearance."""
    return tuple(dict.fromkeys(t.service for t in targets))


# --- one file -------------------------------------------------------------------------------------------------------


def _parse(text: str, source: str, strict: bool) -> tuple[TargetList, list[_Located], list[str]]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return TargetList(source, "", ()), [], [f"{source}: not valid TOML: {exc}"]
    problems: list[str] = []
    for key in sorted(set(document) - set(TOP_LEVEL)):
        problems.append(f"{source}: unknown top-level key {key!r}{_suggest(key, TOP_LEVEL)} "
                        f"(expected: {', '.join(TOP_LEVEL)})")  # fmt: skip
    version = document.get("version")
    if not isinstance(version, str) or not version.strip():
        problems.append(f"{source}: field 'version': required, a non-empty string such as \"2026-11-28\""
                        f"{_got(version, 'version' in document)}")  # fmt: skip
        version = ""
    elif strict and not _DATED_VERSION.match(version):
        problems.append(f"{source}: field 'version': {version!r}: a bundled list is versioned by the date of its "
                        "last change, YYYY-MM-DD, with .N for a further change the same day")  # fmt: skip
    description = document.get("description", "")
    if not isinstance(description, str) or (strict and not description.strip()):
        problems.append(f"{source}: field 'description': {'required, ' if strict else ''}a one-sentence string"
                        f"{_got(description, 'description' in document)}")  # fmt: skip
        description = ""
    entries = document.get("endpoint", [])
    if not isinstance(entries, list) or not entries:
        problems.append(f"{source}: no [[endpoint]] entries")
        entries = []
    lines = _header_lines(text, len(entries))
    located: list[_Located] = []
    for index, entry in enumerate(entries, start=1):
        where = f"{source}:{lines[index - 1]}" if lines else source
        where += f": endpoint {index}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table ([[endpoint]] with key = value lines)")
            continue
        where += _label(entry)
        target, entry_problems = _parse_entry(entry, version, where, strict)
        problems.extend(entry_problems)
        if target is not None:
            located.append(_Located(target, where))
    target_list = TargetList(source, version, tuple(e.target for e in located), description)
    return target_list, located, problems


def _header_lines(text: str, count: int) -> list[int]:
    """Line numbers of the `[[endpoint]]` headers, when they match the entries one to one (inline arrays do not)."""
    lines: list[int] = []
    line, counted_to = 1, 0
    for match in _ENDPOINT_HEADER.finditer(text):  # counted from the previous header on: linear (issue 21: it
        line += text.count("\n", counted_to, match.start())  # counted from the start each time, 40k entries 38 s)
        counted_to = match.start()
        lines.append(line)
    return lines if len(lines) == count else []


def _label(entry: Mapping[str, Any]) -> str:
    parts = []
    if isinstance(entry.get("id"), str):
        parts.append(entry["id"])
    host, port = entry.get("host"), entry.get("port")
    if isinstance(host, str):
        parts.append(f"{host}:{port}" if isinstance(port, int) and not isinstance(port, bool) else host)
    return f" ({' '.join(parts)})" if parts else ""


def _parse_entry(entry: Mapping[str, Any], version: str, where: str, strict: bool) -> tuple[Target | None, list[str]]:
    problems = [f"{where}: unknown field {key!r}{_suggest(key, FIELDS)}" for key in sorted(set(entry) - set(FIELDS))]

    def bad(field: str, why: str) -> None:
        problems.append(f"{where}: field {field!r}: {why}{_got(entry.get(field), field in entry)}")

    service = entry.get("service")
    if not isinstance(service, str) or not _WORD.match(service):
        bad("service", "required, one lowercase word (kakaotalk, line, wechat, control, ...)")
    host = entry.get("host")
    if not isinstance(host, str) or not _valid_host(host):
        bad("host", "required, a host name or an IP address")
    port = entry.get("port")
    if not _is_int(port) or not 1 <= port <= 65535:
        bad("port", "required, an integer from 1 to 65535")
    protocol = entry.get("protocol")
    if protocol not in PROTOCOLS:
        bad("protocol", f"required, one of {', '.join(PROTOCOLS)}")
    elif protocol == "tls" and isinstance(host, str):
        for rule in NOT_TLS:
            if _matches(rule, host) and (rule.unless_ca is None or entry.get("ca") != rule.unless_ca):
                fix = f'add ca = "{rule.unless_ca}"' if rule.unless_ca else 'use protocol = "tcp"'
                problems.append(f"{where}: field 'protocol': {host} speaks {rule.speaks}, not standard TLS "
                                f"({rule.source}); {fix}: a TLS handshake there fails even "
                                "on a clean network")  # fmt: skip
                break
        if strict and port == 80:
            bad("protocol", "tls on port 80, the plain-HTTP port; probe it with tcp")
    sni = entry.get("sni")
    if sni is not None:
        if not isinstance(sni, str) or not _HOSTNAME.match(sni.lower()) or is_ip_address(sni):
            bad("sni", "must be a host name (SNI carries no IP addresses, RFC 6066 §3)")
        elif protocol != "tls":
            bad("sni", 'only for protocol = "tls"')
    role = entry.get("role", "messaging")
    if not isinstance(role, str) or not _WORD.match(role):
        bad("role", "must be one lowercase word (login, messaging, media, web, ...)")
    asns = entry.get("expected_asns", [])
    if not isinstance(asns, list) or not all(_is_int(a) and 0 < a < 2**32 for a in asns):
        bad("expected_asns", "must be a list of AS numbers, e.g. [9764, 38099]")
    elif len(set(asns)) != len(asns):
        bad("expected_asns", "lists an AS number twice")
    core = entry.get("core", True)
    if not isinstance(core, bool):
        bad("core", "must be true or false")
    group = entry.get("group")
    if group is not None and (not isinstance(group, str) or not _ID.match(group)):
        bad("group", 'must name the endpoints that stand in for each other, e.g. "line.legy"')
    fallbacks = entry.get("fallback_addresses", [])
    if not isinstance(fallbacks, list) or not all(isinstance(a, str) and is_ip_address(a) for a in fallbacks):
        bad("fallback_addresses", "must be a list of IP addresses")
        fallbacks = []
    else:
        fallbacks = [str(ipaddress.ip_address(a)) for a in fallbacks]
        if len(set(fallbacks)) != len(fallbacks):
            bad("fallback_addresses", "lists an address twice")
        elif fallbacks and isinstance(host, str) and is_ip_address(host):
            bad("fallback_addresses", "only for a host name: an address is measured as it is, without DNS")
    endpoint_id = entry.get("id")
    if endpoint_id is not None and (not isinstance(endpoint_id, str) or not _ID.match(endpoint_id)):
        bad("id", 'must be lowercase words joined by dots, e.g. "line.legy_jp"')
    elif (
        strict
        and isinstance(endpoint_id, str)
        and isinstance(service, str)
        and not endpoint_id.startswith(f"{service}.")
    ):
        bad("id", f'a bundled id starts with its service, e.g. "{service}.{endpoint_id.rsplit(".", 1)[-1]}"')
    for field in ("source", "notes"):
        value = entry.get(field)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            bad(field, "must be a non-empty string")
    confidence = entry.get("confidence")
    if confidence is not None and confidence not in CONFIDENCES:
        bad("confidence", f"must be one of {', '.join(CONFIDENCES)}")
    ca, first_message = entry.get("ca"), entry.get("first_message")
    for field, value, known, what, needs, why in (
        ("ca", ca, ANCHORS, "must name a bundled trust anchor:", "tls", "a trust anchor validates a TLS handshake"),
        ("first_message", first_message, FIRST_MESSAGES, "must be one of", "tcp", "the exchange follows the connect"),
    ):
        if value is None:
            continue
        if value not in known:
            bad(field, f"{what} {', '.join(known)}")
        elif protocol != needs:
            bad(field, f'only for protocol = "{needs}" ({why})')
    transfer = entry.get("transfer")
    if transfer is not None:
        if not isinstance(transfer, str) or not _TRANSFER_PATH.match(transfer):
            bad("transfer", 'must be a URL path such as "/" or "/static/app.js" (printable, no spaces)')
        elif protocol != "tls":
            bad("transfer", 'only for protocol = "tls" (the transfer runs over the TLS connection)')
    if strict:
        for field in STRICT_REQUIRED:
            if field not in entry:
                problems.append(f"{where}: field {field!r}: required in a bundled list ({FIELDS[field]})")
    if problems:
        return None, problems
    assert isinstance(host, str) and isinstance(port, int) and protocol in PROTOCOLS  # checked above
    return (
        Target(
            service=str(service),
            host=host.lower() if not is_ip_address(host) else str(ipaddress.ip_address(host)),
            port=port,
            protocol=cast(EndpointProtocol, protocol),
            sni=sni.lower() if isinstance(sni, str) else None,
            role=str(role),
            expected_asns=tuple(asns),
            core=bool(core),
            group=group,
            fallback_addresses=tuple(fallbacks),
            id=endpoint_id,
            source=entry.get("source"),
            confidence=confidence,
            list_version=version,
            ca=ca,
            first_message=first_message,
            transfer=transfer,
        ),
        [],
    )


# --- across entries (and files) ------------------------------------------------------------------------------------


def _cross_checks(entries: Sequence[_Located], strict: bool) -> list[str]:
    """Duplicates, reused ids, and groups whose members cannot stand in for each other."""
    problems: list[str] = []
    endpoints: dict[tuple[str, int, str, str], _Located] = {}
    protocols: dict[tuple[str, int], _Located] = {}
    ids: dict[str, _Located] = {}
    groups: dict[str, list[_Located]] = {}
    for e in entries:
        t = e.target
        # The same endpoint twice is measured twice in one run, and a second trigger inside a censor's
        # residual-blocking window (measurement.md) would spoil the first: one entry per endpoint, whatever service.
        key = (t.host, t.port, t.protocol, t.server_name if t.protocol == "tls" else "")
        if key in endpoints:
            sni = f" (sni {t.server_name})" if t.protocol == "tls" else ""
            problems.append(f"{e.where}: duplicate endpoint {t.input}{sni}: already {endpoints[key].where}")
        else:
            endpoints[key] = e
        # A tls measurement already connects; the same host and port again as tcp only adds a redundant probe
        # (and the lab, which serves the bundled lists, can serve one protocol per address and port).
        first = protocols.setdefault((t.host, t.port), e)
        if strict and first.target.protocol != t.protocol:
            problems.append(f"{e.where}: field 'protocol': {t.host}:{t.port} is measured as both tls and tcp "
                            f"(also {first.where}); the tls measurement includes the TCP connect")  # fmt: skip
        if t.id is not None:
            if t.id in ids:
                problems.append(f"{e.where}: field 'id': {t.id!r} is already used by {ids[t.id].where}")
            else:
                ids[t.id] = e
        if t.group is not None:
            groups.setdefault(t.group, []).append(e)
    for name, members in groups.items():
        first = members[0]
        for other in members[1:]:
            if other.target.service != first.target.service:
                problems.append(f"{other.where}: field 'group': group {name!r} also holds service "
                                f"{first.target.service!r} ({first.where}); a group's members stand in for each "
                                "other within one service")  # fmt: skip
            elif other.target.core != first.target.core:
                problems.append(f"{other.where}: field 'core': group {name!r} mixes core and non-core endpoints "
                                f"({first.where} says core = {str(first.target.core).lower()})")  # fmt: skip
        if strict and len(members) == 1:
            problems.append(f"{first.where}: field 'group': group {name!r} has no other member; a group names "
                            "endpoints that stand in for each other")  # fmt: skip
    return problems


# --- small helpers ----------------------------------------------------------------------------------------------


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid_host(host: str) -> bool:
    return is_ip_address(host) or bool(_HOSTNAME.match(host.lower()))


def _matches(rule: NotTLS, host: str) -> bool:
    if is_ip_address(host):
        address = ipaddress.ip_address(host)
        return any(address in ipaddress.ip_network(n) for n in rule.networks)
    return rule.host is not None and bool(rule.host.match(host.lower()))


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_TOML_TYPES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
               dict: "a table"}  # fmt: skip


def _got(value: object, present: bool) -> str:
    """What the file actually holds, so the message shows the mistake (`"443"` is a string, not a port)."""
    if not present:
        return ""
    kind = next((name for t, name in _TOML_TYPES.items() if type(value) is t), type(value).__name__)
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"; got {shown} ({kind})"
