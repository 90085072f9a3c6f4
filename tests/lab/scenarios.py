"""The censor catalogue: every scenario as data (name, censor, self-test, expected verdicts).

Each censor acts on a few services only, so the endpoints it leaves alone prove it is selective: their expected
verdict is `ok`. Expected verdicts use the contract's names (../shared/docs/contract.md); `verdicts` lists
(endpoints, verdict) pairs, the first match wins, and every endpoint no pair names expects `default`.

Where the probe does not classify a scenario correctly yet, `xfail` says what is wrong (issue 4, "Classify"); the
verdict test is then a strict expected failure that turns into an error the day the probe gets it right.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.lab import plan as addr
from tests.lab.censor import CensorPart, DNSInjection, FinInjection, ResolverLie, Rules
from tests.lab.plan import Endpoint, LabPlan, Select
from tests.lab.selftest import CONTROLS, Check


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    censor: tuple[CensorPart, ...]
    selftest: tuple[Check, ...]
    verdicts: tuple[tuple[Select, str], ...] = ()
    default: str = "ok"
    vantage: str = "online"
    exit_code: int = 0
    xfail: str | None = None  # why the probe gets this scenario wrong today, naming the issue that fixes it
    xfail_strict: bool = True  # False only where the probe's error is itself random (an XPASS proves nothing)
    without_capture: bool = False  # judge the probe with --no-capture too (same verdicts, lower confidence)
    # The confidence the censored endpoints' verdicts must carry when the probe captures packets: "high" where
    # the packets (or the answer itself) prove the injection (issue 4, "Classify").
    captured_confidence: str | None = None


KAKAO = Select(("kakaotalk",))
KAKAO_TLS = Select(("kakaotalk",), ("tls",))
KAKAO_TCP = Select(("kakaotalk",), ("tcp",))
LINE = Select(("line",))
LINE_TLS = Select(("line",), ("tls",))
WECHAT = Select(("wechat",))
WECHAT_TCP = Select(("wechat",), ("tcp",))
WECHAT_TLS = Select(("wechat",), ("tls",))
TELEGRAM_TLS = Select(("telegram",), ("tls",))

SINKHOLE = addr.SINKHOLE
RESIDUAL_SECONDS = 90  # the GFW's residual window (measurement.md); the censor is torn down long before


def _genuine(select: Select, name: str) -> Check:
    return Check(f"the system resolver answers {name} genuinely", "dns", select, "genuine")


def _tls_ok(select: Select, name: str) -> Check:
    return Check(f"a {name} handshake completes with a valid certificate", "tls", select, "ok")


def _sni_fine(select: Select, name: str) -> Check:
    return Check(f"the control SNI completes a handshake at a {name} address", "tls", select, "ok", sni="control")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "clean",
        "No censor: a plain router.",
        censor=(),
        selftest=(
            _genuine(KAKAO, "a KakaoTalk name"),
            Check("the DoH control answers genuinely (HTTP/2, lab CA)", "doh", KAKAO, "genuine"),
            Check(
                "a control's address runs no DNS server (ICMP port unreachable)",
                "dns",
                KAKAO,
                "refused",
                server="non_resolver",
            ),
            _tls_ok(KAKAO_TLS, "KakaoTalk"),
            _sni_fine(KAKAO_TLS, "KakaoTalk"),
            Check("a KakaoTalk tcp endpoint accepts connections", "tcp", KAKAO_TCP, "connected"),
            _tls_ok(CONTROLS, "control"),
        ),
    ),
    Scenario(
        "lossy",
        "5% of forwarded packets dropped each way (about 10% of round trips): loss is not censorship.",
        censor=(Rules(("-A FORWARD -m statistic --mode random --probability 0.05 -j DROP",)),),
        selftest=(
            Check(
                "some of 200 single-shot DNS queries go unanswered",
                "dns",
                LINE,
                "genuine",
                repeat=200,
                share=(0.7, 0.99),
            ),
            Check("most KakaoTalk handshakes still complete", "tls", KAKAO_TLS, "ok", repeat=10, share=(0.5, 1.0)),
        ),
    ),
    Scenario(
        "offline",
        "Everything dropped: the vantage point is offline and nothing may be called blocked.",
        censor=(Rules(("-A FORWARD -j DROP",)),),
        selftest=(
            Check("the system resolver does not answer", "dns", CONTROLS, "timeout"),
            Check("the DoH control does not answer", "doh", CONTROLS, "timeout"),
            Check("a control endpoint does not connect", "tls", CONTROLS, "connect_timeout"),
        ),
        default="inconclusive",
        vantage="offline",
        exit_code=3,
    ),
    Scenario(
        "dns_injection",
        "On-path injector for KakaoTalk names: a forged A answer at once (to any address), the genuine answer of the "
        "system resolver held back and delivered 80 ms later.",
        censor=(DNSInjection(KAKAO, forged=SINKHOLE, delay=0.08),),
        selftest=(
            Check(
                "a KakaoTalk query gets the forged answer first, then the genuine one",
                "dns",
                KAKAO,
                f"{SINKHOLE} then genuine",
            ),
            Check(
                "a KakaoTalk query to a host without DNS server is answered (forged)",
                "dns",
                KAKAO,
                SINKHOLE,
                server="non_resolver",
            ),
            Check(
                "a benign query to a host without DNS server stays unanswered",
                "dns",
                CONTROLS,
                "refused",
                server="non_resolver",
            ),
            _genuine(LINE, "a LINE name"),
            Check("the DoH control answers KakaoTalk names genuinely", "doh", KAKAO, "genuine"),
        ),
        verdicts=((KAKAO, "dns.injection"),),
        without_capture=True,
        captured_confidence="high",
    ),
    Scenario(
        "dns_injection_lost_race",
        "An injector for LINE names that loses the race: the genuine answer gets through first, the forged one "
        "follows 100 ms later (still sent to any address).",
        censor=(DNSInjection(LINE, forged=SINKHOLE, delay=0.0, forged_delay=0.1),),
        selftest=(
            Check(
                "a LINE query gets the genuine answer first, then a forged one", "dns", LINE, f"genuine then {SINKHOLE}"
            ),
            Check(
                "a LINE query to a host without DNS server is answered (forged)",
                "dns",
                LINE,
                SINKHOLE,
                server="non_resolver",
            ),
            _genuine(KAKAO, "a KakaoTalk name"),
        ),
        verdicts=((LINE, "dns.injection"),),
        captured_confidence="high",
    ),
    Scenario(
        "resolver_nxdomain",
        "The system resolver says LINE's names do not exist.",
        censor=(ResolverLie(LINE, "nxdomain"),),
        selftest=(
            Check("the system resolver denies a LINE name", "dns", LINE, "nxdomain"),
            Check("the DoH control resolves it", "doh", LINE, "genuine"),
            _genuine(KAKAO, "a KakaoTalk name"),
        ),
        verdicts=((LINE, "dns.nxdomain"),),
    ),
    Scenario(
        "resolver_bogon",
        "The system resolver answers 127.0.0.1 for KakaoTalk names and 10.10.34.35 (Iran's forged pool) for WeChat's.",
        censor=(ResolverLie(KAKAO, "127.0.0.1"), ResolverLie(WECHAT, "10.10.34.35")),
        selftest=(
            Check("the system resolver answers 127.0.0.1 for a KakaoTalk name", "dns", KAKAO, "127.0.0.1"),
            Check("the system resolver answers 10.10.34.35 for a WeChat name", "dns", WECHAT, "10.10.34.35"),
            Check("the DoH control resolves the KakaoTalk name", "doh", KAKAO, "genuine"),
            _genuine(LINE, "a LINE name"),
        ),
        verdicts=((KAKAO, "dns.bogon"), (WECHAT, "dns.bogon")),
    ),
    Scenario(
        "ip_blackhole",
        "Every packet to WeChat's addresses dropped.",
        censor=(Rules(("-A FORWARD -d {ip} -j DROP",), select=WECHAT),),
        selftest=(
            Check("a WeChat tcp endpoint does not connect", "tcp", WECHAT_TCP, "timeout"),
            Check("the WeChat tls endpoint does not connect", "tls", WECHAT_TLS, "connect_timeout"),
            _genuine(WECHAT, "a WeChat name"),
            Check("a KakaoTalk tcp endpoint connects", "tcp", KAKAO_TCP, "connected"),
        ),
        verdicts=((WECHAT, "tcp.timeout"),),
    ),
    Scenario(
        "rst_on_syn",
        "SYNs to LINE's addresses answered with a RST by the censor.",
        censor=(Rules(("-A FORWARD -d {ip} -p tcp --syn -j REJECT --reject-with tcp-reset",), select=LINE),),
        selftest=(
            Check("a LINE connection is refused", "tls", LINE_TLS, "connect_refused"),
            _tls_ok(KAKAO_TLS, "KakaoTalk"),
        ),
        verdicts=((LINE, "tcp.reset"),),
    ),
    Scenario(
        "sni_rst",
        "In-path SNI filter: a ClientHello naming a KakaoTalk host is answered with a RST.",
        censor=(
            Rules(
                (
                    '-A FORWARD -i {client_if} -p tcp --dport {port} -m string --algo bm --string "{sni}" '
                    "-j REJECT --reject-with tcp-reset",
                ),
                select=KAKAO_TLS,
            ),
        ),
        selftest=(
            Check("a KakaoTalk ClientHello is reset", "tls", KAKAO_TLS, "reset"),
            _sni_fine(KAKAO_TLS, "KakaoTalk"),
            Check("KakaoTalk's tcp endpoints (no SNI) connect", "tcp", KAKAO_TCP, "connected"),
            _tls_ok(LINE_TLS, "LINE"),
        ),
        verdicts=((KAKAO_TLS, "tls.reset"),),
        without_capture=True,
        captured_confidence="high",
    ),
    Scenario(
        "sni_drop",
        "SNI filter that drops: a ClientHello naming a LINE host (and its retransmissions) vanishes.",
        censor=(
            Rules(
                ('-A FORWARD -i {client_if} -p tcp --dport {port} -m string --algo bm --string "{sni}" -j DROP',),
                select=LINE_TLS,
            ),
        ),
        selftest=(
            Check("a LINE handshake stalls after the ClientHello", "tls", LINE_TLS, "timeout"),
            _sni_fine(LINE_TLS, "LINE"),
            _tls_ok(KAKAO_TLS, "KakaoTalk"),
        ),
        verdicts=((LINE_TLS, "tls.timeout"),),
    ),
    Scenario(
        "fin_after_clienthello",
        "A ClientHello naming a KakaoTalk host is dropped and answered with a FIN/ACK spoofed from the server.",
        censor=(FinInjection(KAKAO_TLS),),
        selftest=(
            Check("a KakaoTalk handshake ends with a clean close", "tls", KAKAO_TLS, "closed"),
            _sni_fine(KAKAO_TLS, "KakaoTalk"),
            _tls_ok(LINE_TLS, "LINE"),
        ),
        verdicts=((KAKAO_TLS, "tls.closed"),),
        without_capture=True,
        captured_confidence="high",
    ),
    Scenario(
        "tls_interception",
        "Connections to LINE's addresses on 443 are redirected (DNAT) to a server whose certificates come from an "
        "untrusted CA and name whatever host the client asked for.",
        censor=(
            Rules(
                (
                    "-A PREROUTING -i {client_if} -d {ip} -p tcp --dport {port} "
                    "-j DNAT --to-destination {interceptor}:{port}",
                ),
                table="nat",
                select=LINE_TLS,
            ),
        ),
        selftest=(
            Check("a LINE handshake presents an untrusted certificate", "tls", LINE_TLS, "untrusted"),
            Check("so does the control SNI at a LINE address", "tls", LINE_TLS, "untrusted", sni="control"),
            _genuine(LINE, "a LINE name"),
            _tls_ok(KAKAO_TLS, "KakaoTalk"),
        ),
        verdicts=((LINE_TLS, "tls.mitm"),),
        captured_confidence="high",
    ),
    Scenario(
        "transparent_dns_proxy",
        "All of the client's port-53 traffic is redirected (DNAT) to an honest resolver: not censorship.",
        censor=(
            Rules(
                tuple(
                    f"-A PREROUTING -i {{client_if}} -p {proto} --dport 53 -j DNAT "
                    f"--to-destination {{control_resolver}}:53"
                    for proto in ("udp", "tcp")
                ),
                table="nat",
            ),
        ),
        selftest=(
            Check(
                "a host without DNS server 'answers' a benign name", "dns", CONTROLS, "genuine", server="non_resolver"
            ),
            Check("and a KakaoTalk name, genuinely", "dns", KAKAO, "genuine", server="non_resolver"),
            _genuine(KAKAO, "a KakaoTalk name"),
            _tls_ok(KAKAO_TLS, "KakaoTalk"),
        ),
    ),
    Scenario(
        "residual_blocking",
        f"A ClientHello naming a LINE host is reset, and the same (client, server, port) is then dropped for "
        f"{RESIDUAL_SECONDS} s (iptables `recent`), whatever the SNI.",
        censor=(
            Rules(
                (
                    f"-A FORWARD -i {{client_if}} -d {{ip}} -p tcp --dport {{port}} -m recent --name r{{ip}} "
                    f"--rcheck --seconds {RESIDUAL_SECONDS} -j DROP",
                    '-A FORWARD -i {client_if} -d {ip} -p tcp --dport {port} -m string --algo bm --string "{sni}" '
                    "-m recent --name r{ip} --set -j REJECT --reject-with tcp-reset",
                ),
                select=LINE_TLS,
            ),
        ),
        selftest=(
            _sni_fine(LINE_TLS, "LINE"),
            Check("a LINE ClientHello is reset (the trigger)", "tls", LINE_TLS, "reset"),
            Check(
                "then even the control SNI to that address and port is dropped",
                "tls",
                LINE_TLS,
                "connect_timeout",
                sni="control",
            ),
            _tls_ok(KAKAO_TLS, "KakaoTalk"),
        ),
        verdicts=((LINE_TLS, "tls.reset"),),
        captured_confidence="high",
    ),
    Scenario(
        "probabilistic_rst",
        "An SNI filter for Telegram's web client that fires with probability 0.75 per ClientHello.",
        censor=(
            Rules(
                (
                    '-A FORWARD -i {client_if} -p tcp --dport {port} -m string --algo bm --string "{sni}" '
                    "-m statistic --mode random --probability 0.75 -j REJECT --reject-with tcp-reset",
                ),
                select=TELEGRAM_TLS,
            ),
        ),
        selftest=(
            # 32 tries: P(all reset) = 0.75^32 < 1e-4; P(fewer than half reset) < 1e-3
            Check(
                "most, not all, Telegram handshakes are reset",
                "tls",
                TELEGRAM_TLS,
                "reset",
                repeat=32,
                share=(0.5, 0.97),
            ),
            _sni_fine(TELEGRAM_TLS, "Telegram"),
            _tls_ok(KAKAO_TLS, "KakaoTalk"),
        ),
        verdicts=((TELEGRAM_TLS, "tls.reset"),),
        captured_confidence="high",
    ),
)


def by_name(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(f"no lab scenario {name!r}; there are: {', '.join(s.name for s in SCENARIOS)}")


def expected_verdicts(scenario: Scenario, lab: LabPlan) -> dict[tuple[str, str, int, str], str]:
    """The verdict every endpoint of the run must get. An endpoint the lab cannot serve (an address literal
    outside the lab's ranges: the client has no route there) can only be `inconclusive`."""

    def verdict(endpoint: Endpoint) -> str:
        if endpoint.address is None:
            return "inconclusive"
        for select, name in scenario.verdicts:
            if select.matches(endpoint):
                return name
        return scenario.default

    return {e.key: verdict(e) for e in lab.endpoints}
