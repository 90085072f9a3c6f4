"""Canonical bytes of a result file: JSON Lines, keys sorted, no insignificant space, UTF-8.

The same measurements always give the same bytes, and those exact bytes are what is signed (probe.signing),
stored and uploaded: nothing downstream re-serialises them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any


def canonical_line(obj: Mapping[str, Any]) -> bytes:
    """One measurement as one canonical JSON line (newline included)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def encode_lines(objs: Iterable[Mapping[str, Any]]) -> bytes:
    """A whole result file."""
    return b"".join(canonical_line(o) for o in objs)


def decode_lines(data: bytes) -> Iterator[dict[str, Any]]:
    """The measurements of a result file; raises ValueError naming the first bad line."""
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"line {number}: not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"line {number}: not a JSON object")
        yield obj
