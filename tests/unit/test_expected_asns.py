"""The expected ASNs of a target: DNS answers get their AS numbers from a MaxMind-format database the volunteer
points at, and an answer inside the service's own networks is no forged answer, while one outside them is."""

from __future__ import annotations

import asyncio
from pathlib import Path

import mmdb_writer
import netaddr

from probe import analysis
from probe.local.geo import asn_lookup
from probe.measure import Plan, measure
from probe.model import Measured, Target
from probe.runner import annotate_asns
from tests.fakes import FakeNetwork, Script

LEGY = Target(service="line", host="legy.line-apps.com", port=443, protocol="tls", expected_asns=(38631,),
              list_version="v")  # fmt: skip
CONTROL = Target(service="control", host="example.org", port=443, protocol="tls", list_version="v")
PLAN = Plan(resolver="192.0.2.53", doh_urls=("https://192.0.2.54/dns-query",))
# The resolver's answer is not the DoH control's and presents no valid certificate for the name there.
SCRIPT = Script(
    resolver={"legy.line-apps.com": ["45.33.2.2"], "example.org": ["198.51.100.1"]},
    doh={"legy.line-apps.com": ["203.0.113.20"], "example.org": ["198.51.100.1"]},
    certificate_names={"45.33.2.2": ["unrelated.example"]},
)


def asn_database(tmp_path: Path, networks: dict[str, int]) -> Path:
    path = tmp_path / "GeoLite2-ASN.mmdb"
    writer = mmdb_writer.MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    for network, asn in networks.items():
        writer.insert_network(netaddr.IPSet([network]), {"autonomous_system_number": asn})
    writer.to_db_file(str(path))
    return path


def judged(asns: dict[str, int], tmp_path: Path) -> str:
    async def run() -> tuple[Measured, Measured]:
        net = FakeNetwork(SCRIPT)
        return await measure(CONTROL, net, PLAN), await measure(LEGY, net, PLAN)

    control, legy = asyncio.run(run())
    if asns:
        lookup = asn_lookup((asn_database(tmp_path, asns),))
        control, legy = annotate_asns(control, lookup), annotate_asns(legy, lookup)
    return analysis.classify(legy, analysis.assess([control])).verdict.value


def test_answers_get_their_as_numbers_from_the_database(tmp_path: Path) -> None:
    async def run() -> Measured:
        return await measure(LEGY, FakeNetwork(SCRIPT), PLAN)

    lookup = asn_lookup((asn_database(tmp_path, {"45.33.0.0/16": 4134}),))
    annotated = annotate_asns(asyncio.run(run()), lookup)
    answers = [a for q in annotated.observations.queries for a in q.answers or ()]
    assert {(a.ipv4, a.asn) for a in answers} == {("45.33.2.2", 4134), ("203.0.113.20", None)}


def test_an_answer_outside_the_expected_asns_is_a_mismatch(tmp_path: Path) -> None:
    assert judged({"45.33.0.0/16": 4134}, tmp_path) == "dns.mismatch"


def test_without_asn_data_the_certificate_decides(tmp_path: Path) -> None:
    assert judged({}, tmp_path) == "dns.mismatch"


def test_an_answer_inside_the_expected_asns_is_no_forged_answer(tmp_path: Path) -> None:
    # The service's own network: a rotation, not a lie; what is wrong there is the certificate.
    assert judged({"45.33.0.0/16": 38631}, tmp_path) == "tls.mitm"
