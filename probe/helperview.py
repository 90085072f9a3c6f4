"""The view a control vantage serves: one JSON document with its latest measurement of every endpoint.

```json
{"format": 1, "generated_at": "2026-11-28 12:00:03",
 "helper": {"probe_cc": "DE", "probe_asn": "AS24940", "software_version": "0.1.0"},
 "endpoints": [{"id": "line.legy", "input": "tls://legy.line-apps.com:443", "measured_at": "2026-11-28 11:58:40",
                "vantage": "online", "verdict": "ok", "dns_failure": null, "addresses": ["147.92.249.185"],
                "connections": [{"ip": "147.92.249.185", "works": true, "tries": 5, "failures": 0, "failure": null}],
                "certificates": ["<sha256 of each DER certificate presented>"], "probe_cc": "DE", ...}]}
```

Canonical bytes (`probe.jsonlines`), signed like a result file (`probe.signing`: minisign over the exact bytes, the
trusted comment naming its sha256, size and the helper's id), so one key format, one verifier and the stock
`minisign` tool serve both. Building an entry reads the helper's measurement through the same facts the analysis
uses (`probe.analysis.facts`), so "works at the helper" means what "works" means for a probe.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from probe import __version__, jsonlines
from probe.addresses import is_ip_address
from probe.analysis.facts import Attempt, EndpointFacts
from probe.analysis.vantage import VantageFacts
from probe.model import EndpointVerdict, HelperAddress, HelperEndpoint, Measured, Tag

VIEW_FORMAT = 1
FILE_NAME = "helper-view.json"  # the `file:` of the signature's trusted comment
MAX_VIEW_BYTES = 4 * 1024 * 1024  # the most a probe reads: the bundled lists' view is some 60 kB
MAX_ENDPOINTS = 5000
MAX_CERTIFICATES = 16  # per endpoint: a few chains of a few certificates
SIGNATURE_HEADER = "Helper-Signature"  # base64 of the view's .minisig, as uploads carry theirs


_PER_VIEW = {"helper_id", "view_sha256", "probe_cc", "probe_asn"}  # said once for the whole view, or by the probe


class ViewError(ValueError):
    """A view that is not one: not JSON, another format, or an entry that does not validate."""


def entry(measured: Measured, verdict: EndpointVerdict, vantage: VantageFacts) -> HelperEndpoint | None:
    """What the helper saw of one endpoint (None for an endpoint without an id: nobody could ask for it)."""
    target = measured.target
    if target.id is None:
        return None
    facts = EndpointFacts(measured, vantage)
    literal = (target.host,) if is_ip_address(target.host) else ()
    addresses = tuple(dict.fromkeys(literal + facts.resolver_addresses + facts.doh_addresses))
    connections = []
    for a in facts.addresses.values():
        failed = sorted(
            (t for t in a.tries if not t.ok), key=lambda t: t.handshake.t if t.handshake is not None else t.connect.t
        )
        first = failed[0] if failed else None
        failure = None
        if first is not None:
            failure = (
                first.connect.status.failure
                or (first.handshake.failure if first.handshake else None)
                or (first.app.failure if first.app else None)
            )
        connections.append(
            HelperAddress(
                ip=a.ip,
                works=a.works,
                tries=len(a.tries),
                failures=a.failures,
                failure=failure,
                first_exchange=_first_exchange(a.tries),
            )
        )
    dns_failure = None
    if not addresses and facts.queries:
        dns_failure = next((q.failure for q in facts.resolver_answers if q.failure), None) or next(
            (q.failure for q in facts.doh if q.failure), None
        )
    return HelperEndpoint(
        id=target.id,
        input=target.input,
        measured_at=measured.start_time,
        vantage=vantage.status.value,
        verdict=verdict.verdict.value,
        dns_failure=dns_failure,
        addresses=addresses,
        connections=tuple(connections),
        certificates=_fingerprints(measured),
    )


def _first_exchange(tries: Iterable[Attempt]) -> str | None:
    """The protocol's first exchange at one address (issue 16): "ok", the first failure in time, or None."""
    made = sorted((t.app for t in tries if t.app is not None), key=lambda x: x.t)
    failed = next((x.failure for x in made if x.failure is not None), None)
    return failed or ("ok" if made else None)


def _fingerprints(measured: Measured) -> tuple[str, ...]:
    """sha256 of every certificate the endpoint presented for its own name (control SNI handshakes left out)."""
    seen: dict[str, None] = {}
    for h in measured.observations.tls_handshakes:
        if Tag.TARGET.value not in h.tags:
            continue
        for cert in h.peer_certificates or ():
            seen.setdefault(hashlib.sha256(base64.b64decode(cert.data)).hexdigest(), None)
    return tuple(seen)[:MAX_CERTIFICATES]


def encode(entries: Iterable[HelperEndpoint], generated_at: str, probe_cc: str, probe_asn: str) -> bytes:
    """The view's canonical bytes (what is signed and served)."""
    return jsonlines.canonical_line(
        {
            "format": VIEW_FORMAT,
            "generated_at": generated_at,
            "helper": {"probe_cc": probe_cc, "probe_asn": probe_asn, "software_version": __version__},
            "endpoints": [e.model_dump(mode="json", exclude=_PER_VIEW) for e in entries],
        }
    )


def decode(data: bytes, helper_id: str = "") -> dict[str, HelperEndpoint]:
    """id -> entry of a view whose signature already held; each entry carries its provenance (the helper's id,
    the view's sha256). Raises ViewError naming what is wrong."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise ViewError(f"not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != VIEW_FORMAT:
        raise ViewError(f"not a view of format {VIEW_FORMAT}")
    endpoints = document.get("endpoints")
    if not isinstance(endpoints, list) or len(endpoints) > MAX_ENDPOINTS:
        raise ViewError(f"endpoints must be a list of at most {MAX_ENDPOINTS}")
    helper = document.get("helper")
    helper = helper if isinstance(helper, dict) else {}
    sha = hashlib.sha256(data).hexdigest()
    out: dict[str, HelperEndpoint] = {}
    for number, raw in enumerate(endpoints, start=1):
        if not isinstance(raw, dict):
            raise ViewError(f"endpoint {number} is not an object")
        fill: dict[str, Any] = {"probe_cc": helper.get("probe_cc", "ZZ"), "probe_asn": helper.get("probe_asn", "AS0")}
        try:
            item = HelperEndpoint.model_validate({**fill, **raw, "helper_id": helper_id, "view_sha256": sha})
        except ValidationError as exc:
            raise ViewError(f"endpoint {number}: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}") from None
        out[item.id] = item
    return out


def for_targets(entries: Mapping[str, HelperEndpoint], targets: Iterable[Any]) -> dict[str, HelperEndpoint]:
    """The entries that speak for these targets: same id and same input (a list that moved an id to another host
    is not the endpoint the helper measured)."""
    out = {}
    for t in targets:
        e = entries.get(t.id) if t.id else None
        if e is not None and e.input == t.input:
            out[t.id] = e
    return out
