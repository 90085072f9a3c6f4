"""What makes an upload acceptable, apart from its signature: the content address and that every line is a
plausible measurement of ours. Pure functions over bytes; a refusal carries the HTTP status and a reason the
probe keeps beside the file in its dead-letter folder.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from probe.collector import layout
from probe.wire import TEST_NAME

if TYPE_CHECKING:
    from probe.collector import schema

PROBE_IP_PLACEHOLDER = "127.0.0.1"  # OONI's: the probe's address never travels
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)  # older than the probe itself: a broken clock or a forgery
CLOCK_SKEW = timedelta(days=1)
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_INPUT = re.compile(r"(tls|tcp)://\S+:\d{1,5}")
_CC = re.compile(r"[A-Z]{2}")
_ASN = re.compile(r"AS\d{1,10}")
_WORD = re.compile(r"[a-z][a-z0-9_.\-]{0,63}")
# A line of a thousand endpoints' worth of handshakes, chains and packets stays far below this; the probe caps
# what it records per endpoint so that a hostile network cannot swell a line past it.
MAX_LINE_BYTES = 2 * 1024 * 1024
_SPACE = frozenset(b" \t\r\n\x0b\x0c")
# Every spelling of an IPv6 address has two colons with only hex digits (or a dotted quad's dots) between them.
_TWO_COLONS = re.compile(rb":[0-9A-Fa-f.]*:")
_IPV6_CHARACTERS = frozenset(b"0123456789abcdefABCDEF:.")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refusal(Exception):
    """An upload is refused. `status` is the HTTP status (contract: 400, 403, 413, 422 are permanent; 429 and 503
    ask to come back later), `code` a stable word for programs, the message a sentence for people."""

    def __init__(self, status: int, code: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class FileFacts:
    """What the collector needs from an acceptable file."""

    day: str  # YYYY-MM-DD of test_start_time: the raw zone's partition
    measurements: int
    report_id: str


def check_address(sha256: str) -> None:
    """The path's content address is 64 lowercase hex digits."""
    if not layout.SHA256_HEX.fullmatch(sha256):
        raise Refusal(400, "address", f"{sha256[:80]!r} is not a sha256 (64 lowercase hex digits)")


def check_content(data: bytes, sha256: str, max_bytes: int) -> None:
    """Size within the limit, and the body is what its address says (a truncated or altered body fails here)."""
    if len(data) > max_bytes:
        raise Refusal(413, "size", f"the body is {len(data)} bytes; this collector takes at most {max_bytes}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise Refusal(400, "sha256", f"the body's sha256 is {actual}, the path says {sha256}")


def check_measurements(data: bytes, now: datetime, client_address: str | None = None) -> FileFacts:
    """Every line fits the shape the dataset reads (`probe.collector.schema`) and is a plausible
    `messaging_reachability` measurement: our test name, OONI's probe_ip placeholder, sane times, one report. The
    first line that is not is the refusal's reason. `client_address`, when it is a public address, must not appear
    anywhere in the file: it would be the volunteer's own address leaking through (`holds_address`)."""
    from probe.collector import schema  # msgspec: the collector's extra

    try:
        data.decode("utf-8")  # the decoder does not look inside the strings it skips
    except UnicodeDecodeError as exc:
        number = data.count(b"\n", 0, exc.start) + 1
        raise Refusal(422, "json", f"not a result file: line {number}: not UTF-8") from None
    first: schema.Line | None = None
    count = 0
    for number, text in _lines(data):
        try:
            line = schema.decode(text)
        except schema.Misfit as exc:
            code = "measurement" if " - at `$." in str(exc) else "json"  # a field's type, or not a JSON object
            raise Refusal(422, code, f"line {number}: {exc}") from None
        first = first or line
        problem = _problem(line, now)
        if problem is None and line.report_id != first.report_id:
            problem = "report_id differs from the first line's (one file is one run)"
        if problem is None and line.test_start_time != first.test_start_time:
            problem = "test_start_time differs from the first line's (one file is one run)"
        if problem:
            raise Refusal(422, "measurement", f"line {number}: {problem}")
        count += 1
    if first is None or first.report_id is None or first.test_start_time is None:  # (the latter two: never)
        raise Refusal(422, "empty", "the file holds no measurement")
    uploader = public_address(client_address) if client_address else None
    if uploader is not None and holds_address(data, uploader):
        raise Refusal(422, "privacy", "the file contains the uploader's own IP address; it must never travel")
    return FileFacts(day=first.test_start_time[:10], measurements=count, report_id=first.report_id)


def _lines(data: bytes) -> Iterator[tuple[int, memoryview]]:
    """(number, line) of every line, refusing a blank or oversized one before it is parsed: the probe writes
    neither, and a signed file padded with 8 MiB of blank lines cost 6-7 s of CPU to parse (issue 21)."""
    view = memoryview(data)  # lines decoded in place: copying each out of the body is a third of the parse's cost
    start, number = 0, 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        number += 1
        if end - start > MAX_LINE_BYTES:
            raise Refusal(422, "line", f"line {number} is over {MAX_LINE_BYTES} bytes, more than a measurement takes")
        if end == start or data[start] in _SPACE:  # a canonical line starts with "{"
            raise Refusal(422, "line", f"line {number} is blank or starts with a space; the probe writes neither")
        yield number, view[start:end]
        start = end + 1


def _problem(line: schema.Line, now: datetime) -> str | None:
    if line.test_name != TEST_NAME:
        return f"test_name is {line.test_name!r}, not {TEST_NAME!r}"
    if line.probe_ip != PROBE_IP_PLACEHOLDER:
        return f"probe_ip must be the placeholder {PROBE_IP_PLACEHOLDER} (a probe's address never travels)"
    if not isinstance(line.input, str) or not _INPUT.fullmatch(line.input):
        return f"input {line.input!r} is not tls://host:port or tcp://host:port"
    for key, value in (
        ("test_start_time", line.test_start_time),
        ("measurement_start_time", line.measurement_start_time),
    ):
        problem = _time_problem(key, value, now)
        if problem:
            return problem
    if not isinstance(line.report_id, str) or not line.report_id:
        return "report_id is missing"
    if not isinstance(line.probe_cc, str) or not _CC.fullmatch(line.probe_cc):
        return f"probe_cc {line.probe_cc!r} is not a two-letter country code"
    if not isinstance(line.probe_asn, str) or not _ASN.fullmatch(line.probe_asn):
        return f"probe_asn {line.probe_asn!r} is not ASnnn"
    if line.test_keys is None:
        return "test_keys is missing"
    verdict = line.test_keys.verdict
    # Verdict names may grow (the contract adds names): any lowercase word is plausible.
    if not isinstance(verdict, str) or not _WORD.fullmatch(verdict):
        return f"test_keys.verdict {verdict!r} is not a verdict name"
    return None


def _time_problem(key: str, value: Any, now: datetime) -> str | None:
    if not isinstance(value, str):
        return f"{key} is missing"
    if not _TIME.fullmatch(value):
        return f"{key} {value!r} is not YYYY-MM-DD HH:MM:SS"
    try:
        when = datetime.fromisoformat(value).replace(tzinfo=UTC)  # the format is checked: fast, unlike strptime
    except ValueError:
        return f"{key} {value!r} is not a date and time"
    if when < EARLIEST or when > now + CLOCK_SKEW:
        return f"{key} {value} is not a plausible time (before {EARLIEST:%Y} or in the future)"
    return None


@functools.lru_cache(maxsize=4096)  # a few addresses upload again and again (and parsing one is slow)
def public_address(text: str) -> IPAddress | None:
    """The uploader's address, parsed, when it is public; an IPv4 uploader seen by a collector listening on `::`
    arrives as `::ffff:a.b.c.d` and is that IPv4 address.

    Only a public address is looked for in a file. A LAN address (10/8, 192.168/16, fd00::/8, ...) names no one:
    millions of networks use each, so one in a file would not identify a volunteer, and private addresses appear in
    honest files as forged DNS answers (`dns.bogon`: censors answer 10.10.34.35 and the like). The probe never
    writes its own LAN addresses (tests/privacy.py checks every result file the tests make)."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address if address.is_global else None


def holds_address(data: bytes, address: IPAddress) -> bool:
    """Whether `address` appears in `data`, compared as a parsed address rather than as text: `8.8.8.80` and
    `18.8.8.8` do not hold 8.8.8.8; `::FFFF:8.8.8.8`, `::ffff:808:808` and `2001:DB8:0::1` hold what they spell.
    Searched from literal anchors (the dotted quad, two colons), which costs a tenth of a regular expression over
    every token of the file."""
    if isinstance(address, ipaddress.IPv4Address):
        if _holds_dotted(data, str(address).encode("ascii")):
            return True
        if b"ffff" not in data.lower():  # no IPv6 spelling of an IPv4 address (::ffff:808:808) to look for
            return False
    checked_to = 0
    for match in _TWO_COLONS.finditer(data):
        start, end = match.span()
        if start < checked_to:
            continue
        while start > 0 and data[start - 1] in _IPV6_CHARACTERS:
            start -= 1
        while end < len(data) and data[end] in _IPV6_CHARACTERS:
            end += 1
        checked_to = end
        token = data[start:end].rstrip(b".")
        if len(token) > 45:  # the longest spelling, with an embedded IPv4 address
            continue
        try:
            candidate = ipaddress.IPv6Address(token.decode("ascii"))
        except ValueError:
            continue
        if candidate == address or candidate.ipv4_mapped == address:
            return True
    return False


def _holds_dotted(data: bytes, needle: bytes) -> bool:
    """The dotted quad, not inside a longer run of digits and dots (`18.8.8.80`); a sentence's full stop may follow."""
    at = data.find(needle)
    while at >= 0:
        end = at + len(needle)
        follows_number = at > 0 and data[at - 1] in b"0123456789."
        number_goes_on = data[end : end + 1].isdigit() or (
            data[end : end + 1] == b"." and data[end + 1 : end + 2].isdigit()
        )
        if not follows_number and not number_goes_on:
            return True
        at = data.find(needle, at + 1)
    return False
