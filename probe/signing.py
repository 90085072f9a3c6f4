"""The signature of a result file: minisign (probe.minisign) over its exact bytes, with a trusted comment that
names the file, the probe and the file's SHA-256 and size, so anyone can check the content address and the signer
with the stock tool.
"""

from __future__ import annotations

import hashlib
import time

from probe.minisign import PublicKey, SecretKey, SignatureError, sign, verify

SIGNATURE_FORMAT_VERSION = "1"  # `v:` in the trusted comment; bump when its keys change meaning


def trusted_comment(data: bytes, file_name: str, probe_id: str, timestamp: int) -> str:
    """The trusted comment of a result file's signature: tab-separated `key:value` pairs in printable ASCII.

    minisign's own keys first (`timestamp`, `file`, `hashed`: what `minisign -S` writes by default), then ours:
    the format version, the probe id, and the file's SHA-256 and size, so anyone can check the content address
    (the upload URL) and the signer without BLAKE2b.
    """
    if not file_name.isascii() or not file_name.isprintable() or "/" in file_name or not file_name.strip():
        raise ValueError(f"a signed file name is printable ASCII without '/': {file_name!r}")
    fields = {
        "timestamp": str(timestamp),
        "file": file_name,
        "hashed": None,
        "v": SIGNATURE_FORMAT_VERSION,
        "probe": probe_id,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": str(len(data)),
    }
    return "\t".join(key if value is None else f"{key}:{value}" for key, value in fields.items())


def parse_trusted_comment(comment: str) -> dict[str, str]:
    """The `key:value` pairs of a trusted comment; a bare word (minisign's `hashed`) maps to ""."""
    pairs: dict[str, str] = {}
    for item in comment.split("\t"):
        key, _, value = item.partition(":")
        pairs.setdefault(key, value)
    return pairs


def sign_result(data: bytes, file_name: str, secret: SecretKey, timestamp: int | None = None) -> bytes:
    """The `.minisig` file for the result file `file_name` holding `data` (prehashed Ed25519, minisign's format).
    `timestamp` (Unix seconds) defaults to now."""
    public = secret.public_key()
    when = int(time.time()) if timestamp is None else timestamp
    comment = trusted_comment(data, file_name, public.probe_id, when)
    return sign(data, secret, comment, f"signature from probe {public.key_id_hex}")


def verify_result(data: bytes, minisig: bytes, public: PublicKey, *, sha256: str | None = None) -> dict[str, str]:
    """Verify a result file's signature and that its trusted comment describes `data` and `public` (format
    version, sha256, size, probe id); return the comment's pairs. Raises SignatureError with the reason.

    `sha256` is the hex SHA-256 of `data` when the caller has just computed it (the collector checks the upload's
    address first): hashing a large file once instead of twice is a measurable share of an upload's cost."""
    pairs = parse_trusted_comment(verify(data, minisig, public))
    version = pairs.get("v")
    if version is None:
        raise SignatureError(
            "the signature holds, but its trusted comment is not a probe's (no v: format version), so it does not "
            "vouch for the sha256, size and probe id",
            "comment",
        )
    if version != SIGNATURE_FORMAT_VERSION:
        raise SignatureError(
            f"the trusted comment has format version {version}; this probe reads version "
            f"{SIGNATURE_FORMAT_VERSION} (a newer probe may read it)",
            "comment",
        )
    for key in ("sha256", "size", "probe"):
        if key not in pairs:
            raise SignatureError(f"the trusted comment lacks {key}:", "comment")
    actual = sha256 or hashlib.sha256(data).hexdigest()
    if pairs["sha256"] != actual or pairs["size"] != str(len(data)):
        raise SignatureError(
            f"the file is not the one signed: the trusted comment says sha256 {pairs['sha256']}, size "
            f"{pairs['size']}; the file has sha256 {actual}, size {len(data)}",
            "content",
        )
    if pairs["probe"] != public.probe_id:
        raise SignatureError(
            f"the trusted comment names probe {pairs['probe']}, but the key is probe {public.probe_id}", "comment"
        )
    return pairs
