"""What the probe and the collector must agree on, byte for byte: defined once, used by both sides (contract,
"Upload", and the result format). The tests spell these values out literally, on purpose: changing one here is a
change of the stable API, and must fail them."""

from __future__ import annotations

from pathlib import Path

TEST_NAME = "messaging_reachability"  # every result line's OONI test_name
SIGNATURE_SUFFIX = ".minisig"  # a result file F's signature is F + SIGNATURE_SUFFIX, on disk and in the store
RESULTS_PATH = "/v1/results/"  # PUT RESULTS_PATH + <sha256 of the body>
SIGNATURE_HEADER = "Probe-Signature"  # base64 of the .minisig file
PUBLIC_KEY_HEADER = "Probe-Public-Key"  # the signer's minisign public key line (RW...)


def signature_path(result_file: Path) -> Path:
    """Where the signature of `result_file` lives: beside it, with SIGNATURE_SUFFIX appended."""
    return result_file.with_name(result_file.name + SIGNATURE_SUFFIX)
