"""Object keys of the dataset, the same on a local folder and on S3 (research note, section 4.2).

The raw key of a file is a function of its bytes alone (its sha256 and the day its measurements started), so the
same file always lands on the same key, whoever uploads it and whenever: a write that refuses to overwrite is then
all the de-duplication the raw zone needs, across days, probes and collector processes.
"""

from __future__ import annotations

import re

from probe.wire import SIGNATURE_SUFFIX

RAW_PREFIX = "raw/v1/"
KEYS_PREFIX = "keys/v1/"
REVOKED_PREFIX = "keys/v1/revoked/"
CONTROLS_PREFIX = "keys/v1/controls/"
CURATED_PREFIX = "curated/v1/measurements/"

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_RAW_BODY = re.compile(r"raw/v1/dt=(\d{4}-\d{2}-\d{2})/([0-9a-f]{64})\.jsonl")


def raw_body(day: str, sha256: str) -> str:
    """`raw/v1/dt=YYYY-MM-DD/<sha256>.jsonl`: the verbatim signed bytes."""
    return f"{RAW_PREFIX}dt={day}/{sha256}.jsonl"


def raw_signature(day: str, sha256: str) -> str:
    """The `.minisig` beside the body, as the probe sent it."""
    return raw_body(day, sha256) + SIGNATURE_SUFFIX


def parse_raw_body(key: str) -> tuple[str, str] | None:
    """(day, sha256) of a raw body key, or None for any other key (signatures, temporary files)."""
    match = _RAW_BODY.fullmatch(key)
    return (match.group(1), match.group(2)) if match else None


def public_key(probe_id: str) -> str:
    """`keys/v1/<probe_id>.pub`: the minisign public key first seen for this probe id."""
    return f"{KEYS_PREFIX}{probe_id}.pub"


def revoked(probe_id: str) -> str:
    """An object here (any content: the reason, by convention) makes the collector refuse the probe with 403."""
    return f"{REVOKED_PREFIX}{probe_id}"


def control_key(probe_id: str) -> str:
    """`keys/v1/controls/<probe_id>.pub`: the public key of a control vantage (`probe helper serve`) the operator
    registered; the dataset marks the rows it signed as the control's (probe.collector.controls)."""
    return f"{CONTROLS_PREFIX}{probe_id}.pub"


def curated_part(day: str, service: str) -> str:
    """`curated/v1/measurements/dt=YYYY-MM-DD/service=<s>/part-0.parquet`: one file per partition, rewritten whole
    by each export of that day."""
    return f"{CURATED_PREFIX}dt={day}/service={service}/part-0.parquet"
