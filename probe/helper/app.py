"""The helper's HTTP face: a bare ASGI application (no framework: three routes, and each view request should cost
little more than copying bytes already signed).

- `GET /v1/view`: the latest view, exactly as signed (gzip when the client accepts it: the signature covers the
  uncompressed bytes), with `Helper-Signature: <base64 of its .minisig>`; 503 until the first round is done.
- `POST /v1/measure` with `{"ids": ["line.legy", ...]}`: measure these endpoints now (202; the next view has them).
  Only ids of the lists the helper measures: it is no proxy for arbitrary hosts.
- `GET /health`: 200 with the view's time, 503 before the first view.

Both routes are rate-limited per caller (its address, kept in memory only while its bucket refills; no access
log). The view is read from the state folder when its file changes, and taken only when the signature's trusted
comment names the view's sha256 (the measurer writes the two files one after the other).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from probe import atomicfile, minisign, signing
from probe.collector.ratelimit import RateLimiter
from probe.helper.settings import MAX_DEMANDS, HelperSettings
from probe.helperview import SIGNATURE_HEADER

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_DEMAND_BODY = 16 * 1024


@dataclass(frozen=True)
class CachedView:
    """A signed view, ready to send."""

    stamp: tuple[int, int, int]  # (mtime_ns, size, inode) of view.json when read
    body: bytes
    gzipped: bytes
    signature: bytes  # the header value: base64 of the .minisig
    ids: frozenset[str]
    generated_at: str


class HelperApp:
    """The ASGI callable."""

    def __init__(self, settings: HelperSettings) -> None:
        self.settings = settings
        self.views = RateLimiter(settings.rate, settings.burst)
        self.demands = RateLimiter(settings.demand_rate, settings.demand_burst)
        self.cached: CachedView | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/v1/view":
            if method not in ("GET", "HEAD"):
                await _json(send, 405, {"status": "refused", "reason": "use GET"})
                return
            await self.view(scope, send)
        elif path == "/v1/measure":
            if method != "POST":
                await _json(send, 405, {"status": "refused", "reason": "use POST"})
                return
            await self.measure(scope, receive, send)
        elif path == "/health" and method == "GET":
            current = self.current()
            if current is None:
                await _json(send, 503, {"status": "starting"})
            else:
                await _json(send, 200, {"status": "ok", "generated_at": current.generated_at})
        else:
            await _json(send, 404, {"status": "refused", "reason": "no such route"})

    async def admit(self, limiter: RateLimiter, scope: Scope, send: Send) -> CachedView | None:
        """The view to answer with, once the caller's bucket allows it (else 429, or 503 before the first round)."""
        wait = limiter.acquire(_caller(scope))
        if wait:
            await _json(send, 429, {"status": "refused", "code": "rate", "reason": "too many requests"}, wait)
            return None
        current = self.current()
        if current is None:
            await _json(send, 503, {"status": "starting", "reason": "the first round is not done yet"}, 30)
        return current

    async def view(self, scope: Scope, send: Send) -> None:
        current = await self.admit(self.views, scope, send)
        if current is None:
            return
        zipped = b"gzip" in _header(scope, b"accept-encoding")
        body = current.gzipped if zipped else current.body
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (SIGNATURE_HEADER.lower().encode(), current.signature),
            (b"cache-control", b"no-store"),
            (b"vary", b"accept-encoding"),
        ]
        if zipped:
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def measure(self, scope: Scope, receive: Receive, send: Send) -> None:
        current = await self.admit(self.demands, scope, send)
        if current is None:
            return
        body = await _body(receive, MAX_DEMAND_BODY)
        try:
            ids = json.loads(body or b"null")["ids"]
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            await _json(send, 400, {"status": "refused", "reason": 'the body is {"ids": ["<endpoint id>", ...]}'})
            return
        unknown = sorted(set(ids) - current.ids)
        if unknown:
            reason = f"not endpoints of the published lists: {', '.join(unknown)[:300]}"
            await _json(send, 422, {"status": "refused", "code": "unknown_id", "reason": reason})
            return
        folder = self.settings.demand_dir
        if len(os.listdir(folder)) >= MAX_DEMANDS:
            await _json(send, 503, {"status": "busy", "reason": "too many measurements asked for already"}, 60)
            return
        name = f"{os.urandom(8).hex()}.json"
        atomicfile.write_atomic(folder / name, json.dumps({"ids": sorted(set(ids))}).encode())
        await _json(send, 202, {"status": "queued", "ids": sorted(set(ids))})

    def current(self) -> CachedView | None:
        """The view to serve: read again when its file changed and its signature is its own."""
        try:
            st = os.stat(self.settings.view_path)
        except FileNotFoundError:
            return self.cached
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self.cached is None or self.cached.stamp != stamp:
            fresh = _load(self.settings, stamp)
            if fresh is not None:
                self.cached = fresh
        return self.cached


def _load(settings: HelperSettings, stamp: tuple[int, int, int]) -> CachedView | None:
    try:
        body = settings.view_path.read_bytes()
        minisig = settings.signature_path.read_bytes()
        comment = signing.parse_trusted_comment(minisign.parse(minisig).trusted_comment)
    except (OSError, minisign.MinisignError):
        return None
    if comment.get("sha256") != hashlib.sha256(body).hexdigest():
        return None  # between the measurer's two writes: the next request looks again
    document = json.loads(body)
    return CachedView(
        stamp=stamp,
        body=body,
        gzipped=gzip.compress(body, 6, mtime=0),
        signature=base64.b64encode(minisig),
        ids=frozenset(str(e.get("id")) for e in document.get("endpoints", [])),
        generated_at=str(document.get("generated_at")),
    )


def _caller(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


def _header(scope: Scope, name: bytes) -> bytes:
    return next((v for k, v in scope.get("headers", ()) if k == name), b"")


async def _body(receive: Receive, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b""  # too large: treated as no body (400)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(send: Send, status: int, body: dict[str, Any], retry_after: float | None = None) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if retry_after:
        headers.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def app_from_environment() -> HelperApp:
    """uvicorn's factory."""
    from probe.helper.settings import SETTINGS_VARIABLE

    return HelperApp(HelperSettings.from_environment(os.environ[SETTINGS_VARIABLE]))
