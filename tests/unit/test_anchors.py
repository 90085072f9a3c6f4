"""The bundled trust anchors: each file is what probe/anchors.py says it is (subject, validity, fingerprint), a CA
certificate that signs itself, and installed with the target lists."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from probe import targets
from probe.anchors import ANCHORS, Anchor, anchor_path


@pytest.mark.parametrize("anchor", ANCHORS.values(), ids=lambda a: a.name)
def test_the_file_is_the_described_ca_certificate(anchor: Anchor) -> None:
    (cert,) = x509.load_pem_x509_certificates(anchor_path(anchor.name).read_bytes())
    assert cert.subject.rfc4514_string() == anchor.subject
    assert cert.not_valid_before_utc.date().isoformat() == anchor.not_before
    assert cert.not_valid_after_utc.date().isoformat() == anchor.not_after
    assert cert.fingerprint(hashes.SHA256()).hex() == anchor.sha256
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey) and cert.signature_hash_algorithm is not None
    # a root signs itself: a single changed byte in the file breaks this
    public_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    assert anchor.source and anchor.name == anchor.file.removesuffix(".pem")


def test_every_anchor_a_list_names_exists_and_is_used() -> None:
    used = {t.ca for t in targets.load() if t.ca is not None}
    assert used == set(ANCHORS)
