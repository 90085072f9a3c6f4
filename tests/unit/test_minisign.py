"""minisign's formats, pure: known answers from the stock tool, round trips, and every way a file can be wrong.

The interop tests against the `minisign` binary itself live in tests/test_signing_cli.py; here a key pair and a
signature that minisign 0.11 wrote (`minisign -G -W`, then `minisign -S` of b"hi\\n") are the known answer.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from probe import minisign
from probe.minisign import KeyFileError, PublicKey, SecretKey, SignatureError

# Written by minisign 0.11 (Debian 12): `minisign -G -W -p k.pub -s k.key`, `minisign -S -s k.key -m f`.
STOCK_SECRET = (
    b"untrusted comment: minisign encrypted secret key\n"
    b"RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAATOjprYGLIgUZPzI0RRrmzghLoFcRgDyIbNHWjLCpZ"
    b"FiPO7Ub/i5cnIP5xj7ERZGjJb/q+s1W+wXSs0BldsEKneUK/UqaBE+xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
)
STOCK_PUBLIC = (
    b"untrusted comment: minisign public key 5228B81ADE9E84C\n"
    b"RWRM6OmtgYsiBYP5xj7ERZGjJb/q+s1W+wXSs0BldsEKneUK/UqaBE+x\n"
)
STOCK_DATA = b"hi\n"
STOCK_TRUSTED = "timestamp:1795909687\tfile:f\thashed"
STOCK_SIGNATURE = (
    b"untrusted comment: signature from minisign secret key\n"
    b"RURM6OmtgYsiBfWSiwWkPl2DoAf2hT4zJNl4uCFuFV82/RbepJL7ZmlS28IJQBJEfHjvSPSmdQm/+28mIF2YjHSNV5iKG9OqQwA=\n"
    b"trusted comment: timestamp:1795909687\tfile:f\thashed\n"
    b"MN3VNLpokVFSNIathKzP0VHI96fY8uiZriQJbxOo0vSF64TwAi6ZtlS+hG/DRAu5gyP03ksiG/tqZyx+ohujDQ==\n"
)


@pytest.fixture(scope="module")
def secret() -> SecretKey:
    return SecretKey.generate()


@pytest.fixture(scope="module")
def signed(secret: SecretKey) -> tuple[bytes, bytes]:
    data = bytes(range(256)) + b'{"test_name":"messaging_reachability"}\n'
    return data, minisign.sign(data, secret, "timestamp:1\tfile:r.jsonl\thashed\tv:1", "signature from probe")


def test_a_stock_signature_verifies_and_python_writes_the_very_same_bytes() -> None:
    secret = SecretKey.from_file(STOCK_SECRET)
    public = PublicKey.from_file(STOCK_PUBLIC)
    assert secret.public_key() == public
    assert minisign.verify(STOCK_DATA, STOCK_SIGNATURE, public) == STOCK_TRUSTED
    # Ed25519 is deterministic: the same key, data and comments give minisign's file byte for byte.
    assert minisign.sign(STOCK_DATA, secret, STOCK_TRUSTED, "signature from minisign secret key") == STOCK_SIGNATURE


def test_key_id_prints_as_minisign_prints_it() -> None:
    # research/signing_upload.md: bytes 8b 25 c3 1c 4e 85 4f f0 print as F04F854E1CC3258B (little-endian u64).
    assert minisign.key_id_hex(bytes.fromhex("8b25c31c4e854ff0")) == "F04F854E1CC3258B"
    # minisign 0.12 pads to 16 digits (0.11 wrote "5228B81ADE9E84C" in STOCK_PUBLIC's comment).
    assert PublicKey.from_file(STOCK_PUBLIC).key_id_hex == "05228B81ADE9E84C"


def test_a_generated_key_derives_its_id_and_probe_id_from_the_public_key(secret: SecretKey) -> None:
    public = secret.public_key()
    assert public.key_id == hashlib.sha256(public.key).digest()[:8]
    assert public.probe_id == hashlib.sha256(public.key).hexdigest()
    assert PublicKey.for_key(public.key) == public
    assert SecretKey.generate().public != secret.public


def test_key_files_round_trip_in_minisign_format(secret: SecretKey) -> None:
    public = secret.public_key()
    text = public.to_file()
    assert text.startswith(b"untrusted comment: minisign public key " + public.key_id_hex.encode() + b"\n")
    assert base64.b64decode(text.splitlines()[1])[:2] == b"Ed"
    assert PublicKey.from_file(text) == public
    assert PublicKey.from_file(public.to_base64().encode() + b"\n") == public  # the bare `RW...` line
    assert SecretKey.from_file(secret.to_file()) == secret
    raw = base64.b64decode(secret.to_file().splitlines()[1])
    assert len(raw) == 158 and raw[:6] == b"Ed\0\0B2"
    assert raw[-32:] == hashlib.blake2b(b"Ed" + raw[54:126], digest_size=32).digest()


def test_the_seed_never_shows_in_a_repr(secret: SecretKey) -> None:
    assert secret.seed.hex() not in repr(secret)
    assert repr(secret.seed) not in repr(secret)


def _secret_with(secret: SecretKey, start: int, replacement: bytes | int) -> bytes:
    """The key file with bytes from `start` replaced, or (an int) one byte XORed with it: overwriting a random byte
    with a constant leaves it unchanged whenever it already held that value, and the test would flake."""
    raw = bytearray(base64.b64decode(secret.to_file().splitlines()[1]))
    if isinstance(replacement, int):
        raw[start] ^= replacement
    else:
        raw[start : start + len(replacement)] = replacement
    return b"untrusted comment: x\n" + base64.b64encode(bytes(raw)) + b"\n"


@pytest.mark.parametrize(
    ("start", "replacement", "reason"),
    [
        (2, b"Sc", "protected by a password"),
        (2, b"Xx", "unsupported key derivation"),
        (0, b"EE", "unsupported algorithm"),
        (4, b"B3", "unsupported checksum"),
        (126, 0x01, "checksum does not match"),
        (100, 0x01, "checksum does not match"),
    ],
)
def test_a_bad_secret_key_is_refused_with_the_reason(
    secret: SecretKey, start: int, replacement: bytes | int, reason: str
) -> None:
    with pytest.raises(KeyFileError, match=reason):
        SecretKey.from_file(_secret_with(secret, start, replacement))


def test_a_secret_key_whose_public_half_is_not_its_own_is_refused(secret: SecretKey) -> None:
    other = SecretKey.generate()
    forged = SecretKey.__new__(SecretKey)
    object.__setattr__(forged, "key_id", secret.key_id)
    object.__setattr__(forged, "seed", secret.seed)
    object.__setattr__(forged, "public", other.public)
    with pytest.raises(KeyFileError, match="public half"):
        SecretKey.from_file(forged.to_file())


@pytest.mark.parametrize(
    "text",
    [b"", b"untrusted comment: x\n", b"untrusted comment: x\nRWQ=\n", b"untrusted comment: x\n!!!!\n", b"\x00" * 40],
)
def test_truncated_or_garbled_key_files_are_refused(text: bytes) -> None:
    with pytest.raises(KeyFileError):
        SecretKey.from_file(text)
    with pytest.raises(KeyFileError):
        PublicKey.from_file(text)


def test_a_public_key_of_another_algorithm_is_refused(secret: SecretKey) -> None:
    raw = b"XX" + secret.key_id + secret.public
    with pytest.raises(KeyFileError, match="unsupported algorithm"):
        PublicKey.from_file(b"untrusted comment: x\n" + base64.b64encode(raw) + b"\n")


def test_a_signature_verifies_and_returns_the_trusted_comment(secret: SecretKey, signed: tuple[bytes, bytes]) -> None:
    data, minisig = signed
    assert minisign.verify(data, minisig, secret.public_key()) == "timestamp:1\tfile:r.jsonl\thashed\tv:1"
    parsed = minisign.parse(minisig)
    assert parsed.algorithm == b"ED" and parsed.key_id == secret.key_id
    assert parsed.untrusted_comment == "signature from probe"


def test_a_signature_with_crlf_line_ends_still_verifies(secret: SecretKey, signed: tuple[bytes, bytes]) -> None:
    data, minisig = signed
    assert minisign.verify(data, minisig.replace(b"\n", b"\r\n"), secret.public_key())


def _code(data: bytes, minisig: bytes, public: PublicKey) -> str:
    with pytest.raises(SignatureError) as caught:
        minisign.verify(data, minisig, public)
    return caught.value.code


def test_every_changed_byte_of_the_file_is_caught(secret: SecretKey, signed: tuple[bytes, bytes]) -> None:
    data, minisig = signed
    for i in range(len(data)):
        for mask in (0x01, 0x80):
            changed = bytearray(data)
            changed[i] ^= mask
            assert _code(bytes(changed), minisig, secret.public_key()) == "signature", (i, mask)
    assert _code(data + b"\n", minisig, secret.public_key()) == "signature"
    assert _code(data[:-1], minisig, secret.public_key()) == "signature"


def test_every_changed_byte_of_the_signature_lines_is_caught(secret: SecretKey, signed: tuple[bytes, bytes]) -> None:
    """Lines 2-4 and the prefix of line 1, each byte changed in one bit and in all bits. Only the text of the
    untrusted comment may change: minisign does not authenticate it either."""
    data, minisig = signed
    public = secret.public_key()
    free = range(len(b"untrusted comment: "), minisig.index(b"\n"))
    for i in range(len(minisig)):
        for mask in (0x01, 0x02, 0x20, 0xFF):
            changed = bytearray(minisig)
            changed[i] ^= mask
            if i in free and changed[i] != 0x0A:
                minisign.verify(data, bytes(changed), public)
                continue
            with pytest.raises(SignatureError):
                minisign.verify(data, bytes(changed), public)


def test_every_changed_bit_of_the_decoded_signatures_gives_the_precise_reason(
    secret: SecretKey, signed: tuple[bytes, bytes]
) -> None:
    data, minisig = signed
    lines = minisig.split(b"\n")
    public = secret.public_key()
    raw = base64.b64decode(lines[1])
    for i in range(len(raw)):
        changed = bytearray(raw)
        changed[i] ^= 0x04
        forged = b"\n".join([lines[0], base64.b64encode(bytes(changed)), *lines[2:]])
        expected = "garbled" if i < 2 else "key_id" if i < 10 else "signature"
        assert _code(data, forged, public) == expected, i
    comment_signature = base64.b64decode(lines[3])
    for i in range(len(comment_signature)):
        changed = bytearray(comment_signature)
        changed[i] ^= 0x04
        forged = b"\n".join([*lines[:3], base64.b64encode(bytes(changed)), b""])
        assert _code(data, forged, public) == "comment_signature", i


def test_a_changed_trusted_comment_is_caught(secret: SecretKey, signed: tuple[bytes, bytes]) -> None:
    data, minisig = signed
    forged = minisig.replace(b"file:r.jsonl", b"file:s.jsonl")
    assert _code(data, forged, secret.public_key()) == "comment_signature"


def test_non_canonical_base64_is_refused(secret: SecretKey, signed: tuple[bytes, bytes]) -> None:
    """The last character before '=' carries padding bits that minisign ignores; we do not."""
    data, minisig = signed
    lines = minisig.split(b"\n")
    assert lines[1].endswith(b"=") and not lines[1].endswith(b"==")
    last = lines[1][-2:-1]
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    padded = alphabet[alphabet.index(last) ^ 0x01 : (alphabet.index(last) ^ 0x01) + 1]
    lines[1] = lines[1][:-2] + padded + b"="
    assert base64.b64decode(lines[1]) == base64.b64decode(minisig.split(b"\n")[1])  # same bytes, other text
    assert _code(data, b"\n".join(lines), secret.public_key()) == "garbled"


def test_a_legacy_signature_is_refused(secret: SecretKey) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = b"raw"
    key = Ed25519PrivateKey.from_private_bytes(secret.seed)
    signature = key.sign(data)
    trusted = b"timestamp:1"
    legacy = (
        b"untrusted comment: legacy\n"
        + base64.b64encode(b"Ed" + secret.key_id + signature)
        + b"\ntrusted comment: "
        + trusted
        + b"\n"
        + base64.b64encode(key.sign(signature + trusted))
        + b"\n"
    )
    with pytest.raises(SignatureError, match="legacy") as caught:
        minisign.verify(data, legacy, secret.public_key())
    assert caught.value.code == "legacy"


def test_another_key_gives_a_key_id_mismatch_naming_both_ids(signed: tuple[bytes, bytes], secret: SecretKey) -> None:
    data, minisig = signed
    other = SecretKey.generate().public_key()
    with pytest.raises(SignatureError, match=f"{secret.public_key().key_id_hex}.*{other.key_id_hex}"):
        minisign.verify(data, minisig, other)
    # Same key id, other key (ids are only a hint): the signature itself fails.
    impostor = PublicKey(secret.key_id, other.key)
    assert _code(data, minisig, impostor) == "signature"


@pytest.mark.parametrize(
    "key",
    [bytes(32), b"\x01" + bytes(31), b"\xff" * 32],
    ids=["zero", "identity (small order)", "not a point"],
)
def test_a_public_key_that_is_no_valid_point_fails_the_signature(
    signed: tuple[bytes, bytes], secret: SecretKey, key: bytes
) -> None:
    """A key file can hold any 32 bytes: a weak or invalid key is refused as a failed signature, not a crash
    (libsodium, as minisign, rejects small-order keys outright)."""
    data, minisig = signed
    assert _code(data, minisig, PublicKey(secret.key_id, key)) == "signature"


@pytest.mark.parametrize(
    ("minisig", "reason"),
    [
        (b"", "truncated"),
        (b"untrusted comment: x\n", "truncated"),
        (STOCK_SIGNATURE[: STOCK_SIGNATURE.rindex(b"trusted")], "truncated"),
        (STOCK_SIGNATURE.replace(b"untrusted comment: ", b"comment: "), "line 1"),
        (STOCK_SIGNATURE.replace(b"trusted comment: t", b"comment: t"), "line 3"),
        (STOCK_SIGNATURE.replace(b"RURM", b"RUR"), "line 2"),
        (STOCK_SIGNATURE.replace(b"RURM", b"RXRM"), "unsupported signature algorithm"),
        (STOCK_SIGNATURE.replace(b"ohujDQ==", b"ohujDQ"), "line 4"),
        (STOCK_SIGNATURE.replace(b"\tfile", b"\x07file"), "unprintable"),
        (STOCK_SIGNATURE + b"more\n", "after the 4 lines"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00\n" * 4, "line 1"),
    ],
)
def test_garbled_signature_files_name_the_problem(minisig: bytes, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason) as caught:
        minisign.verify(STOCK_DATA, minisig, PublicKey.from_file(STOCK_PUBLIC))
    assert caught.value.code == "garbled"


@pytest.mark.parametrize(
    ("trusted", "untrusted"),
    [("a\nb", "x"), ("a\rb", "x"), ("a\x00b", "x"), ("ok", "x\ny"), ("x" * 8200, "x"), ("ok", "x" * 1010)],
)
def test_sign_refuses_comments_minisign_would_refuse(secret: SecretKey, trusted: str, untrusted: str) -> None:
    with pytest.raises(ValueError):
        minisign.sign(b"data", secret, trusted, untrusted)


@pytest.mark.parametrize(
    ("trusted", "printable"),
    [
        ("tab\tsepar\u00e9 \u4e2d ~", True),  # tabs, printable ASCII and any printable UTF-8
        ("a\x01b", False),
        ("a\x1fb", False),
        ("a\x7fb", False),  # DEL
        ("a\x85b", False),  # C1 controls too
        ("a\x9fb", False),
        ("a\xa0b", True),  # the first character past C1
    ],
)
def test_trusted_comments_follow_minisigns_printable_rule(secret: SecretKey, trusted: str, printable: bool) -> None:
    if printable:
        assert minisign.verify(b"data", minisign.sign(b"data", secret, trusted, "x"), secret.public_key()) == trusted
    else:
        with pytest.raises(ValueError, match="printable"):
            minisign.sign(b"data", secret, trusted, "x")


def test_the_longest_comments_minisign_reads_are_signed(secret: SecretKey) -> None:
    trusted = "t" * (8192 - 2 - len("trusted comment: "))
    untrusted = "u" * (1024 - 2 - len("untrusted comment: "))
    minisig = minisign.sign(b"data", secret, trusted, untrusted)
    assert minisign.verify(b"data", minisig, secret.public_key()) == trusted


def test_a_secret_key_given_as_a_public_key_is_named_as_such(secret: SecretKey) -> None:
    with pytest.raises(KeyFileError, match="this is a secret key"):
        PublicKey.from_file(secret.to_file())
