"""Golden scenarios: one phenomenon each, with the verdicts a careful analyst would give, written by hand.

`make.py` runs each scenario's script through the real measurement code over the fake network and stores the
result file in `<name>/measurements.jsonl` with `<name>/expected.json`; `tests/unit/test_golden.py` judges the
stored observations again and compares. The expectations here are the truth; the classifier must meet them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probe.model import Target
from tests.fakes import Script

V = "2026-11-28"
TARGETS: tuple[Target, ...] = (
    Target(service="control", host="example.org", port=443, protocol="tls", role="vantage_online", list_version=V),
    Target(service="control", host="www.apple.com", port=443, protocol="tls", role="vantage_online", list_version=V),
    Target(
        service="kakaotalk", host="booking-loco.kakao.com", port=443, protocol="tls", role="bootstrap", list_version=V
    ),
    Target(service="kakaotalk", host="ticket-loco.kakao.com", port=995, protocol="tcp", role="checkin", list_version=V),
    Target(service="line", host="legy.line-apps.com", port=443, protocol="tls", group="line.legy", list_version=V),
    Target(service="line", host="legy-jp.line-apps.com", port=443, protocol="tls", group="line.legy", list_version=V),
)

GENUINE = {
    "example.org": ["198.51.100.1"],
    "www.apple.com": ["198.51.100.2"],
    "booking-loco.kakao.com": ["203.0.113.10"],
    "ticket-loco.kakao.com": ["203.0.113.11"],
    "legy.line-apps.com": ["203.0.113.20"],
    "legy-jp.line-apps.com": ["203.0.113.21"],
}
KAKAO = ("booking-loco.kakao.com", "ticket-loco.kakao.com")
LINE = ("legy.line-apps.com", "legy-jp.line-apps.com")
ALL = tuple(GENUINE)


def resolver(**overrides: list[str] | str) -> dict[str, list[str] | str]:
    return {**GENUINE, **{k.replace("_", "."): v for k, v in overrides.items()}}


@dataclass(frozen=True)
class Scenario:
    name: str
    comment: str
    script: Script
    expected: dict[str, str]  # host -> verdict ("ok" for every host not named)
    confidence: dict[str, str] = field(default_factory=dict)  # host -> confidence, where it matters

    def verdict(self, host: str) -> str:
        return self.expected.get(host, "ok")


def _each(hosts: tuple[str, ...], addresses: list[str]) -> dict[str, list[str]]:
    return {h: list(addresses) for h in hosts}


def _same(hosts: tuple[str, ...], verdict: str) -> dict[str, str]:
    return dict.fromkeys(hosts, verdict)


# fmt: off
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("clean", "Nothing censored: every endpoint ok.", Script(resolver=resolver()), {}),
    Scenario(
        "dns_injection_two_answers",
        "An on-path injector answers first with a forged address; the genuine answer arrives 38 ms later.",
        Script(resolver={**GENUINE, **_each(KAKAO, ["31.13.66.1"])},
               late={h: GENUINE[h] for h in KAKAO}, doh=GENUINE),
        _same(KAKAO, "dns.injection"),
        dict.fromkeys(KAKAO, "high"),
    ),
    Scenario(
        "dns_injection_two_answers_captured",
        "The same injection seen with packet capture: the forged answer's IP TTL is not the resolver's.",
        Script(resolver={**GENUINE, **_each(KAKAO, ["31.13.66.1"])},
               late={h: GENUINE[h] for h in KAKAO}, doh=GENUINE, capture=True),
        _same(KAKAO, "dns.injection"),
        dict.fromkeys(KAKAO, "high"),
    ),
    Scenario(
        "dns_injection_non_resolver",
        "Queries for LINE names sent to a host that runs no DNS server get an answer: forged on the path.",
        Script(resolver=resolver(), non_resolver=_each(LINE, ["8.7.198.45"])),
        _same(LINE, "dns.injection"),
        dict.fromkeys(LINE, "high"),
    ),
    Scenario(
        "dns_nxdomain_resolver_lies",
        "The resolver denies LINE's names; DoH resolves them.",
        Script(resolver={**GENUINE, **dict.fromkeys(LINE, "nxdomain")}, doh=GENUINE),
        _same(LINE, "dns.nxdomain"),
        dict.fromkeys(LINE, "medium"),
    ),
    Scenario(
        "dns_bogon_iran_blockpage",
        "The resolver answers 10.10.34.35, Iran's blockpage address.",
        Script(resolver={**GENUINE, **_each(KAKAO, ["10.10.34.35"])}, doh=GENUINE,
               connect={"10.10.34.35": "timeout"}),
        _same(KAKAO, "dns.bogon"),
        dict.fromkeys(KAKAO, "high"),
    ),
    Scenario(
        "dns_bogon_localhost",
        "The resolver answers 127.0.0.1 for LINE; DoH resolves the names elsewhere.",
        Script(resolver={**GENUINE, **_each(LINE, ["127.0.0.1"])}, doh=GENUINE,
               connect={"127.0.0.1": "refused"}),
        _same(LINE, "dns.bogon"),
        dict.fromkeys(LINE, "medium"),
    ),
    Scenario(
        "dns_mismatch_gfw_pool",
        "The resolver answers an address from the GFW's known forged pool.",
        Script(resolver={**GENUINE, **_each(KAKAO, ["37.61.54.158"])}, doh=GENUINE,
               connect={"37.61.54.158": "timeout"}),
        _same(KAKAO, "dns.mismatch"),
        dict.fromkeys(KAKAO, "high"),
    ),
    Scenario(
        "dns_mismatch_wrong_certificate",
        "A routable answer outside the control's set where no valid certificate for the name is presented.",
        Script(resolver={**GENUINE, "legy.line-apps.com": ["45.33.2.2"]}, doh=GENUINE,
               certificate_names={"45.33.2.2": ["unrelated.example"]}),
        {"legy.line-apps.com": "dns.mismatch"},
        {"legy.line-apps.com": "medium"},
    ),
    Scenario(
        "dns_cdn_other_address_is_fine",
        "A routable answer the control does not give, but with a valid certificate for the name: a CDN's other "
        "edge, not a lie.",
        Script(resolver={**GENUINE, "legy.line-apps.com": ["45.33.3.3"]}, doh=GENUINE),
        {},
    ),
    Scenario(
        "dns_timeout_name_only",
        "Queries for KakaoTalk's names go unanswered; the same resolver answers everything else.",
        Script(resolver={**GENUINE, **dict.fromkeys(KAKAO, "timeout")}, doh=GENUINE),
        _same(KAKAO, "dns.timeout"),
    ),
    Scenario(
        "tcp_blackhole",
        "SYNs to KakaoTalk's addresses are dropped. Controls connect on 443, so booking's 443 is contrasted; the "
        "check-in's port 995 has no control, and could be a firewall's choice: low.",
        Script(resolver=resolver(), connect={"203.0.113.10": "timeout", "203.0.113.11": "timeout"}),
        _same(KAKAO, "tcp.timeout"),
        {"booking-loco.kakao.com": "medium", "ticket-loco.kakao.com": "low"},
    ),
    Scenario(
        "tcp_rst_on_syn",
        "SYNs to KakaoTalk's addresses are answered by a RST.",
        Script(resolver=resolver(), connect={"203.0.113.10": "refused", "203.0.113.11": "refused"}),
        _same(KAKAO, "tcp.reset"),
    ),
    Scenario(
        "tls_sni_reset",
        "A RST after the ClientHello with LINE's SNI; the control SNI to the same address completes.",
        Script(resolver=resolver(), tls={("203.0.113.20", "legy.line-apps.com"): "reset",
                                         ("203.0.113.21", "legy-jp.line-apps.com"): "reset"}),
        _same(LINE, "tls.reset"),
        dict.fromkeys(LINE, "medium"),
    ),
    Scenario(
        "tls_sni_reset_captured",
        "The SNI reset seen with packet capture: three RSTs in a burst, with another TTL than the SYN-ACK's.",
        Script(resolver=resolver(), capture=True,
               tls={("203.0.113.20", "legy.line-apps.com"): "reset",
                    ("203.0.113.21", "legy-jp.line-apps.com"): "reset"}),
        _same(LINE, "tls.reset"),
        dict.fromkeys(LINE, "high"),
    ),
    Scenario(
        "tls_sni_drop",
        "Packets after the ClientHello with LINE's SNI are dropped.",
        Script(resolver=resolver(), tls={("203.0.113.20", "legy.line-apps.com"): "timeout",
                                         ("203.0.113.21", "legy-jp.line-apps.com"): "timeout"}),
        _same(LINE, "tls.timeout"),
    ),
    Scenario(
        "tls_fin_after_client_hello",
        "The connection is closed right after the ClientHello with KakaoTalk's SNI.",
        Script(resolver=resolver(), tls={("203.0.113.10", "booking-loco.kakao.com"): "eof"}),
        {"booking-loco.kakao.com": "tls.closed"},
    ),
    Scenario(
        "tls_interception_untrusted",
        "An interception box presents a certificate for the name from an untrusted CA.",
        Script(resolver=resolver(), tls={("203.0.113.10", "booking-loco.kakao.com"): "untrusted"}),
        {"booking-loco.kakao.com": "tls.mitm"},
        {"booking-loco.kakao.com": "high"},
    ),
    Scenario(
        "tls_probabilistic_censor",
        "A censor that resets three handshakes in four: never ok, never flapping.",
        Script(resolver=resolver(), tls={("203.0.113.20", "legy.line-apps.com"): ["reset", "ok", "reset", "reset"],
                                         ("203.0.113.21", "legy-jp.line-apps.com"): ["ok", "reset", "reset", "reset"]}),
        _same(LINE, "tls.reset"),
    ),
    Scenario(
        "tls_residual_blocking",
        "After the SNI trigger the address and port stay blocked: the control SNI afterwards fails too.",
        Script(resolver=resolver(),
               tls={("203.0.113.20", "example.org"): ["ok", "timeout"], ("203.0.113.20", "legy.line-apps.com"): "reset",
                    ("203.0.113.21", "example.org"): ["ok", "timeout"],
                    ("203.0.113.21", "legy-jp.line-apps.com"): "reset"}),
        _same(LINE, "tls.reset"),
    ),
    Scenario(
        "lossy_link",
        "One try in six fails at random: loss, not blocking.",
        Script(resolver=resolver(), connect={"203.0.113.11": ["timeout", "ok", "ok", "ok", "ok", "ok"]},
               tls={("203.0.113.20", "legy.line-apps.com"): ["ok", "timeout", "ok", "ok", "ok", "ok"]}),
        {},
    ),
    # --- traps: none of these may come out as a blocking verdict -------------------------------------------
    Scenario(
        "trap_offline",
        "The vantage point has no network: everything inconclusive.",
        Script(resolver={h: "timeout" for h in ALL}, doh={h: "timeout" for h in ALL},
               connect={ip: "unreachable" for ips in GENUINE.values() for ip in ips}),
        _same(ALL, "inconclusive"),
    ),
    Scenario(
        "trap_service_down",
        "The name is gone: the DoH control does not know it either.",
        Script(resolver={**GENUINE, "legy-jp.line-apps.com": "nxdomain"},
               doh={**GENUINE, "legy-jp.line-apps.com": "nxdomain"}),
        {"legy-jp.line-apps.com": "inconclusive"},
    ),
    Scenario(
        "trap_captive_portal",
        "A captive portal answers every name with its own address and its own certificate; DoH is blocked.",
        Script(resolver=_each(ALL, ["192.168.7.1"]), doh=dict.fromkeys(ALL, "timeout"),
               tls={"192.168.7.1": "untrusted"}, certificate_names={"192.168.7.1": ["portal.hotel.example"]}),
        _same(ALL, "inconclusive"),
    ),
    Scenario(
        "trap_resolver_rewrites_everything",
        "The resolver sends every name, the controls' too, to its own ad server.",
        Script(resolver=_each(ALL, ["45.33.9.9"]), doh=GENUINE,
               certificate_names={"45.33.9.9": ["ads.isp.example"]}),
        _same(ALL, "inconclusive"),
    ),
    Scenario(
        "trap_dns64",
        "An IPv6-only network with DNS64: IPv4 has no route, the synthesised AAAA works.",
        Script(resolver=resolver(), aaaa={h: [f"64:ff9b::cb00:71{i:02x}"] for i, h in enumerate(ALL)},
               doh={**GENUINE}, connect={ip: "unreachable" for ips in GENUINE.values() for ip in ips}),
        {},
    ),
    Scenario(
        "trap_local_firewall",
        "A firewall on the volunteer's machine refuses connections to KakaoTalk (EPERM).",
        Script(resolver=resolver(), connect={"203.0.113.10": "eperm", "203.0.113.11": "eperm"}),
        _same(KAKAO, "inconclusive"),
    ),
    Scenario(
        "trap_ipv6_without_route",
        "Names have AAAA records but the vantage point has no IPv6 route: judged on IPv4, ok.",
        Script(resolver=resolver(), aaaa={h: ["2001:db8::" + str(i)] for i, h in enumerate(ALL)},
               connect={"2001:db8::" + str(i): "unreachable" for i in range(len(ALL))}),
        {},
    ),
)
# fmt: on

NAMES = tuple(s.name for s in SCENARIOS)
