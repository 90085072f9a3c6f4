"""Bundled trust anchors, named by the target lists' `ca` field: for services whose servers present certificates
from their own private CA, which no system store trusts (Signal).

An endpoint with `ca = NAME` is validated against that anchor alone: the system store and `--ca-file` do not
count there, so a certificate from any other issuer, however trusted elsewhere, is an interception (`tls.mitm`).
That is what the app itself does (it pins the CA). `probe run --anchor NAME=FILE` replaces a bundled anchor, for a
CA rotation that reached the servers before a new list (OONI's Signal test met one: ooni/probe#2344) and for the
lab's own "Signal-style" CA.

Each anchor's file lives in the target lists' folder (`targets/anchors/`, installed with them) and is described
here with its source and validity; tests/unit/test_anchors.py holds the file to this description (subject, dates,
SHA-256), so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Anchor:
    """One bundled trust anchor: a PEM file of CA certificates, and where it comes from."""

    name: str
    file: str  # under targets/anchors/
    subject: str  # RFC 4514 subject of the certificate
    not_before: str  # validity, UTC, YYYY-MM-DD
    not_after: str
    sha256: str  # of the DER certificate: a changed file is caught by the test
    source: str


ANCHORS: dict[str, Anchor] = {
    "signal": Anchor(
        name="signal",
        file="signal.pem",
        subject="CN=Signal Messenger,O=Signal Messenger\\, LLC,L=Mountain View,ST=California,C=US",
        not_before="2022-01-26",
        not_after="2032-01-24",
        sha256="ddb0f92bb95c8d6fd202ea6e8cc5ccd182b544f8cd696f47d580659ddc9df65a",
        source="signalapp/libsignal rust/net/res/signal.cer (the root Signal's clients pin); the same certificate "
        "as ooni/probe-cli internal/experiment/signal/signal.go signalCANew (ts-029, 'Signal Messenger' root, "
        "in use since the 2022 rotation, ooni/probe#2344)",
    ),
}


def anchor_path(name: str) -> Path:
    """The bundled PEM file of anchor `name` (KeyError for an unknown name)."""
    anchor = ANCHORS[name]
    # The target lists' package (probe.targets.BUNDLED_PACKAGE), named here too: targets.py imports this module.
    return Path(str(resources.files("probe.bundled_targets").joinpath("anchors", anchor.file)))
