"""OONI measurement envelopes (ooni/spec data-formats/df-000-base.md) around our observations and verdicts.

One line per endpoint. The raw observations go into OONI's own test_keys lists; our additions (`verdict`,
`confidence`, `evidence`, `rule_id`, `families`, `controls`, `packets`, `app_exchanges`, `transfers`,
`analysis_version`, `target`, `helper`) sit beside them. The probe's address never appears: `probe_ip` is OONI's
placeholder, 127.0.0.1, and `resolver_ip` is left out.
"""

from __future__ import annotations

import platform
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from probe import __version__
from probe.model import EndpointVerdict, HelperEndpoint, Measured, Observations, Target
from probe.wire import TEST_NAME

TEST_VERSION = "0.1.0"
DATA_FORMAT_VERSION = "0.2.0"
SOFTWARE_NAME = "probe"


@dataclass(frozen=True)
class RunInfo:
    """What every line of one result file shares."""

    report_id: str
    test_start_time: str  # "YYYY-MM-DD HH:MM:SS" UTC
    probe_cc: str = "ZZ"
    probe_asn: str = "AS0"
    probe_network_name: str | None = None
    resolver_asn: str = "AS0"
    options: tuple[str, ...] = ()
    test_helpers: Mapping[str, Any] = field(default_factory=dict)
    analysis_version: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)  # extra OONI annotations (e.g. spool drops)


def new_report_id(start: str, probe_cc: str, probe_asn: str) -> str:
    """OONI-like report id: time, country, network, test, and randomness (no probe identity in it)."""
    stamp = start.replace("-", "").replace(" ", "T").replace(":", "") + "Z"
    return f"{stamp}_{probe_cc}_{probe_asn}_{TEST_NAME}_{uuid.uuid4().hex}"


def target_keys(target: Target) -> dict[str, Any]:
    return {
        "id": target.id,
        "service": target.service,
        "host": target.host,
        "port": target.port,
        "protocol": target.protocol,
        "sni": target.server_name if target.protocol == "tls" else None,
        "role": target.role,
        "core": target.core,
        "group": target.group,
        "expected_asns": list(target.expected_asns),
        "list_version": target.list_version,
        "ca": target.ca,
        "first_message": target.first_message,
        "transfer": target.transfer,
    }


def measurement(
    measured: Measured, verdict: EndpointVerdict, run: RunInfo, controls: Mapping[str, Any]
) -> dict[str, Any]:
    """The df-000 object for one endpoint."""
    obs = measured.observations.model_dump(mode="json")
    target = measured.target
    return {
        "annotations": {
            "architecture": platform.machine() or "unknown",
            "engine_name": SOFTWARE_NAME,
            "engine_version": __version__,
            "platform": platform.system().lower() or "unknown",
            **run.annotations,
        },
        "data_format_version": DATA_FORMAT_VERSION,
        "extensions": {"dnst": 0, "netevents": 0, "tcpconnect": 0, "tlshandshake": 0},
        "id": str(uuid.uuid4()),
        "input": target.input,
        "measurement_start_time": measured.start_time,
        "options": list(run.options),
        "probe_asn": run.probe_asn,
        "probe_cc": run.probe_cc,
        "probe_ip": "127.0.0.1",
        "probe_network_name": run.probe_network_name,
        "report_id": run.report_id,
        "resolver_asn": run.resolver_asn,
        "software_name": SOFTWARE_NAME,
        "software_version": __version__,
        "test_helpers": dict(run.test_helpers),
        "test_keys": {
            "queries": obs["queries"],
            "tcp_connect": obs["tcp_connect"],
            "tls_handshakes": obs["tls_handshakes"],
            "network_events": obs["network_events"],
            "packets": obs["packets"],
            "app_exchanges": obs["app_exchanges"],
            "transfers": obs["transfers"],
            "target": target_keys(target),
            "verdict": verdict.verdict.value,
            "confidence": verdict.confidence.value,
            "evidence": list(verdict.evidence),
            "rule_id": verdict.rule_id,
            "families": family_verdicts(verdict),
            "controls": dict(controls),
            "helper": measured.helper.model_dump(mode="json") if measured.helper is not None else None,
            "analysis_version": run.analysis_version,
        },
        "test_name": TEST_NAME,
        "test_runtime": measured.runtime,
        "test_start_time": run.test_start_time,
        "test_version": TEST_VERSION,
    }


def family_verdicts(verdict: EndpointVerdict) -> dict[str, dict[str, Any]]:
    """`ipv4`/`ipv6` -> the endpoint judged over that address family alone (issue 15), for those it has."""
    return {
        v.family: {
            "verdict": v.verdict.value,
            "confidence": v.confidence.value,
            "evidence": list(v.evidence),
            "rule_id": v.rule_id,
        }
        for v in verdict.families
    }


def measured_from_line(line: Mapping[str, Any]) -> Measured:
    """Rebuild what was measured from a result-file line, so a measurement can be judged again by newer rules.

    Raises ValueError (pydantic's ValidationError is one) when the line is not one of ours.
    """
    keys = line["test_keys"]
    target = dict(keys["target"])
    target["sni"] = target.get("sni")
    target["expected_asns"] = tuple(target.get("expected_asns") or ())
    observations = Observations.model_validate(
        {
            name: keys.get(name) or []
            for name in (
                "queries",
                "tcp_connect",
                "tls_handshakes",
                "network_events",
                "packets",
                "app_exchanges",
                "transfers",
            )
        }
    )
    helper = keys.get("helper")
    return Measured(
        target=Target.model_validate(target),
        start_time=line["measurement_start_time"],
        runtime=line["test_runtime"],
        observations=observations,
        helper=HelperEndpoint.model_validate(helper) if helper else None,
    )
