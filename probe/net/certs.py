"""Trust anchors: the system store plus the user's `--ca-file`s, as OpenSSL client contexts.

Validation is OpenSSL's, as in the apps whose reachability we measure: a stricter validator (web PKI policy
checkers reject, say, a critical subjectAltName that OpenSSL accepts) would call a working server intercepted.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

from probe.failures import CertificateError, Failure

ALPN = ("h2", "http/1.1")


class TrustStore:
    """The trust anchors of a run: the system store (unless `system=False`) plus the user's `--ca-file`s."""

    def __init__(self, extra_ca_files: Sequence[Path] = (), *, system: bool = True) -> None:
        self.extra_ca_files = tuple(extra_ca_files)
        self.system = system
        self.ssl_context()  # fail now, with a clear message, on an unreadable --ca-file

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context (certificate chain and host name) with these anchors."""
        context = ssl.create_default_context() if self.system else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for path in self.extra_ca_files:
            try:
                context.load_verify_locations(cafile=str(path))
            except (OSError, ssl.SSLError) as exc:
                problem = f"cannot load trust anchors from {path}: {exc}"
                raise CertificateError(Failure.SSL_UNKNOWN_AUTHORITY, problem) from exc
        return context

    def handshake_context(self) -> ssl.SSLContext:
        """The context for measured handshakes: verifying, TLS 1.2 or 1.3, offering h2 and http/1.1 like an app."""
        context = self.ssl_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(list(ALPN))
        return context
