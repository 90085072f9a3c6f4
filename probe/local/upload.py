"""Draining the spool to a collector: `PUT /v1/results/{sha256}` of the exact stored bytes, oldest first.

What each answer does (contract, "Upload"):
- 201 stored, 200 already stored: the spool forgets the file.
- 400, 403, 413, 422 (and any other 4xx but those below): refused for good; the file goes to dead-letter with the
  collector's reason.
- 408, 425, 429, 5xx, and network errors (refused connection, timeout, proxy failure): the collector or the path to
  it is unwell. The drain stops (hammering a struggling collector helps no one), and the next attempt waits a
  jittered exponential backoff (base 30 s, doubling, cap 6 h; Fluent Bit's and AWS's "equal jitter"), or exactly
  what `Retry-After` asked. The wait is written to the spool, so cron runs and reboots keep it.

Two waits are kept: the collector's (`upload-state.json`, per collector URL: every item waits) and each item's own
(its `meta.json`: an item that alone makes the collector fail steps aside and the others go on).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from probe import atomicfile
from probe.failures import classify as classify_failure
from probe.local.locks import Busy
from probe.local.spool import Item, Spool
from probe.wire import PUBLIC_KEY_HEADER, RESULTS_PATH, SIGNATURE_HEADER

if TYPE_CHECKING:
    import httpx

BACKOFF_BASE = 30.0
BACKOFF_CAP = 6 * 3600.0
REQUEST_TIMEOUT = 60.0
RETRYABLE = frozenset({408, 425, 429})
MAX_ANSWER = 64 * 1024  # a collector answers with a line of JSON: what follows is not read
_DIGITS = re.compile(r"[0-9]+")
STATE_NAME = "upload-state.json"
USER_AGENT = "probe-upload/1"  # no version: the file says it, and the header needs no fingerprint of its own

Kind = Literal["stored", "duplicate", "refused", "retry"]


@dataclass(frozen=True)
class Answer:
    """What one attempt came to."""

    kind: Kind
    status: int | None  # None for a network error
    reason: str
    retry_after: float | None = None


@dataclass(frozen=True)
class DrainReport:
    """What a drain did; `busy` when another drain held the spool."""

    delivered: int = 0
    duplicates: int = 0
    dead: tuple[tuple[str, str], ...] = ()  # (sha256, reason)
    remaining: int = 0
    next_attempt: float | None = None  # when the collector may next be tried, if the drain backed off
    last_error: str | None = None
    busy: bool = False
    skipped_until_due: int = 0
    out_of_time: bool = False

    def summary(self) -> str:
        """One line for people."""
        if self.busy:
            return "upload: another process is uploading; nothing done"
        parts = [f"{self.delivered} delivered"]
        if self.duplicates:
            parts.append(f"{self.duplicates} already there")
        if self.dead:
            parts.append(f"{len(self.dead)} refused (dead-letter)")
        parts.append(f"{self.remaining} waiting")
        text = "upload: " + ", ".join(parts)
        if self.next_attempt is not None:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.next_attempt))
            text += f"; next try after {when}"
            if self.last_error:
                text += f" ({self.last_error})"
        if self.out_of_time:
            text += "; stopped at the time budget"
        return text


@dataclass(frozen=True)
class CollectorState:
    """The backoff kept for one collector URL across runs."""

    url: str
    failures: int = 0
    next_attempt: float = 0.0
    last_error: str | None = None


@dataclass(frozen=True)
class Uploader:
    """Where and how to upload."""

    url: str  # the collector's base URL, e.g. https://collector.example.org
    proxy: str | None = None  # socks5:// or socks5h:// (Tor: socks5h://127.0.0.1:9050)
    timeout: float = REQUEST_TIMEOUT
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def result_url(self, sha256: str) -> str:
        return f"{self.url.rstrip('/')}{RESULTS_PATH}{sha256}"


class BadUploadSetting(ValueError):
    """A collector or proxy URL that cannot be used; `key` names the setting (`collector_url`, `socks_proxy`), the
    message what is wrong with the value, not where it came from."""

    def __init__(self, key: Literal["collector_url", "socks_proxy"], message: str) -> None:
        super().__init__(message)
        self.key = key


def uploader(url: str, proxy: str | None) -> Uploader:
    """An Uploader for a collector base URL (http or https) and an optional SOCKS5 proxy. Raises BadUploadSetting."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BadUploadSetting("collector_url", f"{url}: not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadUploadSetting("collector_url", f"{url}: a collector is an http:// or https:// URL")
    problem = socks5_problem(proxy, "uploads") if proxy else None
    if problem:
        raise BadUploadSetting("socks_proxy", problem)
    return Uploader(url=url, proxy=proxy)


def socks5_problem(proxy: str, what: str) -> str | None:
    """Why `proxy` cannot carry `what` (httpx speaks SOCKS5 only), or None. Used for uploads and for asking a
    control vantage, which go through the same proxy."""
    import httpx

    try:
        proxy_url = httpx.URL(proxy)
    except httpx.InvalidURL as exc:
        return f"{proxy}: not a URL ({exc})"
    if proxy_url.scheme not in ("socks5", "socks5h") or not proxy_url.host or not proxy_url.port:
        return f"{proxy}: {what} go through a SOCKS5 proxy only: socks5h://HOST:PORT (or socks5://)"
    return None


def classify(status: int, headers: Any, body: bytes, now: float, sha256: str | None = None) -> Answer:
    """Turn an HTTP answer into what the spool does with the file. `sha256`, the file's: a 200 or 201 counts only
    when its body names that very file (issue 21: an HTML page of a portal or a proxy, or an answer about another
    file, made the spool forget a file no collector had)."""
    reason = _reason(body) or f"HTTP {status}"
    if status in (200, 201):
        if sha256 is not None and _named(body) != sha256:
            return Answer("retry", status, f"HTTP {status} that does not name this file ({sha256[:16]}...)")
        return Answer("stored" if status == 201 else "duplicate", status, reason)
    if status in RETRYABLE or status >= 500:
        return Answer("retry", status, f"HTTP {status}: {reason}", parse_retry_after(headers.get("retry-after"), now))
    if 400 <= status < 500:
        return Answer("refused", status, reason)
    # 1xx/3xx: not an answer this protocol gives (a captive portal, a misconfigured proxy): try again later.
    return Answer("retry", status, f"unexpected HTTP {status}")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP-date, RFC 9110 10.2.3), or None."""
    if not value:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):  # ASCII digits only: str.isdigit() takes "²", which float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, float(when.timestamp()) - now)


def backoff_delay(failures: int, rng: random.Random, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait after `failures` consecutive failures: half the exponential step fixed, half random, so a
    fleet of probes that lost the collector together does not come back together."""
    step = min(cap, base * 2.0 ** min(64, max(0, failures - 1)))
    return step / 2 + rng.uniform(0, step / 2)


def load_state(spool: Spool, url: str) -> CollectorState:
    try:
        raw = json.loads((spool.root / STATE_NAME).read_text(encoding="utf-8"))
        state = CollectorState(**raw.get(url, {"url": url}))
    except (OSError, ValueError, TypeError, AttributeError):
        return CollectorState(url)
    return state


def save_state(spool: Spool, state: CollectorState) -> None:
    path = spool.root / STATE_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raw = {}
    except (OSError, ValueError):
        raw = {}
    raw[state.url] = asdict(state)
    atomicfile.write_atomic(path, json.dumps(raw, indent=1).encode("utf-8"), mode=0o600)


def drain(
    spool: Spool,
    uploader: Uploader,
    *,
    budget: float = 60.0,
    ignore_backoff: bool = False,
    clock: Callable[[], float] = time.time,
    client: httpx.AsyncClient | None = None,
    default_public_key: str | None = None,
) -> DrainReport:
    """Upload what is due, oldest first, until the spool is empty, the collector asks us to wait, or `budget`
    seconds have passed (each request ends by then, whatever the collector or a proxy on the way does: issue 21,
    a `--budget 10` ran past 150 s against an answer sent a byte at a time). Never raises for network trouble;
    returns what happened."""
    try:
        with spool.drain_lock():
            return _drain_locked(spool, uploader, budget, ignore_backoff, clock, client, default_public_key)
    except Busy:
        return DrainReport(busy=True, remaining=len(spool.ready()))


def _drain_locked(
    spool: Spool,
    uploader: Uploader,
    budget: float,
    ignore_backoff: bool,
    clock: Callable[[], float],
    client: httpx.AsyncClient | None,
    default_public_key: str | None,
) -> DrainReport:
    with asyncio.Runner() as runner:  # httpx's own timeouts are per read: asyncio's deadline covers a whole request
        http = client if client is not None else _client(uploader)
        try:
            return _drain_items(spool, uploader, budget, ignore_backoff, clock, http, default_public_key, runner)
        finally:
            if client is None:
                runner.run(http.aclose())


def _drain_items(
    spool: Spool,
    uploader: Uploader,
    budget: float,
    ignore_backoff: bool,
    clock: Callable[[], float],
    http: httpx.AsyncClient,
    default_public_key: str | None,
    runner: asyncio.Runner,
) -> DrainReport:
    start = clock()
    deadline = start + budget
    spool.enforce_limits(now=start)
    state = load_state(spool, uploader.url)
    items = spool.ready()
    if not items:
        return DrainReport()
    if not ignore_backoff and state.next_attempt > start:
        return DrainReport(remaining=len(items), next_attempt=state.next_attempt, last_error=state.last_error)
    delivered = duplicates = skipped = 0
    dead: list[tuple[str, str]] = []
    out_of_time = False
    for item in items:
        now = clock()
        remaining_time = deadline - now
        if remaining_time <= 1.0:
            out_of_time = True
            break
        if not ignore_backoff and item.meta.next_attempt > now:
            skipped += 1
            continue
        attempt = _attempt(spool, item, uploader, http, min(uploader.timeout, remaining_time), now, default_public_key)
        answer = runner.run(attempt)
        if answer.kind in ("stored", "duplicate"):
            spool.forget(item)
            delivered += answer.kind == "stored"
            duplicates += answer.kind == "duplicate"
            if state.failures:
                state = CollectorState(uploader.url)
                save_state(spool, state)
        elif answer.kind == "refused":
            spool.bury(item, answer.status, answer.reason, now=now)
            dead.append((item.sha256, answer.reason))
        else:
            state = _back_off(spool, item, state, answer, uploader.rng, clock())
            return DrainReport(
                delivered=delivered,
                duplicates=duplicates,
                dead=tuple(dead),
                remaining=len(spool.ready()),
                next_attempt=state.next_attempt,
                last_error=answer.reason,
                skipped_until_due=skipped,
            )
    return DrainReport(
        delivered=delivered,
        duplicates=duplicates,
        dead=tuple(dead),
        remaining=len(spool.ready()),
        skipped_until_due=skipped,
        out_of_time=out_of_time,
    )


def _back_off(
    spool: Spool, item: Item, state: CollectorState, answer: Answer, rng: random.Random, now: float
) -> CollectorState:
    failures = state.failures + 1
    # Retry-After is the collector's own word on when to come back; without it, our backoff.
    delay = backoff_delay(failures, rng) if answer.retry_after is None else min(BACKOFF_CAP, answer.retry_after)
    state = CollectorState(state.url, failures, now + delay, answer.reason)
    save_state(spool, state)
    # A collector that answered with an error about this request may be choking on this very file: it waits
    # longer on its own, so the files behind it go through. Unreachable or overloaded (429, 503) says nothing
    # about the file.
    if answer.status is not None and answer.status not in (429, 503):
        spool.postpone(item, now + max(delay, backoff_delay(item.meta.attempts + 1, rng)), answer.reason)
    return state


async def _attempt(
    spool: Spool,
    item: Item,
    uploader: Uploader,
    http: httpx.AsyncClient,
    timeout: float,
    now: float,
    default_public_key: str | None,
) -> Answer:
    import httpx

    try:
        data, signature = spool.read(item)
    except OSError as exc:
        return Answer("refused", None, f"the spool item is incomplete ({exc.strerror or exc}); it cannot be sent")
    headers = {
        "Content-Type": "application/x-ndjson",
        SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
    }
    public_key = item.meta.public_key or _matching(default_public_key, signature)
    if public_key:
        headers[PUBLIC_KEY_HEADER] = public_key
    try:
        async with asyncio.timeout(timeout):
            status, answer_headers, body = await _put(http, uploader.result_url(item.sha256), data, headers)
    except TimeoutError:
        return Answer("retry", None, f"network: no whole answer within {timeout:.0f} s")
    except httpx.HTTPError as exc:
        return Answer("retry", None, f"network: {classify_failure(exc)}")
    return classify(status, answer_headers, body, now, item.sha256)


async def _put(
    http: httpx.AsyncClient, url: str, data: bytes, headers: dict[str, str]
) -> tuple[int, httpx.Headers, bytes]:
    """(status, headers, first MAX_ANSWER bytes of the body) of one PUT."""
    async with http.stream("PUT", url, content=data, headers=headers) as response:
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) >= MAX_ANSWER:
                break
        return response.status_code, response.headers, bytes(body[:MAX_ANSWER])


def _matching(public_key: str | None, signature: bytes) -> str | None:
    """`public_key` if it is the key that made `signature` (a file sealed before a key rotation is not): a wrong
    key would get the file refused for good, where no key lets the collector use the one it already knows."""
    from probe import minisign

    if not public_key:
        return None
    try:
        matches = minisign.parse(signature).key_id == minisign.PublicKey.from_base64(public_key).key_id
    except minisign.MinisignError:
        return None
    return public_key if matches else None


def _client(uploader: Uploader) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        proxy=uploader.proxy,
        # identity: a compressed answer would be inflated before its size could be capped
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        timeout=uploader.timeout,
        follow_redirects=False,  # a redirect would re-send the body somewhere the volunteer did not choose
        trust_env=False,  # only the configured proxy, never one from the environment
    )


def _named(body: bytes) -> str | None:
    """The sha256 a collector's JSON answer names, if any."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    named = parsed.get("sha256") if isinstance(parsed, dict) else None
    return named if isinstance(named, str) else None


def _reason(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(parsed, dict) and isinstance(parsed.get("reason"), str):
        return str(parsed["reason"])[:500]
    return ""
