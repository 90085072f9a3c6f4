"""One upload, end to end: address, size, signature, trusted comment, key, rate limit, content, then the durable
writes. Synchronous on purpose: hashing, Ed25519 and fsync are blocking work the ASGI shell runs in threads.

How the collector learns a probe's key (trust on first use, pinned by construction): every upload may carry the
probe's minisign public key in `Probe-Public-Key` (the `RW...` line of its `.pub` file). The probe id is the
SHA-256 of that key, and the signed trusted comment names the probe id, so a key can only ever stand for the one
probe id derived from it: there is nothing to pin but the key itself, which is kept at `keys/v1/<probe id>.pub`
the first time it signs an accepted file. An upload without the header is checked against that stored key (403
when there is none). A probe id is refused with 403 when an object exists at `keys/v1/revoked/<probe id>`.
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from probe import codec, minisign
from probe.collector import checks, layout
from probe.collector.checks import Refusal
from probe.collector.ratelimit import RateLimiter
from probe.collector.store import Store, StoreError

DEFAULT_MAX_BYTES = 8 * 1024 * 1024  # a run of a thousand endpoints is well under 8 MiB
STORE_RETRY_AFTER = 5.0  # seconds a probe waits after the store failed us


@dataclass(frozen=True)
class Accepted:
    """A stored (201) or already stored (200) file."""

    status: int
    key: str
    probe_id: str
    measurements: int


class Ingest:
    """The collector's acceptance rules over one store."""

    def __init__(self, store: Store, *, max_bytes: int = DEFAULT_MAX_BYTES, limiter: RateLimiter | None = None) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.limiter = limiter
        self._lock = threading.Lock()
        self._keys: dict[str, minisign.PublicKey] = {}  # probe id -> key known to be stored
        self._revoked: dict[str, tuple[bool, float]] = {}  # probe id -> (revoked, when looked up)

    def accept(
        self,
        sha256: str,
        data: bytes,
        signature_header: str | None,
        key_header: str | None = None,
        client_address: str | None = None,
        now: datetime | None = None,
    ) -> Accepted:
        """Check and store one upload; raises Refusal (with the HTTP status) when it is not acceptable."""
        now = now or datetime.now(UTC)
        checks.check_address(sha256)
        checks.check_content(data, sha256, self.max_bytes)
        minisig = _signature_bytes(signature_header)
        public = self._public_key(minisig, key_header)
        if self._is_revoked(public.probe_id, now.timestamp()):
            raise Refusal(403, "revoked", f"probe {public.probe_id} is revoked at this collector")
        try:
            codec.verify_result(data, minisig, public)  # also: the comment's sha256, size and probe id hold
        except minisign.SignatureError as exc:
            raise Refusal(422, f"signature.{exc.code}", str(exc)) from None
        if self.limiter is not None:
            wait = self.limiter.acquire(public.probe_id)
            if wait > 0:
                raise Refusal(429, "rate", "too many uploads from this probe; retry later", retry_after=wait)
        facts = checks.check_measurements(data, now, client_address)
        try:
            self._pin(public)
            # The signature first, its folder entry made durable by the body's write into the same folder: a crash
            # leaves at most a signature without its body (rewritten on retry), never a body without signature.
            self.store.put_new(layout.raw_signature(facts.day, sha256), minisig, sync=False)
            created = self.store.put_new(layout.raw_body(facts.day, sha256), data)
        except StoreError as exc:
            raise Refusal(503, "store", f"storage unavailable: {exc}", retry_after=STORE_RETRY_AFTER) from None
        return Accepted(
            201 if created else 200, layout.raw_body(facts.day, sha256), public.probe_id, facts.measurements
        )

    def _public_key(self, minisig: bytes, key_header: str | None) -> minisign.PublicKey:
        if key_header:
            try:
                return minisign.PublicKey.from_base64(key_header.strip())
            except minisign.MinisignError as exc:
                raise Refusal(400, "key", f"Probe-Public-Key: {exc}") from None
        # No key sent: the trusted comment (not yet verified) names the probe whose stored key must verify it.
        try:
            parsed = minisign.parse(minisig)
        except minisign.SignatureError as exc:
            raise Refusal(422, f"signature.{exc.code}", str(exc)) from None
        probe_id = codec.parse_trusted_comment(parsed.trusted_comment).get("probe", "")
        if not layout.SHA256_HEX.fullmatch(probe_id):
            raise Refusal(422, "signature.comment", "the trusted comment names no probe id")
        with self._lock:
            known = self._keys.get(probe_id)
        if known is not None:
            return known
        try:
            stored = self.store.get(layout.public_key(probe_id))
        except StoreError as exc:
            raise Refusal(503, "store", f"storage unavailable: {exc}", retry_after=STORE_RETRY_AFTER) from None
        if stored is None:
            raise Refusal(403, "unknown_key", f"unknown probe {probe_id}: send its public key in Probe-Public-Key")
        public = minisign.PublicKey.from_file(stored)
        with self._lock:
            self._keys[probe_id] = public
        return public

    def _pin(self, public: minisign.PublicKey) -> None:
        with self._lock:
            if public.probe_id in self._keys:
                return
        self.store.put_new(layout.public_key(public.probe_id), public.to_file())
        with self._lock:
            self._keys[public.probe_id] = public

    def _is_revoked(self, probe_id: str, now: float) -> bool:
        # Looked up at most once a minute per probe: one extra request per upload would halve an S3 store's rate.
        with self._lock:
            cached = self._revoked.get(probe_id)
        if cached is not None and now - cached[1] < 60:
            return cached[0]
        try:
            revoked = self.store.exists(layout.revoked(probe_id))
        except StoreError as exc:
            raise Refusal(503, "store", f"storage unavailable: {exc}", retry_after=STORE_RETRY_AFTER) from None
        with self._lock:
            self._revoked[probe_id] = (revoked, now)
        return revoked


def _signature_bytes(header: str | None) -> bytes:
    if not header:
        raise Refusal(400, "signature.missing", "no Probe-Signature header (base64 of the .minisig file)")
    try:
        return base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Refusal(400, "signature.base64", "Probe-Signature is not base64 (of the .minisig file)") from None
