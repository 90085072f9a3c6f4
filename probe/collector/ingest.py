"""One upload, end to end: address, size, sha256, signature, trusted comment, key, rate limit, content, then the
durable writes.

Where each step runs (measured, see docs/dataset.md "Ingest benchmark"): the checks are CPU work of about a
millisecond for a typical file (hashing, two Ed25519 verifications, parsing every line), and they run right on the
event loop: handing them to a thread cost more CPU than some of them (the hop and the GIL passed back and forth
between the loop and the pool cost 0.2 ms an upload, 76 futex calls). A file larger than `INLINE_BYTES` is
checked in a thread, so that one large upload does not stall the other connections of its worker. What blocks
(fsync, the object store's round trips, and the rare store lookups of a key or a revocation) runs in a thread of
the collector's pool, the two writes of an upload in one hop.

How the collector learns a probe's key (trust on first use, pinned by construction): every upload may carry the
probe's minisign public key in `Probe-Public-Key` (the `RW...` line of its `.pub` file). The probe id is the
SHA-256 of that key, and the signed trusted comment names the probe id, so a key can only ever stand for the one
probe id derived from it: there is nothing to pin but the key itself, which is kept at `keys/v1/<probe id>.pub`
the first time it signs an accepted file. An upload without the header is checked against that stored key (403
when there is none). A probe id is refused with 403 when an object exists at `keys/v1/revoked/<probe id>`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

from probe import minisign, signing
from probe.collector import checks, layout
from probe.collector.checks import FileFacts, Refusal
from probe.collector.ratelimit import RateLimiter
from probe.collector.store import Store, StoreError

DEFAULT_MAX_BYTES = 8 * 1024 * 1024  # a run of a thousand endpoints is well under 8 MiB
STORE_RETRY_AFTER = 5.0  # seconds a probe waits after the store failed us
INLINE_BYTES = 512 * 1024  # checked on the event loop up to this size (about 10 ms of CPU), in a thread above
REVOCATION_TTL = 60.0  # seconds a revocation lookup is trusted
# Entries kept in each of the caches below (a parsed key with its text is about a kilobyte): the oldest go first,
# so that minting keys cannot grow a worker's memory without bound (issue 21: 20,000 keys took 23 MB, never freed).
CACHE_ENTRIES = 20_000

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Accepted:
    """A stored (201) or already stored (200) file."""

    status: int
    key: str
    probe_id: str
    measurements: int


class Ingest:
    """The collector's acceptance rules over one store. `executor` runs what blocks (None: asyncio's default)."""

    def __init__(
        self,
        store: Store,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        limiter: RateLimiter | None = None,
        executor: Executor | None = None,
        inline_bytes: int = INLINE_BYTES,
        new_keys: RateLimiter | None = None,
    ) -> None:
        """`limiter` limits uploads per probe id, `new_keys` keys first seen per client address (`address_group`)."""
        self.store = store
        self.max_bytes = max_bytes
        self.limiter = limiter
        self.new_keys = new_keys
        self.executor = executor
        self.inline_bytes = inline_bytes
        self._lock = threading.Lock()
        self._keys: dict[str, minisign.PublicKey] = {}  # probe id -> key known to be stored
        self._headers: dict[str, minisign.PublicKey] = {}  # Probe-Public-Key text -> parsed key
        self._revoked: dict[str, tuple[bool, float]] = {}  # probe id -> (revoked, when looked up)

    async def accept(
        self,
        sha256: str,
        data: bytes,
        signature_header: str | None,
        key_header: str | None = None,
        client_address: str | None = None,
        now: datetime | None = None,
    ) -> Accepted:
        """Check and store one upload; raises Refusal (with the HTTP status) when it is not acceptable. The answer
        comes only once the signature and the body are durable in the store."""
        now = now or datetime.now(UTC)
        checks.check_address(sha256)
        await self._cpu(data, checks.check_content, data, sha256, self.max_bytes)
        minisig = _signature_bytes(signature_header)
        public = await self._public_key(minisig, key_header)
        if await self._is_revoked(public.probe_id, now.timestamp()):
            raise Refusal(403, "revoked", f"probe {public.probe_id} is revoked at this collector")
        facts = await self._cpu(data, self._check_signed, sha256, data, minisig, public, now, client_address)
        if self.new_keys is not None and client_address and not await self._is_known(public):
            wait = self.new_keys.acquire(address_group(client_address))
            if wait > 0:
                raise Refusal(
                    429, "new_keys", "too many new probe keys from this address; retry later", retry_after=wait
                )
        try:
            created = await self._blocking(self._write, public, facts.day, sha256, minisig, data)
        except StoreError as exc:
            raise Refusal(503, "store", f"storage unavailable: {exc}", retry_after=STORE_RETRY_AFTER) from None
        return Accepted(
            201 if created else 200, layout.raw_body(facts.day, sha256), public.probe_id, facts.measurements
        )

    def _check_signed(
        self,
        sha256: str,
        data: bytes,
        minisig: bytes,
        public: minisign.PublicKey,
        now: datetime,
        client_address: str | None,
    ) -> FileFacts:
        try:
            # The body's sha256 is the address, checked above: the comment is compared with it, not hashed again.
            signing.verify_result(data, minisig, public, sha256=sha256)  # and the comment's size and probe id
        except minisign.SignatureError as exc:
            raise Refusal(422, f"signature.{exc.code}", str(exc)) from None
        if self.limiter is not None:
            wait = self.limiter.acquire(public.probe_id)
            if wait > 0:
                raise Refusal(429, "rate", "too many uploads from this probe; retry later", retry_after=wait)
        return checks.check_measurements(data, now, client_address)

    def _write(self, public: minisign.PublicKey, day: str, sha256: str, minisig: bytes, data: bytes) -> bool:
        """The key (first time only), then the upload: True when the body is new."""
        self._pin(public)
        return write_upload(self.store, day, sha256, minisig, data)

    async def _cpu(self, data: bytes, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run CPU work over `data` on the event loop, or in a thread when `data` is large."""
        if len(data) <= self.inline_bytes:
            return function(*args, **kwargs)
        return await self._blocking(function, *args, **kwargs)

    async def _blocking(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: function(*args, **kwargs))

    async def _public_key(self, minisig: bytes, key_header: str | None) -> minisign.PublicKey:
        if key_header:
            return self._header_key(key_header.strip())
        # No key sent: the trusted comment (not yet verified) names the probe whose stored key must verify it.
        try:
            parsed = minisign.parse(minisig)
        except minisign.SignatureError as exc:
            raise Refusal(422, f"signature.{exc.code}", str(exc)) from None
        probe_id = signing.parse_trusted_comment(parsed.trusted_comment).get("probe", "")
        if not layout.SHA256_HEX.fullmatch(probe_id):
            raise Refusal(422, "signature.comment", "the trusted comment names no probe id")
        with self._lock:
            known = self._keys.get(probe_id)
        if known is not None:
            return known
        try:
            stored = await self._blocking(self.store.get, layout.public_key(probe_id))
        except StoreError as exc:
            raise Refusal(503, "store", f"storage unavailable: {exc}", retry_after=STORE_RETRY_AFTER) from None
        if stored is None:
            raise Refusal(403, "unknown_key", f"unknown probe {probe_id}: send its public key in Probe-Public-Key")
        public = minisign.PublicKey.from_file(stored)
        with self._lock:
            _remember(self._keys, probe_id, public)
        return public

    def _header_key(self, text: str) -> minisign.PublicKey:
        # A probe sends the same header with every upload: parse it once.
        with self._lock:
            known = self._headers.get(text)
        if known is not None:
            return known
        try:
            public = minisign.PublicKey.from_base64(text)
        except minisign.MinisignError as exc:
            raise Refusal(400, "key", f"Probe-Public-Key: {exc}") from None
        with self._lock:
            _remember(self._headers, text, public)
        return public

    def _pin(self, public: minisign.PublicKey) -> None:
        with self._lock:
            if public.probe_id in self._keys:
                return
        self.store.put_new(layout.public_key(public.probe_id), public.to_file())
        with self._lock:
            _remember(self._keys, public.probe_id, public)

    async def _is_known(self, public: minisign.PublicKey) -> bool:
        """Whether the store holds this key already (the probe id is the key's hash: same id, same key)."""
        with self._lock:
            if public.probe_id in self._keys:
                return True
        try:
            stored = await self._blocking(self.store.exists, layout.public_key(public.probe_id))
        except StoreError as exc:
            raise Refusal(503, "store", f"storage unavailable: {exc}", retry_after=STORE_RETRY_AFTER) from None
        if stored:
            with self._lock:
                _remember(self._keys, public.probe_id, public)
        return stored

    async def _is_revoked(self, probe_id: str, now: float) -> bool:
        # Looked up at most once a minute per probe: one extra request per upload would halve an S3 store's rate.
        with self._lock:
            cached = self._revoked.get(probe_id)
        if cached is not None and now - cached[1] < REVOCATION_TTL:
            return cached[0]
        try:
            revoked = await self._blocking(self.store.exists, layout.revoked(probe_id))
        except StoreError as exc:
            raise Refusal(503, "store", f"storage unavailable: {exc}", retry_after=STORE_RETRY_AFTER) from None
        with self._lock:
            _remember(self._revoked, probe_id, (revoked, now))
        return revoked


K = TypeVar("K")
V = TypeVar("V")


def _remember(cache: dict[K, V], key: K, value: V) -> None:
    """Keep `value`, forgetting the oldest entry when the cache is full (dicts keep insertion order)."""
    cache.pop(key, None)
    if len(cache) >= CACHE_ENTRIES:
        del cache[next(iter(cache))]
    cache[key] = value


def address_group(address: str) -> str:
    """What one client holds: its IPv4 address (an IPv4-mapped IPv6 address unwrapped), or its IPv6 /64, which a
    single host can hold whole (RFC 4291 interface identifiers; privacy addresses change within it)."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def write_upload(store: Store, day: str, sha256: str, minisig: bytes, data: bytes) -> bool:
    """An accepted upload's two objects, durable on return: True when the body is new.

    The signature first, its folder entry made durable by the body's write into the same folder: a crash leaves at
    most a signature without its body (rewritten on retry), never a body without signature. Not both at once on S3
    either, for the same reason: the order is the guarantee."""
    store.put_new(layout.raw_signature(day, sha256), minisig, sync=False)
    return store.put_new(layout.raw_body(day, sha256), data)


def _signature_bytes(header: str | None) -> bytes:
    if not header:
        raise Refusal(400, "signature.missing", "no Probe-Signature header (base64 of the .minisig file)")
    try:
        return base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Refusal(400, "signature.base64", "Probe-Signature is not base64 (of the .minisig file)") from None
