"""A result file the collector takes, whatever the network sent: its lines and the whole file are kept under the
collector's limits by leaving out the least telling records of the largest lines, and saying what was left out.

Issue 21: a hostile network that floods DNS answers or serves 95 kB certificate chains made result files of
9.8-11.4 MB, which the collector refuses (413): the whole run went to the dead-letter folder, so a censor could
make a vantage point's data disappear. The verdicts are made before this, from everything measured; the file then
keeps every line and every verdict, and leaves out, the largest kind first, the last of the captured packets, of
the network events and of the late DNS answers, the raw bytes of DNS answers (their parsed answers stay), and the
certificate chains of all but one handshake. Each line says what it lost in `test_keys.dropped`, counts by kind:
`{"packets": 1200, "peer_certificates": 11}`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from probe import jsonlines
from probe.model import Tag

# The collector's default limits (probe.collector.ingest.DEFAULT_MAX_BYTES, checks.MAX_LINE_BYTES) with a margin.
FILE_LIMIT = 7 * 1024 * 1024
LINE_LIMIT = 3 * 512 * 1024


def fit(data: bytes, sizes: Sequence[int], file_limit: int = FILE_LIMIT, line_limit: int = LINE_LIMIT) -> bytes:
    """`data`, the lines of a result file (of `sizes` bytes each), with the lines over their share shrunk. Only the
    largest lines are touched: every line may have up to the same share, and lines under it keep all they hold."""
    level = _level(sizes, file_limit, line_limit)
    if max(sizes, default=0) <= level:
        return data
    out = []
    start = 0
    for size in sizes:
        line = data[start : start + size]
        start += size
        out.append(line if size <= level else _shrink(json.loads(line), level))
    return b"".join(out)


def _level(sizes: Sequence[int], file_limit: int, line_limit: int) -> int:
    """The largest size L (at most `line_limit`) such that the lines, each cut to L, make at most `file_limit`."""
    if sum(min(size, line_limit) for size in sizes) <= file_limit:
        return line_limit
    remaining, count = file_limit, len(sizes)
    for index, size in enumerate(sorted(sizes)):
        share = remaining // (count - index)
        if size > share:
            return min(share, line_limit)
        remaining -= size
    return line_limit


def _shrink(line: dict[str, Any], limit: int) -> bytes:
    """The line with records left out until it is at most `limit` bytes, or nothing more can go: at each step the
    kind that takes the most room gives up what the excess asks (all of it for a kind that goes whole)."""
    keys = line["test_keys"]
    dropped: Counter[str] = Counter(keys.get("dropped") or {})
    while True:
        if dropped:
            keys["dropped"] = dict(sorted(dropped.items()))
        data = jsonlines.canonical_line(line)
        if len(data) <= limit:
            return data
        cuts = [cut for cut in _cuts(keys) if cut[0] > 0]
        if not cuts:
            return data
        size, kind, cut = max(cuts, key=lambda c: c[0])
        dropped[kind] += cut(len(data) - limit, size)


Cut = tuple[int, str, Callable[[int, int], int]]  # (bytes the kind takes; kind; cut(excess, size) -> count gone)


def _cuts(keys: dict[str, Any]) -> list[Cut]:
    queries: list[dict[str, Any]] = keys.get("queries") or []
    late = [q for q in queries if Tag.LATE_RESPONSE.value in (q.get("tags") or ())]
    raw = [q for q in queries if q.get("raw_response")]
    chains = [h for h in keys.get("tls_handshakes") or [] if h.get("peer_certificates")]

    def tail(records: list[Any], excess: int, size: int) -> int:
        """How many records at the end of `records` (of `size` bytes in all) free about `excess` bytes."""
        return min(len(records), 1 + excess * len(records) // max(1, size))

    def from_end(name: str) -> Callable[[int, int], int]:
        def cut(excess: int, size: int) -> int:
            records = keys[name]
            gone = tail(records, excess, size)
            del records[len(records) - gone :]
            return gone

        return cut

    def late_answers(excess: int, size: int) -> int:
        gone = {id(q) for q in late[len(late) - tail(late, excess, size) :]}
        keys["queries"] = [q for q in queries if id(q) not in gone]
        return len(gone)

    def raw_responses(excess: int, size: int) -> int:
        for query in raw:
            query["raw_response"] = None  # the parsed answers stay
        return len(raw)

    def chains_but_one(excess: int, size: int) -> int:
        for handshake in chains[1:]:
            handshake["peer_certificates"] = None
        return len(chains) - 1

    return [
        (_size(keys.get("packets")), "packets", from_end("packets")),
        (_size(keys.get("network_events")), "network_events", from_end("network_events")),
        (_size(late), "late_answers", late_answers),
        (sum(len(q["raw_response"]) for q in raw), "raw_responses", raw_responses),
        (_size([h["peer_certificates"] for h in chains[1:]]), "peer_certificates", chains_but_one),
    ]


def _size(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":"))) if value else 0
