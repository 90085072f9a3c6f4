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

import io
import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from probe import jsonlines
from probe.model import Tag

# The collector's default limits (probe.collector.ingest.DEFAULT_MAX_BYTES, checks.MAX_LINE_BYTES) with a margin.
FILE_LIMIT = 7 * 1024 * 1024
LINE_LIMIT = 3 * 512 * 1024


def encode(make_line: Callable[[int], dict[str, Any]], count: int, file_limit: int = FILE_LIMIT,
           line_limit: int = LINE_LIMIT) -> bytes:  # fmt: skip
    """The result file of `count` lines, `make_line(i)` making the i-th, with the lines over their share shrunk.
    Only the largest lines are touched: every line may have up to the same share, and lines under it keep all they
    hold. A line that may have to be cut is made again rather than kept (`make_line` is called once or twice for
    it): the file as measured, which a hostile network or a thousand endpoints with capture swell to tens of MB,
    never sits in memory whole, only what is written."""
    floor = min(line_limit, file_limit // max(1, count))  # the least share there can be: lines this small stay whole
    sizes: list[int] = []
    kept: list[bytes | None] = []
    for index in range(count):
        encoded = jsonlines.canonical_line(make_line(index))
        sizes.append(len(encoded))
        kept.append(encoded if len(encoded) <= floor else None)
    level = _level(sizes, file_limit, line_limit)
    out = io.BytesIO()
    for index, (size, line) in enumerate(zip(sizes, kept, strict=True)):
        if line is None:
            made = make_line(index)
            out.write(_shrink(made, size, level) if size > level else jsonlines.canonical_line(made))
        else:
            out.write(line)
    return out.getvalue()


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


def _shrink(line: dict[str, Any], size: int, limit: int) -> bytes:
    """The line with records left out until it is at most `limit` bytes, or nothing more can go: the kind that
    takes the most room gives up what the excess asks (all of it for a kind that goes whole), then the next
    largest while the bytes freed fall short. What a cut frees is estimated from the kind's size, so the line is
    encoded once per round rather than once per cut (at 1000 endpoints with capture, most lines are cut). `size`:
    the line's encoded size as it came."""
    keys = line["test_keys"]
    dropped: Counter[str] = Counter(keys.get("dropped") or {})
    data = b""
    while size > limit:
        cuts = sorted((cut for cut in _cuts(keys) if cut[0] > 0), key=lambda c: c[0], reverse=True)
        if not cuts:
            break
        excess = size - limit + _DROPPED_ROOM
        for taken, kind, cut in cuts:
            gone, freed = cut(excess, taken)
            dropped[kind] += gone
            excess -= freed
            if excess <= 0:
                break
        keys["dropped"] = dict(sorted(dropped.items()))
        data = jsonlines.canonical_line(line)
        size = len(data)
    return data or jsonlines.canonical_line(line)


# Room for the `dropped` counts a cut adds to the line, so that one round is usually enough.
_DROPPED_ROOM = 128

Cut = tuple[int, str, Callable[[int, int], tuple[int, int]]]  # (bytes the kind takes; kind; cut(excess, size)
# -> (records gone, about how many bytes that freed))


def _cuts(keys: dict[str, Any]) -> list[Cut]:
    queries: list[dict[str, Any]] = keys.get("queries") or []
    late = [q for q in queries if Tag.LATE_RESPONSE.value in (q.get("tags") or ())]
    raw = [q for q in queries if q.get("raw_response")]
    chains = [h for h in keys.get("tls_handshakes") or [] if h.get("peer_certificates")]

    def tail(records: list[Any], excess: int, size: int) -> tuple[int, int]:
        """How many records at the end of `records` (of `size` bytes in all) free about `excess` bytes, and
        about how many bytes they take."""
        gone = min(len(records), 1 + excess * len(records) // max(1, size))
        return gone, size * gone // max(1, len(records))

    def from_end(name: str) -> Callable[[int, int], tuple[int, int]]:
        def cut(excess: int, size: int) -> tuple[int, int]:
            records = keys[name]
            gone, freed = tail(records, excess, size)
            del records[len(records) - gone :]
            return gone, freed

        return cut

    def late_answers(excess: int, size: int) -> tuple[int, int]:
        count, freed = tail(late, excess, size)
        gone = {id(q) for q in late[len(late) - count :]}
        keys["queries"] = [q for q in queries if id(q) not in gone]
        return len(gone), freed

    def raw_responses(excess: int, size: int) -> tuple[int, int]:
        for query in raw:
            query["raw_response"] = None  # the parsed answers stay
        return len(raw), size

    def chains_but_one(excess: int, size: int) -> tuple[int, int]:
        for handshake in chains[1:]:
            handshake["peer_certificates"] = None
        return len(chains) - 1, size

    return [
        (_size(keys.get("packets")), "packets", from_end("packets")),
        (_size(keys.get("network_events")), "network_events", from_end("network_events")),
        (_size(late), "late_answers", late_answers),
        (sum(len(q["raw_response"]) for q in raw), "raw_responses", raw_responses),
        (_size([h["peer_certificates"] for h in chains[1:]]), "peer_certificates", chains_but_one),
    ]


# Records of a kind encoded to estimate its size: a cut is an estimate anyway and the line is measured again after
# it, while encoding every record of every kind cost a fifth of the file's making at 1000 endpoints with capture.
_SAMPLE = 16


def _size(records: list[Any] | None) -> int:
    """About how many bytes `records` take as JSON: exact for a few, else from an even sample of them."""
    if not records:
        return 0
    sample = records[:: max(1, len(records) // _SAMPLE)]
    sampled = sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in sample)  # each with its comma
    return 1 + sampled * len(records) // len(sample)
