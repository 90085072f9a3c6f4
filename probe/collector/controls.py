"""The dataset's control join (issue 17): which rows come from a control vantage (`probe helper serve`), and, for
every probe row, the nearest-in-time control measurement of the same endpoint as a set of `control_*` columns.

A control vantage is known by its key, never by what its files claim: the operator registers the helper's public
key in the store (`keys/v1/controls/<probe id>.pub`, written by `probe collector serve --control-key`), and every
row that key signed has `vantage_role` "control" (its lines also say `annotations.vantage_role`, for people).

The export goes through the raw zone one day at a time, so the join looks at that day's control rows and the
previous day's (for a probe that measured just after midnight); the nearest within `WINDOW` wins, else the columns
stay null. A day exported alone (`--since`) still sees its own controls.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from probe.collector import layout
from probe.collector.store import Store

WINDOW = timedelta(hours=1)  # a helper measures every few minutes: farther than this, it speaks for another moment

Key = tuple[str, str]  # (endpoint id, input): the same endpoint of the same list


def schema_fields() -> list[tuple[str, Any]]:
    """The column set this module adds to the export's schema."""
    import pyarrow as pa

    return [
        ("endpoint_id", pa.string()),
        ("vantage_role", pa.string()),  # "probe" or "control"
        ("helper", pa.string()),  # what asking a control vantage came to in the run (controls.helper)
        ("helper_verdict", pa.string()),  # the helper's own verdict for the endpoint, as the probe received it
        ("control_measurement_id", pa.string()),
        ("control_measured_at", pa.timestamp("s", tz="UTC")),
        ("control_delta_s", pa.float64()),  # control_measured_at - measurement_start_time
        ("control_probe_cc", pa.string()),
        ("control_probe_asn", pa.string()),
        ("control_verdict", pa.string()),
        ("control_rule_id", pa.string()),
        ("control_tcp_connected", pa.bool_()),
        ("control_tls_failure", pa.string()),
        ("control_dns_answers", pa.list_(pa.string())),
    ]


def columns(line: Mapping[str, Any]) -> dict[str, Any]:
    """This module's columns of one result line, before the join (which fills `vantage_role` and `control_*`)."""
    keys = line.get("test_keys") or {}
    target = keys.get("target") or {}
    helper, controls = keys.get("helper"), keys.get("controls")
    helper = helper if isinstance(helper, dict) else {}
    controls = controls if isinstance(controls, dict) else {}
    out: dict[str, Any] = dict.fromkeys([*(name for name, _ in _JOINED), "control_delta_s"])
    out.update(
        endpoint_id=target.get("id"),
        vantage_role="probe",
        helper=controls.get("helper"),
        helper_verdict=helper.get("verdict"),
    )
    return out


_JOINED = (
    ("control_measurement_id", "measurement_id"),
    ("control_measured_at", "measurement_start_time"),
    ("control_probe_cc", "probe_cc"),
    ("control_probe_asn", "probe_asn"),
    ("control_verdict", "verdict"),
    ("control_rule_id", "rule_id"),
    ("control_tcp_connected", "tcp_connected"),
    ("control_tls_failure", "tls_failure"),
    ("control_dns_answers", "dns_answers"),
)


def registered(store: Store) -> frozenset[str]:
    """The probe ids of the control vantages registered in the store."""
    out = set()
    for key in store.keys(layout.CONTROLS_PREFIX):
        name = key[len(layout.CONTROLS_PREFIX) :].removesuffix(".pub")
        if layout.SHA256_HEX.fullmatch(name):
            out.add(name)
    return frozenset(out)


class Index:
    """Control rows by endpoint, in time order: this day's and the previous day's."""

    def __init__(self) -> None:
        self._previous: dict[Key, list[tuple[datetime, dict[str, Any]]]] = {}
        self._current: dict[Key, list[tuple[datetime, dict[str, Any]]]] = {}

    def next_day(self) -> None:
        self._previous, self._current = self._current, {}

    def add(self, row: dict[str, Any]) -> None:
        key, when = _key(row), row.get("measurement_start_time")
        if key is not None and when is not None:
            bisect.insort(self._current.setdefault(key, []), (when, row), key=lambda pair: pair[0])

    def nearest(self, row: dict[str, Any]) -> dict[str, Any] | None:
        key, when = _key(row), row.get("measurement_start_time")
        if key is None or when is None:
            return None
        best: tuple[timedelta, dict[str, Any]] | None = None
        for rows in (self._previous.get(key, []), self._current.get(key, [])):
            at = bisect.bisect_left(rows, when, key=lambda pair: pair[0])
            for when_control, control in rows[max(0, at - 1) : at + 1]:
                apart = abs(when_control - when)
                if apart <= WINDOW and (best is None or apart < best[0]):
                    best = (apart, control)
        return best[1] if best is not None else None


def attach(rows: Iterable[dict[str, Any]], controls: frozenset[str], index: Index) -> None:
    """Mark the day's control rows, index them, and give every probe row its nearest control's columns."""
    rows = list(rows)
    index.next_day()
    for row in rows:
        if row.get("probe_id") in controls:
            row["vantage_role"] = "control"
            index.add(row)
    for row in rows:
        if row["vantage_role"] == "control":
            continue
        control = index.nearest(row)
        if control is None:
            continue
        for column, source in _JOINED:
            row[column] = control.get(source)
        row["control_delta_s"] = (control["measurement_start_time"] - row["measurement_start_time"]).total_seconds()


def _key(row: Mapping[str, Any]) -> Key | None:
    endpoint, input_ = row.get("endpoint_id"), row.get("input")
    return (str(endpoint), str(input_)) if endpoint and input_ else None
