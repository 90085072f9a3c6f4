"""Signed result files: the trusted comment describes the file and the probe, and verification checks it."""

from __future__ import annotations

import hashlib

import pytest

from probe import jsonlines, minisign, signing
from probe.minisign import SecretKey, SignatureError

DATA = jsonlines.encode_lines([{"test_name": "messaging_reachability", "input": "tls://talk.kakao.com:443"}])
NAME = "20261128T120000Z-0123456789ab.jsonl"


@pytest.fixture(scope="module")
def secret() -> SecretKey:
    return SecretKey.generate()


def test_the_trusted_comment_carries_what_the_contract_names(secret: SecretKey) -> None:
    minisig = signing.sign_result(DATA, NAME, secret, timestamp=1795910400)
    comment = minisign.parse(minisig).trusted_comment
    assert comment.isascii() and "\t" in comment  # printable ASCII, tabs between the pairs
    assert all(c == "\t" or c.isprintable() for c in comment)
    pairs = signing.parse_trusted_comment(comment)
    assert pairs == {
        "timestamp": "1795910400",
        "file": NAME,
        "hashed": "",
        "v": "1",
        "probe": secret.public_key().probe_id,
        "sha256": hashlib.sha256(DATA).hexdigest(),
        "size": str(len(DATA)),
    }
    # minisign's own keys come first, in its order, so the comment reads like one `minisign -S` writes.
    assert comment.startswith(f"timestamp:1795910400\tfile:{NAME}\thashed\t")
    assert minisign.parse(minisig).untrusted_comment == f"signature from probe {secret.public_key().key_id_hex}"


def test_signing_is_deterministic_for_a_given_time(secret: SecretKey) -> None:
    assert signing.sign_result(DATA, NAME, secret, timestamp=5) == signing.sign_result(DATA, NAME, secret, timestamp=5)


def test_a_signed_result_verifies_and_returns_the_pairs(secret: SecretKey) -> None:
    minisig = signing.sign_result(DATA, NAME, secret)
    pairs = signing.verify_result(DATA, minisig, secret.public_key())
    assert pairs["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert pairs["probe"] == secret.public_key().probe_id


def _signed_with_comment(secret: SecretKey, comment: str) -> bytes:
    return minisign.sign(DATA, secret, comment, "x")


def _comment_for(data: bytes, secret: SecretKey) -> str:
    return signing.trusted_comment(data, NAME, secret.public_key().probe_id, 1)


@pytest.mark.parametrize(
    ("comment", "code", "reason"),
    [
        ("timestamp:1\tfile:f\thashed", "comment", "not a probe's"),
        ("v:2\tprobe:x\tsha256:x\tsize:1", "comment", "format version 2"),
        ("v:1\tprobe:x\tsize:1", "comment", "lacks sha256"),
    ],
)
def test_a_comment_that_is_not_a_probes_is_refused(secret: SecretKey, comment: str, code: str, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason) as caught:
        signing.verify_result(DATA, _signed_with_comment(secret, comment), secret.public_key())
    assert caught.value.code == code


def test_a_valid_signature_whose_comment_describes_other_bytes_is_refused(secret: SecretKey) -> None:
    """The signature over the data holds, but the signed comment names another sha256 or size: a signer that
    lied, or a bug. Both checks matter to a collector that stores files under their sha256."""
    other = DATA + b"{}\n"
    with pytest.raises(SignatureError, match="not the one signed") as caught:
        signing.verify_result(DATA, _signed_with_comment(secret, _comment_for(other, secret)), secret.public_key())
    assert caught.value.code == "content"
    wrong_size = _comment_for(DATA, secret).replace(f"size:{len(DATA)}", f"size:{len(DATA) + 1}")
    with pytest.raises(SignatureError, match="not the one signed"):
        signing.verify_result(DATA, _signed_with_comment(secret, wrong_size), secret.public_key())


def test_a_sha256_the_caller_already_computed_is_used_for_the_comparison(secret: SecretKey) -> None:
    """The collector hashes each upload once (its address) and hands the digest over: the comment is compared with
    that digest, so a right one verifies and a wrong one is refused exactly as other bytes would be."""
    minisig = signing.sign_result(DATA, NAME, secret)
    digest = hashlib.sha256(DATA).hexdigest()
    assert signing.verify_result(DATA, minisig, secret.public_key(), sha256=digest)["sha256"] == digest
    with pytest.raises(SignatureError, match="not the one signed") as caught:
        signing.verify_result(DATA, minisig, secret.public_key(), sha256=hashlib.sha256(b"other").hexdigest())
    assert caught.value.code == "content"


def test_a_comment_naming_another_probe_is_refused(secret: SecretKey) -> None:
    comment = signing.trusted_comment(DATA, NAME, "ab" * 32, 1)
    with pytest.raises(SignatureError, match="names probe abab") as caught:
        signing.verify_result(DATA, _signed_with_comment(secret, comment), secret.public_key())
    assert caught.value.code == "comment"


def test_changed_data_fails_the_signature_before_the_comment(secret: SecretKey) -> None:
    minisig = signing.sign_result(DATA, NAME, secret)
    with pytest.raises(SignatureError) as caught:
        signing.verify_result(DATA.replace(b"kakao", b"kakaO"), minisig, secret.public_key())
    assert caught.value.code == "signature"


@pytest.mark.parametrize("name", ["", "a/b.jsonl", "tab\there.jsonl", "ü.jsonl", "new\nline"])
def test_file_names_that_would_garble_the_comment_are_refused(secret: SecretKey, name: str) -> None:
    with pytest.raises(ValueError):
        signing.sign_result(DATA, name, secret)
