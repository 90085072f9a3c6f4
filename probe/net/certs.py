"""Certificate path validation, done apart from the handshake so a failing chain is still recorded whole.

The handshake runs without verification (probe.net.tls); this module then decides, with the `cryptography`
verifier, whether the chain is valid for the name, and if not, why: an untrusted issuer, a wrong name, or an
expired certificate are different stories (an interception box versus a misconfigured server).
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from probe.failures import CertificateError, Failure

# Debian's and most distributions' bundle; ssl's own idea of the default comes first.
_SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")


class TrustStore:
    """The trust anchors of a run: the system store plus the user's `--ca-file`s."""

    def __init__(self, extra_ca_files: Sequence[Path] = (), *, system: bool = True) -> None:
        self.extra_ca_files = tuple(extra_ca_files)
        self.system_bundle = _system_bundle() if system else None
        anchors: list[x509.Certificate] = []
        for path in ([self.system_bundle] if self.system_bundle else []) + list(self.extra_ca_files):
            anchors.extend(_load_pem(path))
        if not anchors:
            raise CertificateError(Failure.SSL_UNKNOWN_AUTHORITY, "no trust anchors: no system store, no --ca-file")
        self._store = Store(anchors)

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context with the same anchors (for DoH and uploads)."""
        context = ssl.create_default_context(cafile=str(self.system_bundle) if self.system_bundle else None)
        for path in self.extra_ca_files:
            context.load_verify_locations(cafile=str(path))
        return context

    def validate(self, chain_der: Sequence[bytes], server_name: str, now: datetime | None = None) -> None:
        """Raise CertificateError unless `chain_der` (leaf first) is valid for `server_name` at `now`."""
        if not chain_der:
            raise CertificateError(Failure.SSL_FAILED_HANDSHAKE, "the server sent no certificate")
        try:
            chain = [x509.load_der_x509_certificate(der) for der in chain_der]
        except ValueError as exc:
            raise CertificateError(Failure.SSL_INVALID_CERTIFICATE, f"unparsable certificate: {exc}") from exc
        when = now or datetime.now(UTC)
        leaf, intermediates = chain[0], chain[1:]
        try:
            self._verifier(server_name, when).verify(leaf, intermediates)
            return
        except VerificationError as exc:
            detail = str(exc)
        # Why did it fail? Try the chain again for a name the leaf does claim: if that passes, the only
        # problem is the name.
        claimed = _claimed_names(leaf)
        if claimed and not _name_matches(server_name, claimed):
            try:
                self._verifier(claimed[0], when).verify(leaf, intermediates)
            except VerificationError:
                pass
            else:
                raise CertificateError(Failure.SSL_INVALID_HOSTNAME, f"certificate is for {', '.join(claimed[:4])}")
        if any(not (c.not_valid_before_utc <= when <= c.not_valid_after_utc) for c in chain):
            raise CertificateError(Failure.SSL_INVALID_CERTIFICATE, f"certificate outside its validity: {detail}")
        raise CertificateError(Failure.SSL_UNKNOWN_AUTHORITY, detail)

    def _verifier(self, name: str, when: datetime):  # type: ignore[no-untyped-def]
        subject = _subject(name)
        return PolicyBuilder().store(self._store).time(when).build_server_verifier(subject)


def _subject(name: str) -> DNSName | IPAddress:
    import ipaddress

    try:
        return IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return DNSName(name)


def _claimed_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in san.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]


def _name_matches(name: str, claimed: Sequence[str]) -> bool:
    """RFC 6125 section 6.4.3: a wildcard covers exactly one left-most label."""
    name = name.lower().rstrip(".")
    for pattern in (c.lower().rstrip(".") for c in claimed):
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def _system_bundle() -> Path | None:
    default = ssl.get_default_verify_paths().cafile
    for candidate in ([default] if default else []) + list(_SYSTEM_BUNDLES):
        path = Path(candidate)
        if path.is_file():
            return path
    return None


def _load_pem(path: Path) -> list[x509.Certificate]:
    try:
        with warnings.catch_warnings():
            # Some distribution bundles carry old roots with non-positive serial numbers; they still anchor.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return list(x509.load_pem_x509_certificates(path.read_bytes()))
    except (OSError, ValueError) as exc:
        raise CertificateError(Failure.SSL_UNKNOWN_AUTHORITY, f"cannot read trust anchors from {path}: {exc}") from exc
