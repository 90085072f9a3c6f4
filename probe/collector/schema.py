"""The shape of a result line as the collector reads it: every field that the upload checks or the dataset export
read, with its type. Issue 21: a validly signed file whose lines had other types (`port = "abc"`, `id = 5`,
`test_keys.target = "x"`) was stored, and every later export of that day failed with a traceback.

The same shape serves at both ends. At upload, a line that does not fit is refused (422, the reason names the
field); in the export, a stored line that does not fit (stored before this check existed, or put in the store by
hand) is skipped and reported, never a crash. Fields nobody reads are skipped by the decoder (checked to be JSON,
never built). A column added to the export adds its field here, so that no upload can break the dataset.

The types follow what the probe writes (`probe.model`, `probe.report`) and the Parquet columns they fill
(`probe.collector.export.schema`): a string column takes a string or null, `port` a number that fits the column.
"""

from __future__ import annotations

import functools
from typing import Annotated

import msgspec

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Tags = list[str] | None


class Target(msgspec.Struct, frozen=True):
    service: str | None = None
    host: str | None = None
    port: Port | None = None
    protocol: str | None = None
    sni: str | None = None
    role: str | None = None
    core: bool | None = None
    group: str | None = None
    list_version: str | None = None


class Answer(msgspec.Struct, frozen=True):
    ipv4: str | None = None
    ipv6: str | None = None


class Query(msgspec.Struct, frozen=True):
    tags: Tags = None
    failure: str | None = None
    answers: list[Answer] | None = None


class Status(msgspec.Struct, frozen=True):
    success: bool | None = None
    failure: str | None = None


class Connect(msgspec.Struct, frozen=True):
    tags: Tags = None
    status: Status | None = None


class Handshake(msgspec.Struct, frozen=True):
    tags: Tags = None
    failure: str | None = None
    tls_version: str | None = None
    cipher_suite: str | None = None


class Controls(msgspec.Struct, frozen=True):
    vantage: str | None = None
    captive_portal: bool | None = None
    overloaded: bool | None = None


class TestKeys(msgspec.Struct, frozen=True):
    verdict: str | None = None
    confidence: str | None = None
    evidence: list[str] | None = None
    rule_id: str | None = None
    analysis_version: str | None = None
    target: Target | None = None
    queries: list[Query] | None = None
    tcp_connect: list[Connect] | None = None
    tls_handshakes: list[Handshake] | None = None
    controls: Controls | None = None


class Line(msgspec.Struct, frozen=True):
    test_name: str | None = None
    probe_ip: str | None = None
    input: str | None = None
    id: str | None = None
    report_id: str | None = None
    test_start_time: str | None = None
    measurement_start_time: str | None = None
    test_runtime: float | None = None
    probe_cc: str | None = None
    probe_asn: str | None = None
    resolver_asn: str | None = None
    software_version: str | None = None
    test_keys: TestKeys | None = None


class Misfit(ValueError):
    """A line that does not fit the shape; the message names the field (`$.test_keys.target.port`)."""


@functools.cache
def _decoder() -> msgspec.json.Decoder[Line]:
    return msgspec.json.Decoder(Line)


def decode(text: bytes | memoryview) -> Line:
    """One line, typed; raises Misfit saying what does not fit."""
    try:
        return _decoder().decode(text)
    except msgspec.ValidationError as exc:
        raise Misfit(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise Misfit(f"not JSON: {exc}") from None
    except RecursionError:  # the decoder recurses: a line nested ~1,000 deep was a 500, which a probe retries
        raise Misfit("JSON nested too deep") from None
