"""Target lists: the bundled lists keep their promises (one per service, versioned, sourced, no duplicates,
proprietary protocols probed with tcp, controls that no censor is known to block), and the validator names the
file, the line, the entry and the field of every problem."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path

import pytest

from probe import report
from probe import targets as tl
from probe.model import Confidence, EndpointVerdict, Measured, Observations, Target, Verdict

SERVICES = ("kakaotalk", "line", "wechat", "whatsapp", "telegram", "signal")
README = Path(__file__).resolve().parents[2] / "targets" / "README.md"

# A digest of each bundled list's parsed endpoints, recorded with its version. Change what a list measures without
# bumping its `version` and this fails; bump the version and record the digest this test prints.
LIST_DIGESTS = {
    "controls.toml": ("2026-12-08", "379c666f8dca1701"),
    "kakaotalk.toml": ("2026-12-06", "6fbc86335d9bd018"),
    "line.toml": ("2026-12-06", "7dded1204cbe7007"),
    "wechat.toml": ("2026-12-06", "8e8362b71e1897c0"),
    "whatsapp.toml": ("2026-12-06", "cb07ac8e8e717743"),
    "telegram.toml": ("2026-12-06", "b3429037cebf3dfe"),
    "signal.toml": ("2026-12-06", "c144ef913768e337"),
    "sentinels.toml": ("2026-11-28", "2adeaed2b2a94217"),
}


def bundled() -> dict[str, tl.TargetList]:
    return {Path(lst.source).name: lst for lst in tl.load_lists()}


# Fields added to the schema after digests were recorded: left out while unset, so a list that does not use them
# keeps its digest (and its version).
ADDED_FIELDS = ("ca", "first_message", "transfer")


def digest(target_list: tl.TargetList) -> str:
    """What the list measures, independent of comments, notes and layout."""
    entries = [
        t.model_dump(mode="json", exclude={"list_version", *(f for f in ADDED_FIELDS if getattr(t, f) is None)})
        for t in target_list.targets
    ]
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:16]


# --- the bundled lists -------------------------------------------------------------------------------------------


def test_bundled_lists_validate_strictly_one_per_service() -> None:
    lists = bundled()
    assert tuple(lists) == tl.BUNDLED
    by_service = {name: {t.service for t in lst.targets} for name, lst in lists.items()}
    assert all(len(services) == 1 for services in by_service.values()), by_service
    assert sorted(s for (s,) in by_service.values()) == sorted((*SERVICES, "control", "sentinel"))
    assert {name: lst.version for name, lst in lists.items()} == {n: v for n, (v, _) in LIST_DIGESTS.items()}
    for lst in lists.values():
        assert lst.description, lst.source
        assert all(t.list_version == lst.version for t in lst.targets)


def test_changing_a_list_needs_a_new_version() -> None:
    unbumped, unrecorded = [], []
    for name, lst in bundled().items():
        version, recorded = LIST_DIGESTS[name]
        actual = digest(lst)
        if lst.version == version and actual != recorded:
            unbumped.append(name)
        if (lst.version, actual) != (version, recorded):
            unrecorded.append(f'"{name}": ("{lst.version}", "{actual}"),')
    assert not unbumped, f"changed without a new version (README.md, 'Versions'): {', '.join(unbumped)}"
    assert not unrecorded, "new list versions: record them in LIST_DIGESTS:\n" + "\n".join(unrecorded)


def test_every_bundled_entry_has_id_source_and_confidence() -> None:
    for target in tl.load():
        assert target.id and target.id.startswith(f"{target.service}."), target
        assert target.source and len(target.source) > 20, target.id
        assert target.confidence in tl.CONFIDENCES, target.id


def test_no_duplicate_endpoints_or_ids_across_lists() -> None:
    targets = tl.load()
    endpoints = [(t.host, t.port, t.protocol, t.server_name) for t in targets]
    assert len(set(endpoints)) == len(endpoints)
    ids = [t.id for t in targets]
    assert len(set(ids)) == len(ids)


def test_the_list_stays_a_sensible_size() -> None:
    """Every endpoint is measured on every run."""
    assert 40 <= len(tl.load()) <= 70


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("ticket-loco.kakao.com", "KakaoTalk LOCO check-in"),
        ("long.weixin.qq.com", "WeChat MMTLS long link"),
        ("sglong.wechat.com", "WeChat MMTLS long link, international"),
        ("short.weixin.qq.com", "WeChat MMTLS short link"),
        ("sgshort.wechat.com", "WeChat MMTLS short link, international"),
        ("e1.whatsapp.net", "WhatsApp chat"),
        ("149.154.175.50", "Telegram DC1"),
        ("95.161.76.100", "Telegram DC2"),
    ],
)
def test_proprietary_protocols_are_probed_with_tcp(host: str, why: str) -> None:
    endpoints = [t for t in tl.load() if t.host == host]
    assert endpoints, f"{host} ({why}) is no longer in the lists"
    assert {t.protocol for t in endpoints} == {"tcp"}, why


def test_signal_backends_are_tls_with_signals_pinned_ca_and_every_dc_is_asked_mtproto() -> None:
    targets = tl.load()
    backends = [t for t in targets if t.service == "signal" and t.host != "updates.signal.org"]
    assert {t.host for t in backends} == {"chat.signal.org", "cdsi.signal.org", "storage.signal.org",
                                          "sfu.voip.signal.org"}  # fmt: skip
    assert all(t.protocol == "tls" and t.ca == "signal" for t in backends)
    dcs = {t.group for t in targets if t.service == "telegram" and t.group}
    asked = {t.group for t in targets if t.first_message == "mtproto"}
    assert asked == dcs == {f"telegram.dc{n}" for n in range(1, 6)}


def test_one_transfer_endpoint_per_service_within_the_byte_budget() -> None:
    """The transfer endpoints are web-facing, one per messenger (issue 16); each costs its capped transfers."""
    transfers = [t for t in tl.load() if t.transfer is not None]
    assert sorted(t.service for t in transfers) == sorted(SERVICES)
    assert all(t.protocol == "tls" and not t.core for t in transfers)


def test_every_service_keeps_a_core_endpoint_and_groups_stand_in_for_each_other() -> None:
    targets = tl.load()
    for service in SERVICES:
        assert any(t.core for t in targets if t.service == service), service
    groups: dict[str, list[str]] = {}
    for t in targets:
        if t.group:
            groups.setdefault(t.group, []).append(t.service)
    for name, services in groups.items():
        assert len(services) >= 2 and len(set(services)) == 1, name


def test_controls_cover_regions_and_the_same_operator() -> None:
    controls = [t for t in tl.load() if t.is_control]
    assert controls[0].host == "example.org", "keep an international control first (it becomes the non-resolver)"
    ids = {t.id for t in controls}
    assert {"control.cn.baidu", "control.cn.qq", "control.kr.samsung", "control.jp.toyota"} <= ids
    assert any(t.role == "same_operator" and t.host == "www.qq.com" for t in controls)
    assert {t.protocol for t in controls} == {"tls", "tcp"}  # a port-80 control beside the port-80 targets


# Hosts that China blocks (gfwlist, via Loyalsoldier/v2ray-rules-dat gfw.txt 2026-06-13): never vantage canaries.
KNOWN_BLOCKED_SUFFIXES = (
    "google.com", "facebook.com", "bing.com", "rakuten.co.jp", "kakao.com", "daum.net", "naver.com", "line.me",
    "line-apps.com", "naver.jp", "whatsapp.com", "whatsapp.net", "telegram.org", "signal.org", "wikipedia.org",
)  # fmt: skip


def test_no_control_is_a_known_blocked_host_and_sentinels_are_not_controls() -> None:
    targets = tl.load()
    for t in targets:
        blocked = any(t.host == s or t.host.endswith("." + s) for s in KNOWN_BLOCKED_SUFFIXES)
        assert not (t.is_control and blocked), f"{t.id}: a blocked host as a control makes a vantage look offline"
    sentinels = [t for t in targets if t.service == tl.SENTINEL]
    assert sentinels and not any(t.is_control for t in sentinels)
    assert {t.host for t in sentinels} == {"www.google.com", "www.facebook.com"}


def test_names_stay_names_and_only_telegram_uses_address_literals() -> None:
    """The lab serves every name of the bundled lists; address literals only where the app itself uses them."""
    for t in tl.load():
        try:
            ipaddress.ip_address(t.host)
        except ValueError:
            continue
        assert t.service == "telegram", t.id


def test_an_own_list_gets_the_bundled_controls_once() -> None:
    """Issue 15: `--targets FILE` must not drop the vantage canaries; a control the list has already is not
    measured twice."""
    controls = [t for t in tl.load() if t.is_control]
    mine = (controls[0], Target(service="line", host="legy.line-apps.com", port=443, protocol="tls"))
    both = tl.with_bundled_controls(mine)
    assert [t for t in both if t.is_control] == [*controls[1:], controls[0]]
    assert tl.without_controls(both) == mine[1:]


def test_select_keeps_the_named_services_and_the_controls() -> None:
    targets = tl.load()
    chosen = tl.select(targets, ["line"])
    assert {t.service for t in chosen} == {"line", "control"}
    assert len(chosen) == sum(1 for t in targets if t.service in ("line", "control"))
    assert [t for t in targets if t in set(chosen)] == list(chosen)  # list order kept
    assert tl.SENTINEL not in {t.service for t in tl.select(targets, ["wechat", "kakaotalk"])}
    assert {t.service for t in tl.select(targets, ["sentinel"])} == {"sentinel", "control"}


def test_the_list_version_and_id_travel_in_every_measurement() -> None:
    lists = bundled()
    target = lists["line.toml"].targets[0]
    measured = Measured(target=target, start_time="2026-11-28 00:00:00", runtime=0.1, observations=Observations())
    verdict = EndpointVerdict(verdict=Verdict.OK, confidence=Confidence.HIGH)
    run = report.RunInfo(report_id="r", test_start_time="2026-11-28 00:00:00")
    line = report.measurement(measured, verdict, run, {})
    assert line["test_keys"]["target"]["list_version"] == lists["line.toml"].version
    assert line["test_keys"]["target"]["id"] == "line.legy"


def test_readme_documents_every_field_and_list() -> None:
    text = README.read_text(encoding="utf-8")
    for name in (*tl.FIELDS, *tl.TOP_LEVEL):
        assert f"`{name}`" in text, name
    for name in tl.BUNDLED:
        assert f"`{name}`" in text, name
    assert f"{len(tl.load())} endpoints in all" in text


# --- the validator --------------------------------------------------------------------------------------------------

GOOD = """\
version = "2026-11-28"
description = "a test list"

[[endpoint]]
id = "line.legy"
service = "line"
host = "Legy.Line-Apps.com"
port = 443
protocol = "tls"
group = "line.legy"
expected_asns = [38631]
source = "a client project"
confidence = "high"

[[endpoint]]
id = "line.legy_jp"
service = "line"
host = "legy-jp.line-apps.com"
port = 443
protocol = "tls"
group = "line.legy"
source = "a client project"
confidence = "medium"

[[endpoint]]
id = "line.checkin"
service = "line"
host = "ticket.example"
port = 995
protocol = "tcp"
fallback_addresses = ["2001:DB8:0:0::1", "192.0.2.7"]
source = "a capture"
confidence = "low"
"""


def problems(text: str, *, strict: bool = False, name: str = "t.toml") -> tuple[str, ...]:
    with pytest.raises(tl.TargetsError) as info:
        tl.parse_text(text, name, strict=strict)
    return info.value.problems


def one_endpoint(**fields: object) -> str:
    """A one-entry list whose entry starts on line 4; None leaves a field out."""
    base: dict[str, object] = {"service": "line", "host": "obs.line-apps.com", "port": 443, "protocol": "tls"}
    base.update(fields)
    body = "\n".join(f"{k} = {_toml(v)}" for k, v in base.items() if v is not None)
    return f'version = "2026-11-28"\n\n[[endpoint]]\n{body}\n'


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith("RAW:"):
        return value[4:]
    return json.dumps(value)


def test_a_good_list_parses_and_normalises() -> None:
    parsed = tl.parse_text(GOOD, "good.toml", strict=True)
    assert parsed.version == "2026-11-28" and parsed.description == "a test list"
    legy, legy_jp, checkin = parsed.targets
    assert legy.host == "legy.line-apps.com" and legy.server_name == "legy.line-apps.com"
    assert legy.group == legy_jp.group == "line.legy" and legy.core
    assert legy.expected_asns == (38631,) and legy.list_version == "2026-11-28"
    assert checkin.fallback_addresses == ("2001:db8::1", "192.0.2.7")
    assert (checkin.id, checkin.source, checkin.confidence) == ("line.checkin", "a capture", "low")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"service": None}, "field 'service': required"),
        ({"service": "LINE"}, "field 'service': required, one lowercase word (kakaotalk, line, wechat, control, ...)"
                             "; got 'LINE' (a string)"),
        ({"host": "no spaces.example"}, "field 'host': required, a host name or an IP address"),
        ({"host": None}, "field 'host': required"),
        ({"port": "443"}, "field 'port': required, an integer from 1 to 65535; got '443' (a string)"),
        ({"port": 70000}, "field 'port': required, an integer from 1 to 65535; got 70000 (an integer)"),
        ({"port": True}, "field 'port': required, an integer from 1 to 65535; got True (a boolean)"),
        ({"protocol": "https"}, "field 'protocol': required, one of tls, tcp; got 'https'"),
        ({"protocol": None}, "field 'protocol': required, one of tls, tcp"),
        ({"protocol": "tcp", "sni": "obs.line-apps.com"}, "field 'sni': only for protocol = \"tls\""),
        ({"sni": "192.0.2.1"}, "field 'sni': must be a host name (SNI carries no IP addresses"),
        ({"role": "Media Upload"}, "field 'role': must be one lowercase word"),
        ({"expected_asns": ["AS38631"]}, "field 'expected_asns': must be a list of AS numbers"),
        ({"expected_asns": [38631, 38631]}, "field 'expected_asns': lists an AS number twice"),
        ({"core": "yes"}, "field 'core': must be true or false; got 'yes' (a string)"),
        ({"group": "Line LEGY"}, "field 'group': must name the endpoints"),
        ({"fallback_addresses": ["legy.example"]}, "field 'fallback_addresses': must be a list of IP addresses"),
        ({"fallback_addresses": ["192.0.2.1", "192.0.2.01"]}, "field 'fallback_addresses': must be a list of IP"),
        ({"fallback_addresses": ["2001:db8::1", "2001:DB8::1"]}, "field 'fallback_addresses': lists an address twice"),
        ({"host": "192.0.2.9", "sni": "x.example", "fallback_addresses": ["192.0.2.1"]},
         "field 'fallback_addresses': only for a host name"),
        ({"id": "Line Legy"}, "field 'id': must be lowercase words joined by dots"),
        ({"source": ""}, "field 'source': must be a non-empty string"),
        ({"notes": 3}, "field 'notes': must be a non-empty string; got 3 (an integer)"),
        ({"confidence": "certain"}, "field 'confidence': must be one of high, medium, low"),
        ({"expected_asn": [1]}, "unknown field 'expected_asn' (did you mean 'expected_asns'?)"),
        ({"ca": "letsencrypt"}, "field 'ca': must name a bundled trust anchor: signal; got 'letsencrypt'"),
        ({"ca": "signal", "protocol": "tcp"}, "field 'ca': only for protocol = \"tls\""),
        ({"first_message": "http"}, "field 'first_message': must be one of mtproto; got 'http'"),
        ({"first_message": "mtproto"}, "field 'first_message': only for protocol = \"tcp\""),
        ({"transfer": "index.html"}, "field 'transfer': must be a URL path such as \"/\""),
        ({"transfer": "/a b"}, "field 'transfer': must be a URL path"),
        ({"transfer": "/", "protocol": "tcp"}, "field 'transfer': only for protocol = \"tls\""),
    ],
)  # fmt: skip
def test_each_entry_problem_names_file_line_entry_and_field(fields: dict[str, object], expected: str) -> None:
    found = problems(one_endpoint(**fields), name="lists/mine.toml")
    assert len(found) == 1, found
    assert found[0].startswith("lists/mine.toml:3: endpoint 1"), found[0]
    assert expected in found[0], found[0]


@pytest.mark.parametrize(
    ("host", "port", "speaks"),
    [
        ("ticket-loco.kakao.com", 443, "LOCO"),
        ("long.weixin.qq.com", 443, "MMTLS"),
        ("sgshort.wechat.com", 443, "MMTLS"),
        ("e7.whatsapp.net", 443, "Noise"),
        ("149.154.167.51", 443, "MTProto"),
        ("2001:67c:4e8:f002::a", 443, "MTProto"),
    ],
)
def test_tls_to_a_proprietary_protocol_is_refused(host: str, port: int, speaks: str) -> None:
    (found,) = problems(one_endpoint(host=host, port=port))
    assert "field 'protocol'" in found and speaks in found and 'use protocol = "tcp"' in found, found
    tl.parse_text(one_endpoint(host=host, port=port, protocol="tcp"), "ok.toml")  # the same entry with tcp is fine


def test_tls_to_a_private_ca_needs_its_anchor() -> None:
    (found,) = problems(one_endpoint(host="chat.signal.org"))
    assert "Signal's private CA" in found and 'add ca = "signal"' in found, found
    parsed = tl.parse_text(one_endpoint(host="chat.signal.org", ca="signal"), "ok.toml")
    assert parsed.targets[0].ca == "signal"


def test_a_tls_endpoint_of_the_same_operator_is_not_refused() -> None:
    for host in ("booking-loco.kakao.com", "web.telegram.org", "updates.signal.org", "www.wechat.com"):
        tl.parse_text(one_endpoint(host=host), "ok.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version = \n", "t.toml: not valid TOML: "),
        ('version = "1"\nendpoints = []\n', "t.toml: unknown top-level key 'endpoints' (did you mean 'endpoint'?)"),
        ('version = ""\n[[endpoint]]\nservice="line"\nhost="a.example"\nport=1\nprotocol="tcp"\n',
         "t.toml: field 'version': required, a non-empty string"),
        ('[[endpoint]]\nservice="line"\nhost="a.example"\nport=1\nprotocol="tcp"\n',
         "t.toml: field 'version': required"),
        ('version = "1"\n', "t.toml: no [[endpoint]] entries"),
        ('version = "1"\nendpoint = [1]\n', "t.toml: endpoint 1: must be a table"),
        ('version = "1"\ndescription = 5\n[[endpoint]]\nservice="line"\nhost="a.example"\nport=1\nprotocol="tcp"\n',
         "t.toml: field 'description': a one-sentence string; got 5"),
    ],
)  # fmt: skip
def test_file_level_problems_name_the_file_and_key(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once_with_its_line() -> None:
    text = (
        one_endpoint(port="443") + '\n[[endpoint]]\nservice = "line"\nhost = "a.example"\nport = 1\nprotocol = "tls"\n'
    )
    text += 'sni = "Bad Name"\n\n[[endpoint]]\nid = "line.x"\nservice = "line"\nhost = "b.example"\nport = 2\n'
    found = problems(text)
    assert [p.split(": field")[0] for p in found] == [
        "t.toml:3: endpoint 1 (obs.line-apps.com)",
        "t.toml:9: endpoint 2 (a.example:1)",
        "t.toml:16: endpoint 3 (line.x b.example:2)",
    ]


def test_duplicates_name_both_entries() -> None:
    entry = '[[endpoint]]\nid = "{id}"\nservice = "{svc}"\nhost = "a.example"\nport = 443\nprotocol = "tls"\n'
    text = 'version = "1"\n' + entry.format(id="x.a", svc="line") + entry.format(id="x.b", svc="control")
    (found,) = problems(text)
    assert found.startswith("t.toml:8: endpoint 2 (x.b a.example:443): duplicate endpoint tls://a.example:443")
    assert found.endswith("already t.toml:2: endpoint 1 (x.a a.example:443)")
    text = (
        'version = "1"\n'
        + entry.format(id="x.a", svc="line")
        + entry.format(id="x.a", svc="line").replace("a.example", "b.example")
    )
    (found,) = problems(text)
    assert "endpoint 2 (x.a b.example:443): field 'id': 'x.a' is already used by t.toml:2: endpoint 1" in found


def test_sni_makes_a_different_endpoint() -> None:
    entry = '[[endpoint]]\nservice = "line"\nhost = "a.example"\nport = 443\nprotocol = "tls"\nsni = "{sni}"\n'
    parsed = tl.parse_text('version = "1"\n' + entry.format(sni="one.example") + entry.format(sni="two.example"), "t")
    assert [t.server_name for t in parsed.targets] == ["one.example", "two.example"]


def test_groups_stand_in_within_one_service_and_one_core_value() -> None:
    entry = (
        '[[endpoint]]\nservice = "{svc}"\nhost = "{host}"\nport = 443\nprotocol = "tls"\ngroup = "g"\ncore = {core}\n'
    )
    mixed_services = (
        'version = "1"\n'
        + entry.format(svc="line", host="a.example", core="true")
        + entry.format(svc="kakaotalk", host="b.example", core="true")
    )
    (found,) = problems(mixed_services)
    assert "endpoint 2 (b.example:443): field 'group': group 'g' also holds service 'line'" in found
    mixed_core = (
        'version = "1"\n'
        + entry.format(svc="line", host="a.example", core="true")
        + entry.format(svc="line", host="b.example", core="false")
    )
    (found,) = problems(mixed_core)
    assert "endpoint 2 (b.example:443): field 'core': group 'g' mixes core and non-core endpoints" in found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (one_endpoint(id=None, source="s", confidence="high"), "field 'id': required in a bundled list"),
        (one_endpoint(id="line.obs", confidence="high"), "field 'source': required in a bundled list"),
        (one_endpoint(id="line.obs", source="s"), "field 'confidence': required in a bundled list"),
        (one_endpoint(id="obs", source="s", confidence="high"),
         "field 'id': a bundled id starts with its service, e.g. \"line.obs\""),
        (one_endpoint(id="line.obs", source="s", confidence="high").replace('"2026-11-28"', '"v1"'),
         "field 'version': 'v1': a bundled list is versioned by the date of its last change"),
        (one_endpoint(id="line.obs", source="s", confidence="high", group="line.alone"),
         "field 'group': group 'line.alone' has no other member"),
        (one_endpoint(id="line.obs", source="s", confidence="high", port=80),
         "field 'protocol': tls on port 80, the plain-HTTP port"),
    ],
)  # fmt: skip
def test_strict_rules_for_bundled_lists(text: str, expected: str) -> None:
    text = text.replace("\n\n[[endpoint]]", '\ndescription = "d"\n\n[[endpoint]]', 1)
    assert any(expected in p for p in problems(text, strict=True)), problems(text, strict=True)
    tl.parse_text(text, "t.toml")  # the same text is fine for a user's own list


def test_strict_wants_a_description_and_one_protocol_per_host_and_port() -> None:
    found = problems(one_endpoint(id="line.obs", source="s", confidence="high"), strict=True)
    assert found == ("t.toml: field 'description': required, a one-sentence string",)
    entry = '[[endpoint]]\nid = "line.{n}"\nservice = "line"\nhost = "a.example"\nport = 443\nprotocol = "{p}"\n'
    entry += 'source = "s"\nconfidence = "low"\n'
    text = 'version = "2026-11-28"\ndescription = "d"\n' + entry.format(n="a", p="tls") + entry.format(n="b", p="tcp")
    (error,) = problems(text, strict=True)
    assert "endpoint 2 (line.b a.example:443): field 'protocol': a.example:443 is measured as both tls and tcp" in error


def test_files_are_checked_together(tmp_path: Path) -> None:
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text(one_endpoint(id="line.obs"))
    two.write_text(one_endpoint(id="line.obs", service="control"))
    with pytest.raises(tl.TargetsError) as info:
        tl.load([one, two])
    assert len(info.value.problems) == 2
    assert all(p.startswith(f"{two}:3: endpoint 1 (line.obs obs.line-apps.com:443)") for p in info.value.problems)
    assert all(f"{one}:3: endpoint 1" in p for p in info.value.problems)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00version")
    with pytest.raises(tl.TargetsError) as info:
        tl.load([missing, binary])
    assert info.value.problems[0] == f"{missing}: cannot read: No such file or directory"
    assert info.value.problems[1].startswith(f"{binary}: cannot read: ")


def test_parse_file_and_load_agree(tmp_path: Path) -> None:
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    assert tl.parse_file(path).targets == tl.load([path])
    assert tl.parse_file(path, strict=True).version == "2026-11-28"
