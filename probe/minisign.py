"""minisign's file formats and its prehashed signatures, bytes in and bytes out (no file system, no clock).

The formats follow jedisct1/minisign `src/minisign.h` and `src/minisign.c` (0.11 and 0.12 checked), so the stock
tool reads what we write and we read what it writes:

- public key file: `untrusted comment: ...` LF, base64("Ed" || keynum[8] || pk[32]) LF
- secret key file: `untrusted comment: ...` LF, base64("Ed" || kdf[2] || "B2" || salt[32] || opslimit[8] ||
  memlimit[8] || keynum[8] || seed[32] || pk[32] || chk[32]) LF, with chk = BLAKE2b-256("Ed" || keynum || seed || pk)
  and kdf "\\0\\0" (unencrypted: unattended runs cannot type a password; minisign itself leaves chk zero there)
- signature file: `untrusted comment: ...` LF, base64(alg[2] || keynum[8] || sig[64]) LF, `trusted comment: ...` LF,
  base64(global_sig[64]) LF, where alg "ED" means sig = Ed25519(BLAKE2b-512(data)) and global_sig =
  Ed25519(sig || trusted comment) authenticates the trusted comment.

Reading is at least as strict as minisign: whatever `minisign -V -H` refuses, `verify` refuses too. It is a little
stricter where minisign is lax and the laxity serves no one: base64 must be canonical (minisign ignores the padding
bits, so a changed padding bit would otherwise go unnoticed) and a CR may only end a line.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import re
from dataclasses import dataclass, field

KEY_ALGORITHM = b"Ed"
HASHED = b"ED"  # Ed25519 over BLAKE2b-512 of the data: minisign's default since 0.10, and what we write
LEGACY = b"Ed"  # Ed25519 over the raw data: refused, as `minisign -V -H` does
KDF_NONE = b"\0\0"
KDF_SCRYPT = b"Sc"
CHECKSUM_ALGORITHM = b"B2"

COMMENT_PREFIX = b"untrusted comment: "
TRUSTED_COMMENT_PREFIX = b"trusted comment: "
# minisign's buffers (COMMENTMAXBYTES, TRUSTEDCOMMENTMAXBYTES) hold a whole line, its LF and a NUL.
_COMMENT_LINE_MAX = 1024 - 2
_TRUSTED_COMMENT_LINE_MAX = 8192 - 2

# C0 controls but the tab, DEL and C1 controls: what minisign refuses in a trusted comment. One regular expression
# rather than a loop over the characters: a collector checks a comment with every upload.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_SECRET_KEY_LEN = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32  # 158 bytes
_SIGNATURE_LEN = 2 + 8 + 64


class MinisignError(ValueError):
    """A minisign file could not be used; the message says why, in words a user can act on."""


class KeyFileError(MinisignError):
    """A key file is missing parts, garbled, or of a kind we cannot use (e.g. password-protected)."""


class SignatureError(MinisignError):
    """A signature does not hold. `code` is a stable word for programs: `garbled`, `legacy`, `key_id`,
    `signature`, `comment_signature`, or (from `signing.verify_result`) `content`, `comment`."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def derive_key_id(key: bytes) -> bytes:
    """keynum for a public key: the first 8 bytes of its SHA-256. minisign draws keynum at random; deriving it
    lets a collector recompute it from the key alone. It stays a hint: always verify against the full key."""
    return hashlib.sha256(key).digest()[:8]


def key_id_hex(key_id: bytes) -> str:
    """A keynum as minisign prints it (0.12: `%016" PRIX64` of the little-endian integer; 0.11 drops leading
    zeros)."""
    return f"{int.from_bytes(key_id, 'little'):016X}"


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key with minisign's key id."""

    key_id: bytes
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key_id) != 8 or len(self.key) != 32:
            raise KeyFileError("a public key is an 8-byte key id and a 32-byte Ed25519 key")

    @classmethod
    def for_key(cls, key: bytes) -> PublicKey:
        """The public key `key` with the key id derived from it."""
        return cls(derive_key_id(key), key)

    @classmethod
    def from_base64(cls, text: str | bytes) -> PublicKey:
        """The key from its one-line form (`RW...`, what `minisign -P` takes)."""
        raw = _b64decode(text.encode("ascii", "replace") if isinstance(text, str) else text)
        if raw is not None and len(raw) == _SECRET_KEY_LEN:
            raise KeyFileError("this is a secret key, not a public key: give the .pub file (and keep this one private)")
        if raw is None or len(raw) != 42:
            raise KeyFileError("not a minisign public key: the key line is not base64 of 42 bytes")
        if raw[:2] != KEY_ALGORITHM:
            raise KeyFileError(f"not a minisign public key: unsupported algorithm {raw[:2]!r}")
        return cls(raw[2:10], raw[10:])

    @classmethod
    def from_file(cls, data: bytes) -> PublicKey:
        """Parse a public key file (two lines; as minisign, the first is a comment). A file holding only the
        key line is accepted too, as people paste the `RW...` line alone."""
        lines = _lines(data)
        if len(lines) == 1 and not lines[0].startswith(COMMENT_PREFIX):
            return cls.from_base64(lines[0])
        if len(lines) < 2:
            raise KeyFileError("not a minisign public key: truncated (a comment line and a key line expected)")
        return cls.from_base64(lines[1])

    def to_base64(self) -> str:
        """The one-line form (`RW...`)."""
        return base64.b64encode(KEY_ALGORITHM + self.key_id + self.key).decode("ascii")

    def to_file(self) -> bytes:
        """The public key file, as `minisign -G` writes it."""
        comment = f"untrusted comment: minisign public key {self.key_id_hex}\n"
        return (comment + self.to_base64() + "\n").encode("ascii")

    @property
    def key_id_hex(self) -> str:
        return key_id_hex(self.key_id)

    @functools.cached_property  # a collector asks for it several times an upload
    def probe_id(self) -> str:
        """Hex SHA-256 of the 32-byte key: the probe's identity in result files and at the collector."""
        return hashlib.sha256(self.key).hexdigest()


@dataclass(frozen=True)
class SecretKey:
    """An unencrypted Ed25519 secret key with minisign's key id. `seed` is never shown in a repr."""

    key_id: bytes
    seed: bytes = field(repr=False)
    public: bytes

    def __post_init__(self) -> None:
        if len(self.key_id) != 8 or len(self.seed) != 32 or len(self.public) != 32:
            raise KeyFileError("a secret key is an 8-byte key id, a 32-byte seed and a 32-byte public key")

    @classmethod
    def generate(cls) -> SecretKey:
        """A new key pair, its key id derived from the public key."""
        seed = os.urandom(32)
        public = _public_half(seed)
        return cls(derive_key_id(public), seed, public)

    @classmethod
    def from_file(cls, data: bytes) -> SecretKey:
        """Parse an unencrypted minisign secret key file (`minisign -G -W`), checking its checksum and that the
        public half belongs to the seed."""
        lines = _lines(data)
        if len(lines) < 2:
            raise KeyFileError("not a minisign secret key: truncated (a comment line and a key line expected)")
        raw = _b64decode(lines[1])
        if raw is None or len(raw) != _SECRET_KEY_LEN:
            raise KeyFileError(f"not a minisign secret key: the key line is not base64 of {_SECRET_KEY_LEN} bytes")
        algorithm, kdf, checksum_algorithm = raw[0:2], raw[2:4], raw[4:6]
        key_id, seed, public, checksum = raw[54:62], raw[62:94], raw[94:126], raw[126:158]
        if algorithm != KEY_ALGORITHM:
            raise KeyFileError(f"not a minisign secret key: unsupported algorithm {algorithm!r}")
        if checksum_algorithm != CHECKSUM_ALGORITHM:
            raise KeyFileError(f"not a minisign secret key: unsupported checksum {checksum_algorithm!r}")
        if kdf == KDF_SCRYPT:
            raise KeyFileError(
                "the secret key is protected by a password; probe signs unattended and needs an unencrypted key "
                "(`minisign -C -W -s FILE` removes the password)"
            )
        if kdf != KDF_NONE:
            raise KeyFileError(f"not a minisign secret key: unsupported key derivation {kdf!r}")
        # `minisign -G -W` (0.11, 0.12) leaves the checksum zero: only password-protected keys get one there.
        if checksum != bytes(32) and checksum != _checksum(key_id, seed, public):
            raise KeyFileError("the secret key is corrupt: its checksum does not match")
        if _public_half(seed) != public:
            raise KeyFileError("the secret key is corrupt: its public half does not belong to it")
        return cls(key_id, seed, public)

    def to_file(self, comment: str = "probe secret key, unencrypted: keep it private") -> bytes:
        """The secret key file in minisign's format, unencrypted (salt and KDF limits zero, as `minisign -W`)."""
        body = (
            KEY_ALGORITHM
            + KDF_NONE
            + CHECKSUM_ALGORITHM
            + bytes(32 + 8 + 8)
            + self.key_id
            + self.seed
            + self.public
            + _checksum(self.key_id, self.seed, self.public)
        )
        line = _comment_line(COMMENT_PREFIX, comment, _COMMENT_LINE_MAX)
        return line + base64.b64encode(body) + b"\n"

    def public_key(self) -> PublicKey:
        return PublicKey(self.key_id, self.public)


@dataclass(frozen=True)
class Signature:
    """The four lines of a `.minisig` file, decoded but not yet verified."""

    untrusted_comment: str
    algorithm: bytes
    key_id: bytes
    signature: bytes
    trusted_comment: str
    comment_signature: bytes

    @property
    def key_id_hex(self) -> str:
        return key_id_hex(self.key_id)


def sign(data: bytes, secret: SecretKey, trusted_comment: str, untrusted_comment: str) -> bytes:
    """The `.minisig` file for `data`: prehashed (`ED`), as `minisign -S -t TRUSTED -c UNTRUSTED` writes it, byte
    for byte (Ed25519 is deterministic). Raises ValueError for a comment minisign would refuse."""
    if not _printable(trusted_comment.encode("utf-8")):
        raise ValueError("a trusted comment may hold only printable characters and tabs")
    comment = _comment_line(COMMENT_PREFIX, untrusted_comment, _COMMENT_LINE_MAX)
    trusted = _comment_line(TRUSTED_COMMENT_PREFIX, trusted_comment, _TRUSTED_COMMENT_LINE_MAX)
    signature = _sign(secret.seed, _prehash(data))
    comment_signature = _sign(secret.seed, signature + trusted_comment.encode("utf-8"))
    return (
        comment
        + base64.b64encode(HASHED + secret.key_id + signature)
        + b"\n"
        + trusted
        + base64.b64encode(comment_signature)
        + b"\n"
    )


def parse(minisig: bytes) -> Signature:
    """Decode a `.minisig` file; raises SignatureError (code `garbled`) naming what is wrong with it."""
    lines = _lines(minisig)
    if len(lines) < 4:
        raise SignatureError(
            f"garbled signature file: truncated ({len(lines)} of the 4 lines of a minisign signature)", "garbled"
        )
    comment, encoded, trusted, encoded_comment_signature = lines[:4]
    if len(comment) > _COMMENT_LINE_MAX or not comment.startswith(COMMENT_PREFIX):
        raise SignatureError('garbled signature file: line 1 is not an "untrusted comment: " line', "garbled")
    raw = _b64decode(encoded)
    if raw is None or len(raw) != _SIGNATURE_LEN:
        raise SignatureError("garbled signature file: line 2 is not base64 of a 74-byte signature", "garbled")
    if raw[:2] not in (HASHED, LEGACY):
        raise SignatureError(f"garbled signature file: unsupported signature algorithm {raw[:2]!r}", "garbled")
    if len(trusted) > _TRUSTED_COMMENT_LINE_MAX or not trusted.startswith(TRUSTED_COMMENT_PREFIX):
        raise SignatureError('garbled signature file: line 3 is not a "trusted comment: " line', "garbled")
    trusted_text = trusted[len(TRUSTED_COMMENT_PREFIX) :]
    if not _printable(trusted_text):
        raise SignatureError("garbled signature file: the trusted comment has unprintable characters", "garbled")
    comment_signature = _b64decode(encoded_comment_signature)
    if comment_signature is None or len(comment_signature) != 64:
        raise SignatureError("garbled signature file: line 4 is not base64 of a 64-byte signature", "garbled")
    if any(line.strip() for line in lines[4:]):
        raise SignatureError("garbled signature file: text after the 4 lines of a minisign signature", "garbled")
    return Signature(
        untrusted_comment=comment[len(COMMENT_PREFIX) :].decode("utf-8", "replace"),
        algorithm=raw[:2],
        key_id=raw[2:10],
        signature=raw[10:],
        trusted_comment=trusted_text.decode("utf-8"),
        comment_signature=comment_signature,
    )


def verify(data: bytes, minisig: bytes, public: PublicKey) -> str:
    """Check `minisig` over `data` with `public`, in minisign's order (format, algorithm, key id, signature,
    comment signature); return the trusted comment. Raises SignatureError with the reason."""
    parsed = parse(minisig)
    if parsed.algorithm == LEGACY:
        raise SignatureError(
            "legacy signature (algorithm Ed, over the raw file): only prehashed (ED) signatures are accepted, "
            "as with minisign -H",
            "legacy",
        )
    if parsed.key_id != public.key_id:
        raise SignatureError(
            f"key id mismatch: signed by key {parsed.key_id_hex}, but the public key is {public.key_id_hex}",
            "key_id",
        )
    if not _verifies(public.key, parsed.signature, _prehash(data)):
        raise SignatureError("signature verification failed: the file is not what this key signed", "signature")
    if not _verifies(public.key, parsed.comment_signature, parsed.signature + parsed.trusted_comment.encode("utf-8")):
        raise SignatureError(
            "comment signature verification failed: the trusted comment is not what this key signed",
            "comment_signature",
        )
    return parsed.trusted_comment


# Ed25519 and the prehash come from libsodium (PyNaCl), minisign's own library: what it accepts is what minisign
# accepts (libsodium refuses non-canonical signatures and small-order keys), and it verifies twice as fast as
# OpenSSL here (100 against 200 us), which the collector pays twice an upload. Loaded on first use, not at import.


def _prehash(data: bytes) -> bytes:
    """BLAKE2b-512 of `data`: what an `ED` signature signs (libsodium's is a third faster than hashlib's here)."""
    from nacl.bindings import crypto_generichash_blake2b_salt_personal

    return crypto_generichash_blake2b_salt_personal(data, digest_size=64)


def _public_half(seed: bytes) -> bytes:
    from nacl.bindings import crypto_sign_seed_keypair

    public, _ = crypto_sign_seed_keypair(seed)
    return public


def _sign(seed: bytes, message: bytes) -> bytes:
    from nacl.signing import SigningKey

    return SigningKey(seed).sign(message).signature


def _verifies(public: bytes, signature: bytes, message: bytes) -> bool:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    try:
        VerifyKey(public).verify(message, signature)
    except BadSignatureError:
        return False
    return True


def _checksum(key_id: bytes, seed: bytes, public: bytes) -> bytes:
    return hashlib.blake2b(KEY_ALGORITHM + key_id + seed + public, digest_size=32).digest()


def _lines(data: bytes) -> list[bytes]:
    """Lines without their LF; a CR may end a line (a file that went through Windows), nowhere else."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _b64decode(text: bytes) -> bytes | None:
    """Strict, canonical standard base64 (padding bits zero), or None."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw) == text else None


def _comment_line(prefix: bytes, comment: str, limit: int) -> bytes:
    line = prefix + comment.encode("utf-8")
    if b"\n" in line or b"\r" in line:
        raise ValueError(f"a {prefix.decode().rstrip(': ')} is one line")
    if len(line) > limit:
        raise ValueError(f"a {prefix.decode().rstrip(': ')} line is at most {limit} bytes")
    return line + b"\n"


def _printable(text: bytes) -> bool:
    """minisign 0.12's rule for trusted comments: tabs, printable ASCII and valid UTF-8 without control
    characters."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _UNPRINTABLE.search(decoded) is None
