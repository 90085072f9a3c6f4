"""Trust anchors: the system store plus the user's `--ca-file`s, as OpenSSL client contexts.

Validation is OpenSSL's, as in the apps whose reachability we measure: a stricter validator (web PKI policy
checkers reject, say, a critical subjectAltName that OpenSSL accepts) would call a working server intercepted.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path

from probe.failures import CertificateError, Failure

ALPN = ("h2", "http/1.1")


class TrustStore:
    """The trust anchors of a run: the system store (unless `system=False`) plus the user's `--ca-file`s; and the
    bundled anchors a target list names with `ca` (probe/anchors.py), each alone, `anchors` replacing some."""

    def __init__(
        self, extra_ca_files: Sequence[Path] = (), *, system: bool = True, anchors: Mapping[str, Path] | None = None
    ) -> None:
        self.extra_ca_files = tuple(extra_ca_files)
        self.system = system
        self.anchors = dict(anchors or {})
        self.ssl_context()  # fail now, with a clear message, on an unreadable --ca-file
        for name in self.anchors:
            self.pinned_context(name)  # ... or --anchor file

    def pinned_context(self, name: str) -> ssl.SSLContext:
        """A verifying client context that trusts anchor `name` alone (issue 16: Signal's own CA): neither the
        system store nor `--ca-file` count, so any other issuer fails validation, as in the app that pins it."""
        from probe.anchors import anchor_path

        path = self.anchors.get(name) or anchor_path(name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise CertificateError(
                Failure.SSL_UNKNOWN_AUTHORITY, f"cannot load anchor {name} from {path}: {exc}"
            ) from exc
        return context

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

    def handshake_context(self, ca: str | None = None) -> ssl.SSLContext:
        """The context for measured handshakes: verifying (against anchor `ca` alone, when given), TLS 1.2 or
        1.3, offering h2 and http/1.1 like an app."""
        context = self.ssl_context() if ca is None else self.pinned_context(ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(list(ALPN))
        return context

    def transfer_context(self, ca: str | None = None, *, verify: bool = True) -> ssl.SSLContext:
        """The context for a transfer (probe.net.transfer): HTTP/1.1 only; without validation for the control
        SNI's transfer, which measures the path and not the server's identity."""
        if verify:
            context = self.ssl_context() if ca is None else self.pinned_context(ca)
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        return context
