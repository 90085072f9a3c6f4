"""What makes an upload acceptable, apart from its signature: the content address and that every line is a
plausible measurement of ours. Pure functions over bytes; a refusal carries the HTTP status and a reason the
probe keeps beside the file in its dead-letter folder.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from probe import codec
from probe.collector import layout

TEST_NAME = "messaging_reachability"
PROBE_IP_PLACEHOLDER = "127.0.0.1"  # OONI's: the probe's address never travels
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)  # older than the probe itself: a broken clock or a forgery
CLOCK_SKEW = timedelta(days=1)
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_INPUT = re.compile(r"(tls|tcp)://\S+:\d{1,5}")
_CC = re.compile(r"[A-Z]{2}")
_ASN = re.compile(r"AS\d{1,10}")
_WORD = re.compile(r"[a-z][a-z0-9_.\-]{0,63}")


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
    """Every line parses and is a plausible `messaging_reachability` measurement: our test name, OONI's probe_ip
    placeholder, sane times, one report. `client_address`, when it is a public address, must not appear anywhere
    in the file: it would be the volunteer's own address leaking through."""
    try:
        lines = list(codec.decode_lines(data))
    except ValueError as exc:
        raise Refusal(422, "json", f"not a result file: {exc}") from None
    if not lines:
        raise Refusal(422, "empty", "the file holds no measurement")
    report_id = lines[0].get("report_id")
    start = lines[0].get("test_start_time")
    for number, line in enumerate(lines, start=1):
        problem = _problem(line, now)
        if problem is None and line.get("report_id") != report_id:
            problem = "report_id differs from the first line's (one file is one run)"
        if problem is None and line.get("test_start_time") != start:
            problem = "test_start_time differs from the first line's (one file is one run)"
        if problem:
            raise Refusal(422, "measurement", f"line {number}: {problem}")
    if client_address and _is_public(client_address) and client_address.encode("ascii") in data:
        raise Refusal(422, "privacy", "the file contains the uploader's own IP address; it must never travel")
    assert isinstance(report_id, str) and isinstance(start, str)  # checked by _problem
    return FileFacts(day=start[:10], measurements=len(lines), report_id=report_id)


def _problem(line: dict[str, Any], now: datetime) -> str | None:
    if line.get("test_name") != TEST_NAME:
        return f"test_name is {line.get('test_name')!r}, not {TEST_NAME!r}"
    if line.get("probe_ip") != PROBE_IP_PLACEHOLDER:
        return f"probe_ip must be the placeholder {PROBE_IP_PLACEHOLDER} (a probe's address never travels)"
    if not isinstance(line.get("input"), str) or not _INPUT.fullmatch(line["input"]):
        return f"input {line.get('input')!r} is not tls://host:port or tcp://host:port"
    for key in ("test_start_time", "measurement_start_time"):
        problem = _time_problem(key, line.get(key), now)
        if problem:
            return problem
    if not isinstance(line.get("report_id"), str) or not line["report_id"]:
        return "report_id is missing"
    if not isinstance(line.get("probe_cc"), str) or not _CC.fullmatch(line["probe_cc"]):
        return f"probe_cc {line.get('probe_cc')!r} is not a two-letter country code"
    if not isinstance(line.get("probe_asn"), str) or not _ASN.fullmatch(line["probe_asn"]):
        return f"probe_asn {line.get('probe_asn')!r} is not ASnnn"
    keys = line.get("test_keys")
    if not isinstance(keys, dict):
        return "test_keys is missing"
    verdict = keys.get("verdict")
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


def _is_public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False
