"""Golden scenarios: one phenomenon each, with the verdicts a careful analyst would give, written by hand.

`make.py` runs each scenario's script through the real measurement code over the fake network and stores the
result file in `<name>/measurements.jsonl` with `<name>/expected.json`; `tests/unit/test_golden.py` judges the
stored observations again and compares. The expectations here are the truth; the classifier must meet them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probe.model import Target
from tests.fakes import Flow, HelperScript, Script

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

# The same endpoints with ids, as published lists have them: a control vantage's view is matched by id.
TARGETS_WITH_IDS = tuple(t.model_copy(update={"id": f"{t.service}.{t.host.split('.')[0]}"}) for t in TARGETS)

GENUINE = {
    "example.org": ["198.51.100.1"],
    "www.apple.com": ["198.51.100.2"],
    "booking-loco.kakao.com": ["203.0.113.10"],
    "ticket-loco.kakao.com": ["203.0.113.11"],
    "legy.line-apps.com": ["203.0.113.20"],
    "legy-jp.line-apps.com": ["203.0.113.21"],
}
BAIDU = Target(service="control", host="www.baidu.com", port=443, protocol="tls", role="same_region", list_version=V)
WITH_DOMESTIC = (*TARGETS[:2], BAIDU, *TARGETS[2:])  # an international cut leaves the domestic control
NO_CONTROLS = tuple(t for t in TARGETS if not t.is_control)  # a list without controls
GENUINE_DOMESTIC = {"www.baidu.com": ["198.51.100.3"]}
KAKAO = ("booking-loco.kakao.com", "ticket-loco.kakao.com")
LINE = ("legy.line-apps.com", "legy-jp.line-apps.com")
ALL = tuple(GENUINE)
# Dual-stack names (issue 15): every genuine address has an IPv6 twin with the same last number.
GENUINE6 = {h: [ip.replace("198.51.100.", "2001:db8:51::").replace("203.0.113.", "2001:db8:113::") for ip in ips]
            for h, ips in GENUINE.items()}  # fmt: skip


def resolver(**overrides: list[str] | str) -> dict[str, list[str] | str]:
    return {**GENUINE, **{k.replace("_", "."): v for k, v in overrides.items()}}


@dataclass(frozen=True)
class Scenario:
    name: str
    comment: str
    script: Script
    expected: dict[str, str]  # host -> verdict ("ok" for every host not named)
    confidence: dict[str, str] = field(default_factory=dict)  # host -> confidence, where it matters
    targets: tuple[Target, ...] = TARGETS
    # hosts whose measurement is stored empty, as a run cut off before anything was recorded would leave it
    strip: tuple[str, ...] = ()
    helper: HelperScript | None = None  # what the control vantage (`probe helper serve`) says, when one answers
    # host -> family (ipv4, ipv6) -> verdict over that family alone (issue 15), where the scenario is about it
    families: dict[str, dict[str, str]] = field(default_factory=dict)

    def verdict(self, host: str) -> str:
        return self.expected.get(host, "ok")


def _helper(minutes_ago: float = 2.0, **says: str) -> HelperScript:
    """A control vantage that reaches every endpoint with its genuine addresses, but for `says` (host with "_" for
    "." and "-" -> "ok" / "down" / "nxdomain" / "same")."""
    named = {k.replace("__", "-").replace("_", "."): v for k, v in says.items()}
    return HelperScript(says={h: named.get(h, "ok") for h in GENUINE}, addresses=GENUINE, minutes_ago=minutes_ago)


def _helper_with_dc(dc_says: str) -> HelperScript:
    """A control vantage that reaches every endpoint, and says `dc_says` of the data centre (an IP literal)."""
    return HelperScript(says={**dict.fromkeys(GENUINE, "ok"), DC: dc_says}, addresses=GENUINE)


def _each(hosts: tuple[str, ...], addresses: list[str]) -> dict[str, list[str]]:
    return {h: list(addresses) for h in hosts}


def _same(hosts: tuple[str, ...], verdict: str) -> dict[str, str]:
    return dict.fromkeys(hosts, verdict)


# Issue 16: endpoints whose fate is decided past the handshake, added to TARGETS by its scenarios only.
DC = "203.0.113.50"
WEB, SIGNAL = "line.me", "chat.signal.org"
PAST_HANDSHAKE = TARGETS + (
    Target(service="telegram", host=DC, port=443, protocol="tcp", first_message="mtproto", group="telegram.dc",
           list_version=V),
    Target(service="line", host=WEB, port=443, protocol="tls", role="web", core=False, transfer="/", list_version=V),
    Target(service="signal", host=SIGNAL, port=443, protocol="tls", ca="signal", list_version=V),
)  # fmt: skip
PAST_GENUINE = {**GENUINE, WEB: ["203.0.113.30"], SIGNAL: ["203.0.113.40"]}
# data centres whose first exchanges fail in every way at once: on 443 (controls connect there) and 5222 (none do)
DC_CLOSED, DC_UNEXPECTED = "203.0.113.51", "203.0.113.52"
DC_TIMEOUT_5222, DC_RESET_5222, DC_CLOSED_5222 = "203.0.113.53", "203.0.113.54", "203.0.113.55"
FIRST_MESSAGE_FAILURES = PAST_HANDSHAKE + tuple(
    Target(service="telegram", host=ip, port=port, protocol="tcp", first_message="mtproto", group=f"telegram.{ip}",
           list_version=V)
    for ip, port in ((DC_CLOSED, 443), (DC_UNEXPECTED, 443), (DC_TIMEOUT_5222, 5222), (DC_RESET_5222, 5222),
                     (DC_CLOSED_5222, 5222))
)  # fmt: skip
PAST_WITH_IDS = tuple(t.model_copy(update={"id": f"{t.service}.{t.host.split('.')[0]}"}) for t in PAST_HANDSHAKE)
WEB_IP = "203.0.113.30"
THROTTLED = Flow(rate=17_500.0)  # 140 kbit/s
FROZEN = Flow(stall_after=16_000)
LOSSY_CONTROL = {"198.51.100.1": ["timeout", "ok", "ok", "ok"]}  # one control try in four fails: a lossy path


def past(**script: object) -> Script:
    return Script(resolver=PAST_GENUINE, doh=PAST_GENUINE, **script)  # type: ignore[arg-type]


def _per_family(hosts: tuple[str, ...], ipv4: str, ipv6: str) -> dict[str, dict[str, str]]:
    return {h: {"ipv4": ipv4, "ipv6": ipv6} for h in hosts}


def _v6(hosts: tuple[str, ...]) -> list[str]:
    return [ip for h in hosts for ip in GENUINE6[h]]


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
    # --- past the handshake (issue 16) ------------------------------------------------------------------------
    Scenario(
        "app_mtproto_dropped",
        "The data centre accepts the connect, and its MTProto req_pq_multi is never answered: a DPI drop.",
        past(app={DC: "timeout"}), {DC: "app.timeout"}, {DC: "medium"}, PAST_HANDSHAKE,
    ),
    Scenario(
        "app_mtproto_reset",
        "The data centre accepts the connect, and its req_pq_multi is answered by a RST.",
        past(app={DC: "reset"}), {DC: "app.reset"}, {DC: "medium"}, PAST_HANDSHAKE,
    ),
    Scenario(
        "app_mtproto_reset_captured",
        "The req_pq_multi is answered by a burst of RSTs with another IP TTL than the data centre's SYN-ACK.",
        past(app={DC: "reset"}, capture=True), {DC: "app.reset"}, {DC: "high"}, PAST_HANDSHAKE,
    ),
    Scenario(
        "app_first_message_failures",
        "Data centres whose first exchanges are closed or answered in another protocol on 443, and time out, are "
        "reset or closed on 5222, a port no control connects on.",
        past(app={DC_CLOSED: "eof", DC_UNEXPECTED: "unexpected", DC_TIMEOUT_5222: "timeout",
                  DC_RESET_5222: "reset", DC_CLOSED_5222: "eof"}),
        {DC_CLOSED: "app.closed", DC_UNEXPECTED: "inconclusive", DC_TIMEOUT_5222: "app.timeout",
         DC_RESET_5222: "app.reset", DC_CLOSED_5222: "app.closed"},
        {DC_CLOSED: "medium", DC_TIMEOUT_5222: "low", DC_RESET_5222: "low", DC_CLOSED_5222: "low"},
        FIRST_MESSAGE_FAILURES,
    ),
    Scenario(
        "tls_pinned_ca_other_issuer",
        "Signal's server presents a certificate for its name from a CA trusted elsewhere, not Signal's own.",
        past(pinned_issuer_ok=False), {SIGNAL: "tls.mitm"}, {SIGNAL: "high"}, PAST_HANDSHAKE,
    ),
    Scenario(
        "tls_stall_after_16k",
        "Transfers with the web SNI freeze after 16 KB, every time; the control SNI's beside them complete.",
        past(flows={(WEB_IP, WEB): FROZEN}), {WEB: "tls.stall"}, {WEB: "medium"}, PAST_HANDSHAKE,
    ),
    Scenario(
        "tls_throttled_sni",
        "Transfers with the web SNI run at 140 kbit/s; the control SNI's beside them at full speed.",
        past(flows={(WEB_IP, WEB): THROTTLED}), {WEB: "tls.throttled"}, {WEB: "medium"}, PAST_HANDSHAKE,
    ),
    Scenario(
        "transfer_freeze_whatever_the_sni",
        "Every transfer at the web address freezes after 16 KB, the control SNI's too: by address, or a broken "
        "server.",
        past(flows={WEB_IP: FROZEN}), {WEB: "inconclusive"}, {}, PAST_HANDSHAKE,
    ),
    Scenario(
        "trap_slow_server",
        "A slow server: 140 kbit/s for the web SNI and the control SNI alike. Never throttled.",
        past(flows={WEB_IP: THROTTLED}), {}, {}, PAST_HANDSHAKE,
    ),
    Scenario(
        "trap_transfer_loss",
        "A lossy path stalls one target transfer in three; the others complete. Never a stall.",
        past(flows={(WEB_IP, WEB): [FROZEN, Flow(), Flow()]}), {}, {}, PAST_HANDSHAKE,
    ),
    Scenario(
        "trap_throttle_lossy_path",
        "Every transfer with the web SNI runs at a tenth of the control SNI's, but one control try in four fails: on "
        "a path that loses packets, retransmission timeouts slow a transfer by chance. Inconclusive.",
        past(flows={(WEB_IP, WEB): THROTTLED}, connect=LOSSY_CONTROL),
        {WEB: "inconclusive"}, {}, PAST_HANDSHAKE,
    ),
    Scenario(
        "trap_stall_lossy_path",
        "Every transfer with the web SNI stops after 16 KB while the control SNI's complete, but one control try in "
        "four fails: a lossy path can stop a transfer for seconds. Inconclusive.",
        past(flows={(WEB_IP, WEB): FROZEN}, connect=LOSSY_CONTROL),
        {WEB: "inconclusive"}, {}, PAST_HANDSHAKE,
    ),
    Scenario(
        "trap_transfer_no_answer",
        "The web server never answers the target's request (its session tickets, 500 bytes, then nothing: a slow "
        "page), while the control SNI gets a short error page at once. A server that does not answer is not a "
        "stall: ok.",
        past(flows={(WEB_IP, WEB): Flow(stall_after=500), (WEB_IP, "example.org"): Flow(size=600)}), {}, {},
        PAST_HANDSHAKE,
    ),
    Scenario(
        "trap_mtproto_lossy",
        "One first exchange in five is lost: loss, not a block.",
        past(app={DC: ["timeout", "ok", "ok", "ok", "ok", "ok"]}), {}, {}, PAST_HANDSHAKE,
    ),
    Scenario(
        "trap_ipv6_without_route",
        "Names have AAAA records but the vantage point has no IPv6 route: judged on IPv4, ok.",
        Script(resolver=resolver(), aaaa={h: ["2001:db8::" + str(i)] for i, h in enumerate(ALL)},
               connect={"2001:db8::" + str(i): "unreachable" for i in range(len(ALL))}),
        {},
    ),

    # --- issue 15: field-faithful verdicts ---------------------------------------------------------------
    Scenario(
        "dns_doh_blocked",
        "The DoH control is unreachable (blocked, as in China and Iran). The resolver answers 127.0.0.1 for "
        "KakaoTalk's booking host, NXDOMAIN for one LINE gateway and an empty answer for the other: still DNS "
        "lies, said with low confidence, and never a tcp.reset at 127.0.0.1. The genuine lab-range answers of "
        "everything else prove themselves with valid certificates and connections.",
        Script(resolver={**GENUINE, "booking-loco.kakao.com": ["127.0.0.1"], "legy.line-apps.com": "nxdomain",
                         "legy-jp.line-apps.com": "nodata"},
               doh=dict.fromkeys(ALL, "timeout"), connect={"127.0.0.1": "refused"}),
        {"booking-loco.kakao.com": "dns.bogon", "legy.line-apps.com": "dns.nxdomain",
         "legy-jp.line-apps.com": "dns.nodata"},
        {"booking-loco.kakao.com": "low", "legy.line-apps.com": "low", "legy-jp.line-apps.com": "low"},
    ),
    Scenario(
        "dns_bogon_doh_blocked_routable_controls",
        "DoH is blocked, and the resolver gives the control names routable addresses but KakaoTalk's booking host a "
        "private one that never connects: with the control names as the contrast, still a DNS lie (low).",
        Script(resolver={**GENUINE, "example.org": ["93.184.215.14"], "www.apple.com": ["17.253.144.10"],
                         "booking-loco.kakao.com": ["10.1.2.3"]},
               doh=dict.fromkeys(ALL, "timeout"), connect={"10.1.2.3": "timeout"}),
        {"booking-loco.kakao.com": "dns.bogon"},
        {"booking-loco.kakao.com": "low"},
    ),
    Scenario(
        "dns_nodata_resolver_removed",
        "The resolver has no address for LINE's names (an empty NOERROR answer, and SERVFAIL) while the DoH control "
        "resolves them: the names were removed, as Russia did to WhatsApp's in 2026. KakaoTalk's booking host has "
        "no address for the DoH control either: nothing was taken away.",
        Script(resolver={**GENUINE, "legy.line-apps.com": "nodata", "legy-jp.line-apps.com": "servfail",
                         "booking-loco.kakao.com": "nodata"},
               doh={**GENUINE, "booking-loco.kakao.com": "nodata"}),
        {**_same(LINE, "dns.nodata"), "booking-loco.kakao.com": "inconclusive"},
        dict.fromkeys(LINE, "medium"),
    ),
    Scenario(
        "dns_other_failure",
        "The resolver refuses KakaoTalk's booking name and the DoH control is unreachable: nothing to test.",
        Script(resolver={**GENUINE, "booking-loco.kakao.com": "refused"},
               doh={**GENUINE, "booking-loco.kakao.com": "timeout"}),
        {"booking-loco.kakao.com": "inconclusive"},
    ),
    Scenario(
        "trap_resolver_broken",
        "The resolver under test answers nothing at all; the DoH control works: a broken resolver, not blocked names.",
        Script(resolver=dict.fromkeys(ALL, "timeout"), doh=GENUINE),
        {h: "inconclusive" for h in KAKAO + LINE},
    ),
    Scenario(
        "dns_mismatch_unreachable",
        "The resolver answers a routable address the DoH control does not give for KakaoTalk's check-in host (tcp: "
        "no certificate to check); it never connects, the DoH control's address does.",
        Script(resolver={**GENUINE, "ticket-loco.kakao.com": ["45.33.4.4"]}, doh=GENUINE,
               connect={"45.33.4.4": "timeout"}),
        {"ticket-loco.kakao.com": "dns.mismatch"},
        {"ticket-loco.kakao.com": "medium"},
    ),
    Scenario(
        "trap_dns_lossy_controls",
        "KakaoTalk's names go unanswered, but so did one of the queries for a control name: on a lossy path that "
        "is no proof of a drop.",
        Script(resolver={**GENUINE, **dict.fromkeys(KAKAO, "timeout")}, doh=GENUINE,
               lost=frozenset({("example.org", "AAAA")})),
        _same(KAKAO, "inconclusive"),
    ),
    Scenario(
        "dns_poisoned_resolver",
        "An in-country resolver whose cache was poisoned: its one answer for LINE's names is forged and no race "
        "shows. The same names asked of a host that runs no DNS server get the forged answer too: the proof.",
        Script(resolver={**GENUINE, **_each(LINE, ["31.13.66.1"])}, doh=GENUINE,
               non_resolver=_each(LINE, ["31.13.66.1"]), connect={"31.13.66.1": "timeout"}),
        _same(LINE, "dns.injection"),
        dict.fromkeys(LINE, "high"),
    ),
    Scenario(
        "dns_injection_several_injectors",
        "Three injectors race the resolver for KakaoTalk's names: two forged A answers before the genuine one and "
        "one after, from different hops (IP TTLs), and a forged Teredo AAAA answer.",
        Script(resolver={**GENUINE, **_each(KAKAO, ["31.13.66.1"])},
               late={h: [["59.24.3.173"], GENUINE[h], ["31.13.66.6"]] for h in KAKAO},
               aaaa=_each(KAKAO, ["2001:0:4136:e378:8000:63bf:3fff:fdd2"]),
               doh={**GENUINE, **_each(KAKAO, GENUINE["booking-loco.kakao.com"])}, capture=True),
        _same(KAKAO, "dns.injection"),
        dict.fromkeys(KAKAO, "high"),
    ),
    Scenario(
        "tcp_icmp_unreachable",
        "A router answers SYNs to KakaoTalk's addresses with ICMP host unreachable / administratively prohibited. "
        "On 443 the controls connect: refused on the path. Port 995 has no control to contrast: no verdict. A LINE "
        "gateway has no local route at all (ENETUNREACH): the vantage point's, not the path's.",
        Script(resolver=resolver(), connect={"203.0.113.10": "hostunreach", "203.0.113.11": "hostunreach",
                                             "203.0.113.21": "unreachable"}),
        {"booking-loco.kakao.com": "tcp.reset", "ticket-loco.kakao.com": "inconclusive",
         "legy-jp.line-apps.com": "inconclusive"},
        {"booking-loco.kakao.com": "medium"},
    ),
    Scenario(
        "tcp_rst_after_accept",
        "KakaoTalk's booking address completes the control SNI, then every target connection gets a RST to its SYN.",
        Script(resolver=resolver(), connect={"203.0.113.10": ["ok", *["refused"] * 5]}),
        {"booking-loco.kakao.com": "tcp.reset"},
        {"booking-loco.kakao.com": "medium"},
    ),
    Scenario(
        "tcp_rst_after_accept_captured",
        "The same, captured: the RSTs carry another IP TTL than the SYN-ACK the address sent the control SNI.",
        Script(resolver=resolver(), connect={"203.0.113.10": ["ok", *["refused"] * 5]}, capture=True),
        {"booking-loco.kakao.com": "tcp.reset"},
        {"booking-loco.kakao.com": "high"},
    ),
    Scenario(
        "tcp_rst_server_down",
        "KakaoTalk's booking server is down: its own RSTs refuse every connection, no censor. Nothing tells that "
        "from a censor's RST, so: low, and no claim about TTLs of a server never seen.",
        Script(resolver=resolver(), connect={"203.0.113.10": "refused"}, capture=True),
        {"booking-loco.kakao.com": "tcp.reset"},
        {"booking-loco.kakao.com": "low"},
    ),
    Scenario(
        "tls_interception_copied_subject",
        "SNI-triggered interception with certificates that copy the genuine one's names: LINE's gateway name is "
        "the fourth name, the other gateway is covered by a wildcard in fourth place. KakaoTalk's booking host is "
        "answered by a certificate for unrelated names: not minted for it.",
        Script(resolver=resolver(),
               tls={("203.0.113.20", "legy.line-apps.com"): "untrusted",
                    ("203.0.113.21", "legy-jp.line-apps.com"): "untrusted",
                    ("203.0.113.10", "booking-loco.kakao.com"): "untrusted"},
               certificate_names={
                   "203.0.113.20": ["line.me", "*.line.me", "obs.line-apps.com", "legy.line-apps.com"],
                   "203.0.113.21": ["line.me", "*.line.me", "obs.line-apps.com", "*.line-apps.com"],
                   "203.0.113.10": ["portal.isp.example"]}),
        {**_same(LINE, "tls.mitm"), "booking-loco.kakao.com": "tls.mitm"},
        {**dict.fromkeys(LINE, "high"), "booking-loco.kakao.com": "medium"},
    ),
    Scenario(
        "tls_blocked_whatever_the_sni",
        "Handshakes fail at the address whatever the SNI, the control SNI's too: reset (KakaoTalk's booking host), "
        "stalled (LINE's gateway), closed (LINE's Japanese gateway). Not SNI-specific: low.",
        Script(resolver=resolver(), tls={"203.0.113.10": "reset", "203.0.113.20": "timeout", "203.0.113.21": "eof"}),
        {"booking-loco.kakao.com": "tls.reset", "legy.line-apps.com": "tls.timeout",
         "legy-jp.line-apps.com": "tls.closed"},
        {"booking-loco.kakao.com": "low", "legy.line-apps.com": "low", "legy-jp.line-apps.com": "low"},
    ),
    Scenario(
        "tls_fin_after_client_hello_captured",
        "The close after KakaoTalk's ClientHello, captured: three FINs in a burst with another TTL than the SYN-ACK.",
        Script(resolver=resolver(), tls={("203.0.113.10", "booking-loco.kakao.com"): "eof"}, capture=True),
        {"booking-loco.kakao.com": "tls.closed"},
        {"booking-loco.kakao.com": "high"},
    ),
    Scenario(
        "trap_tls_expired_and_unexpected",
        "An expired certificate (a server's mistake or the volunteer's clock) and a handshake failure that is no "
        "known signature: neither is a block.",
        Script(resolver=resolver(), tls={("203.0.113.10", "booking-loco.kakao.com"): "expired",
                                         ("203.0.113.20", "legy.line-apps.com"): "other"}),
        {"booking-loco.kakao.com": "inconclusive", "legy.line-apps.com": "inconclusive"},
    ),
    Scenario(
        "trap_intercepting_proxy",
        "Every control's certificate is untrusted (an antivirus or corporate proxy): a LINE handshake that stalls "
        "cannot be judged.",
        Script(resolver=resolver(), tls={"198.51.100.1": "untrusted", "198.51.100.2": "untrusted",
                                         ("203.0.113.20", "legy.line-apps.com"): "timeout"}),
        {"legy.line-apps.com": "inconclusive", "example.org": "inconclusive", "www.apple.com": "inconclusive"},
    ),
    Scenario(
        "trap_vantage_lost",
        "The controls connect before the targets and no more after them: the vantage point went offline mid-run.",
        Script(resolver=resolver(), connect={"198.51.100.1": ["ok"] * 5 + ["timeout"],
                                             "198.51.100.2": ["ok"] * 5 + ["timeout"],
                                             "203.0.113.10": "timeout", "203.0.113.11": "timeout"}),
        _same(KAKAO, "inconclusive"),
    ),
    Scenario(
        "trap_lossy_path",
        "A path that loses most connections, the controls' too: KakaoTalk's booking host never connects, but no "
        "more often than chance explains; its check-in host connects now and then: ok.",
        Script(resolver=resolver(), connect={"198.51.100.1": ["timeout", "timeout", "ok"],
                                             "198.51.100.2": ["ok", "timeout"],
                                             "203.0.113.10": "timeout", "203.0.113.11": ["timeout", "ok"]}),
        {"booking-loco.kakao.com": "inconclusive"},
    ),
    Scenario(
        "trap_probe_overloaded",
        "The probe's own event loop stalls for over a second (an overloaded machine): its timeouts are no evidence.",
        Script(resolver=resolver(), connect={"203.0.113.10": "timeout", "203.0.113.11": "timeout"}, stall=1.2),
        _same(KAKAO, "inconclusive"),
    ),
    Scenario(
        "trap_restricted_vantage",
        "Only domestic hosts answer (a national allowlist, an international cut): the international controls and "
        "LINE time out, the domestic control and KakaoTalk connect. Restricted, not offline; no block called.",
        Script(resolver={**GENUINE, **GENUINE_DOMESTIC},
               connect={"198.51.100.1": "timeout", "198.51.100.2": "timeout", "203.0.113.20": "timeout",
                        "203.0.113.21": "timeout"}),
        {"example.org": "inconclusive", "www.apple.com": "inconclusive", **_same(LINE, "inconclusive")},
        targets=WITH_DOMESTIC,
    ),
    Scenario(
        "no_controls_at_most_low",
        "A list without controls: the resolver answers 127.0.0.1 for KakaoTalk's booking host and DoH does not "
        "answer for it (nothing to hold it against), and LINE's gateway times out (low at most).",
        Script(resolver={**GENUINE, "booking-loco.kakao.com": ["127.0.0.1"]},
               doh={**GENUINE, "booking-loco.kakao.com": "timeout"},
               connect={"127.0.0.1": "refused", "203.0.113.20": "timeout"}),
        {"booking-loco.kakao.com": "inconclusive", "legy.line-apps.com": "tcp.timeout"},
        {"legy.line-apps.com": "low"},
        targets=NO_CONTROLS,
    ),
    Scenario(
        "trap_no_controls_dead_network",
        "A list without controls on a dead network: offline, never online.",
        Script(resolver={h: "timeout" for h in ALL}, doh={h: "timeout" for h in ALL},
               connect={ip: "unreachable" for ips in GENUINE.values() for ip in ips}),
        _same(KAKAO + LINE, "inconclusive"),
        targets=NO_CONTROLS,
    ),
    Scenario(
        "tls_penalty_box_shared_address",
        "LINE's two gateways share one address (a CDN). The first's SNI is reset three times in four and puts "
        "the address in a penalty box: new connections to it time out. Every try of both names was open before "
        "the first ClientHello, so the second gateway's own tries speak for it (one failed: loss); its extra "
        "tries and the control SNI afterwards meet the box, which is not counted against it.",
        Script(resolver={**GENUINE, "legy-jp.line-apps.com": GENUINE["legy.line-apps.com"]},
               doh={**GENUINE, "legy-jp.line-apps.com": GENUINE["legy.line-apps.com"]},
               tls={("203.0.113.20", "legy.line-apps.com"): ["reset", "reset", "ok", "reset", "reset"],
                    ("203.0.113.20", "legy-jp.line-apps.com"): ["ok", "ok", "timeout", "ok", "ok"]},
               penalty_box=frozenset({("203.0.113.20", "legy.line-apps.com")})),
        {"legy.line-apps.com": "tls.reset"},
        {"legy.line-apps.com": "medium"},
    ),
    Scenario(
        "trap_truncated_measurement",
        "A measurement stored empty (a run cut off before anything was recorded for LINE's Japanese gateway).",
        Script(resolver=resolver()),
        {"legy-jp.line-apps.com": "inconclusive"},
        strip=("legy-jp.line-apps.com",),
    ),
    # --- a control vantage answers (issue 17) -----------------------------------------------------------------------
    Scenario(
        "helper_service_down",
        "LINE's servers refuse every connection, here and at the control vantage: down everywhere, not blocked.",
        Script(resolver=resolver(), connect={"203.0.113.20": "refused", "203.0.113.21": "refused"}),
        _same(LINE, "inconclusive"),
        targets=TARGETS_WITH_IDS,
        helper=_helper(legy_line__apps_com="down", legy__jp_line__apps_com="down"),
    ),
    Scenario(
        "helper_censored_stays_blocked",
        "SNI filtering of LINE here; the control vantage reaches LINE: the block stands.",
        Script(resolver=resolver(), tls={("203.0.113.20", "legy.line-apps.com"): "reset",
                                         ("203.0.113.21", "legy-jp.line-apps.com"): "reset"}),
        _same(LINE, "tls.reset"),
        dict.fromkeys(LINE, "medium"),
        targets=TARGETS_WITH_IDS,
        helper=_helper(),
    ),
    Scenario(
        "helper_stale_view",
        "LINE refuses here; the control vantage saw it down, but two hours ago: that speaks for another moment.",
        Script(resolver=resolver(), connect={"203.0.113.20": "refused", "203.0.113.21": "refused"}),
        _same(LINE, "tcp.reset"),
        targets=TARGETS_WITH_IDS,
        helper=_helper(120, legy_line__apps_com="down", legy__jp_line__apps_com="down"),
    ),
    Scenario(
        "helper_dns_mismatch_doh_blocked",
        "DoH is blocked and the resolver sends KakaoTalk's booking name to another server; the control vantage's "
        "address for it presents the valid certificate here.",
        Script(resolver={**GENUINE, "booking-loco.kakao.com": ["45.33.9.10"]}, doh=dict.fromkeys(ALL, "timeout"),
               certificate_names={"45.33.9.10": ["ads.isp.example"]}),
        {"booking-loco.kakao.com": "dns.mismatch"},
        targets=TARGETS_WITH_IDS,
        helper=_helper(),
    ),
    Scenario(
        "dns_nxdomain_helper_resolves",
        "DoH is blocked and the resolver denies LINE's JP gateway; the control vantage resolves it.",
        Script(resolver={**GENUINE, "legy-jp.line-apps.com": "nxdomain"}, doh=dict.fromkeys(ALL, "timeout")),
        {"legy-jp.line-apps.com": "dns.nxdomain"},
        targets=TARGETS_WITH_IDS,
        helper=_helper(),
    ),
    Scenario(
        "dns_nodata_helper_resolves",
        "DoH is blocked and the resolver has no address for LINE's JP gateway; the control vantage resolves it.",
        Script(resolver={**GENUINE, "legy-jp.line-apps.com": "nodata"}, doh=dict.fromkeys(ALL, "timeout")),
        {"legy-jp.line-apps.com": "dns.nodata"},
        {"legy-jp.line-apps.com": "medium"},
        targets=TARGETS_WITH_IDS,
        helper=_helper(),
    ),
    Scenario(
        "trap_helper_same_certificate",
        "LINE's gateway presents a certificate this machine's trust store does not vouch for, and the control "
        "vantage is presented the very same one: the genuine server, not an interception.",
        Script(resolver=resolver(), tls={"203.0.113.20": "untrusted"}),
        {"legy.line-apps.com": "inconclusive"},
        targets=TARGETS_WITH_IDS,
        helper=_helper(legy_line__apps_com="same"),
    ),
    Scenario(
        "trap_helper_name_gone",
        "Nobody answers for LINE's JP name, here or through DoH, and the control vantage's resolvers do not know it.",
        Script(resolver={**GENUINE, "legy-jp.line-apps.com": "timeout"},
               doh={**GENUINE, "legy-jp.line-apps.com": "timeout"}),
        {"legy-jp.line-apps.com": "inconclusive"},
        targets=TARGETS_WITH_IDS,
        helper=_helper(legy__jp_line__apps_com="nxdomain"),
    ),
    # --- the control vantage past the handshake (issue 17 on issue 16's first exchange) -------------------------
    Scenario(
        "helper_mtproto_unanswered_too",
        "The data centre accepts the connect and leaves MTProto's req_pq_multi unanswered, and so it does at the "
        "control vantage: a broken data centre, not a DPI drop.",
        past(app={DC: "timeout"}), {DC: "inconclusive"},
        targets=PAST_WITH_IDS,
        helper=_helper_with_dc("unanswered"),
    ),
    Scenario(
        "helper_mtproto_answered_there",
        "MTProto's req_pq_multi goes unanswered here while the control vantage gets its resPQ: the drop stands.",
        past(app={DC: "timeout"}), {DC: "app.timeout"}, {DC: "medium"},
        targets=PAST_WITH_IDS,
        helper=_helper_with_dc("ok"),
    ),

    # --- issue 15: dual-stack names, judged per address family ---------------------------------------------
    Scenario(
        "ipv6_clean",
        "Every name has an IPv6 twin and nothing is censored: ok over each family.",
        Script(resolver=resolver(), aaaa=GENUINE6),
        {},
        families=_per_family(ALL, "ok", "ok"),
    ),
    Scenario(
        "ipv6_blackhole_only",
        "SYNs to KakaoTalk's IPv6 addresses are dropped while IPv4 works and the controls connect over both: "
        "IPv6 is blackholed, but the app gets through over IPv4, so the endpoint is ok. Port 995 has no control.",
        Script(resolver=resolver(), aaaa=GENUINE6, connect=dict.fromkeys(_v6(KAKAO), "timeout")),
        {},
        families={"booking-loco.kakao.com": {"ipv4": "ok", "ipv6": "tcp.timeout"},
                  "ticket-loco.kakao.com": {"ipv4": "ok", "ipv6": "tcp.timeout"},
                  "legy.line-apps.com": {"ipv4": "ok", "ipv6": "ok"}},
    ),
    Scenario(
        "ipv4_blackhole_ipv6_works",
        "SYNs to LINE's IPv4 addresses are dropped while its IPv6 addresses work: a block of one family only.",
        Script(resolver=resolver(), aaaa=GENUINE6, connect=dict.fromkeys(["203.0.113.20", "203.0.113.21"], "timeout")),
        {},
        families=_per_family(LINE, "tcp.timeout", "ok"),
    ),
    Scenario(
        "ipv6_blackhole_both_families",
        "SYNs to KakaoTalk's booking host are dropped over both families: blocked, and so over each.",
        Script(resolver=resolver(), aaaa=GENUINE6,
               connect=dict.fromkeys(["203.0.113.10", *_v6(KAKAO[:1])], "timeout")),
        {"booking-loco.kakao.com": "tcp.timeout"},
        {"booking-loco.kakao.com": "medium"},
        families=_per_family(KAKAO[:1], "tcp.timeout", "tcp.timeout"),
    ),
    Scenario(
        "ipv6_dns_injection_a_only",
        "An injector forges the A answers for KakaoTalk's names; their AAAA answers are genuine: DNS injection over "
        "IPv4, ok over IPv6, and the endpoint is dns.injection (the name is targeted).",
        Script(resolver={**GENUINE, **_each(KAKAO, ["31.13.66.1"])}, late={h: GENUINE[h] for h in KAKAO},
               doh=GENUINE, aaaa=GENUINE6),
        _same(KAKAO, "dns.injection"),
        families=_per_family(KAKAO, "dns.injection", "ok"),
    ),
    Scenario(
        "ipv6_sni_reset_both_families",
        "A RST after the ClientHello with LINE's SNI over both families; the control SNI completes over both.",
        Script(resolver=resolver(), aaaa=GENUINE6,
               tls={(ip, h): "reset" for h in LINE for ip in (*GENUINE[h], *GENUINE6[h])}),
        _same(LINE, "tls.reset"),
        families=_per_family(LINE, "tls.reset", "tls.reset"),
    ),
    Scenario(
        "trap_ipv6_path_broken",
        "The vantage point's IPv6 leads nowhere (a route, but every packet lost upstream): every IPv6 connection "
        "times out, the controls' too. Not censorship: ok, and IPv6 inconclusive.",
        Script(resolver=resolver(), aaaa=GENUINE6, connect=dict.fromkeys(_v6(ALL), "timeout")),
        {},
        families=_per_family(ALL, "ok", "inconclusive"),
    ),
)
# fmt: on

NAMES = tuple(s.name for s in SCENARIOS)
