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
from tests.lab.censor import (
    CensorPart,
    Delay,
    DNSInjection,
    FinInjection,
    Interception,
    ResolverLie,
    Rules,
    ServerRules,
    ServfailRewrite,
)
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
    # issue 15: confidences that the selected endpoints' verdicts must carry (with capture), per selection
    confidences: tuple[tuple[Select, str], ...] = ()
    timeout: float | None = None  # the probe's --timeout, when not the lab's usual
    own_lists: bool = False  # run with --targets naming every bundled list but the controls (which must come back)
    no_controls: bool = False  # ... and --no-controls: no control endpoint is measured at all
    # A path so bad (loss, delay) that an endpoint expected `ok` may honestly come out `inconclusive` (never a
    # blocking verdict); at most this share of the served endpoints may (bench/lossy.py measures the real share).
    noisy: float = 0.0
    # issue 15: judge every endpoint per address family too. Each endpoint expects, over IPv4 and over IPv6, the
    # pair of the first `families` entry that selects it, else its own expected verdict over both; an endpoint
    # without an IPv6 address (an IPv4 literal) expects no IPv6 verdict.
    per_family: bool = False
    # (endpoints, or None for every one, verdict over IPv4, verdict over IPv6)
    families: tuple[tuple[Select | None, str, str], ...] = ()


KAKAO = Select(("kakaotalk",))
KAKAO_BOOKING = Select(("kakaotalk",), ("tls",), ("booking-loco.kakao.com",))
KAKAO_TLS = Select(("kakaotalk",), ("tls",))
KAKAO_TCP = Select(("kakaotalk",), ("tcp",))
LINE = Select(("line",))
LINE_TLS = Select(("line",), ("tls",))
WECHAT = Select(("wechat",))
WECHAT_TCP = Select(("wechat",), ("tcp",))
WECHAT_TLS = Select(("wechat",), ("tls",))
TELEGRAM_TLS = Select(("telegram",), ("tls",))
WHATSAPP = Select(("whatsapp",))
SIGNAL = Select(("signal",))
SIGNAL_UPDATES = Select(("signal",), ("tls",), ("updates.signal.org",))
WECHAT_8080 = Select(("wechat",), ("tcp",), ("long.weixin.qq.com",), (8080,))
WECHAT_LONG_OTHER = Select(("wechat",), ("tcp",), ("long.weixin.qq.com",), (80, 443))
# Names that share one address in the lab (plan.SHARED_HOSTING): one name triggers, the other does not; and two
# names that both trigger.
BOX = Select(("whatsapp", "kakaotalk"), ("tls",), ("v.whatsapp.net", "accounts.kakao.com", "www.kakao.com"))
BOX_NEIGHBOUR = Select(("whatsapp",), ("tls",), ("web.whatsapp.com",))
DOMESTIC = Select(
    ("control",),
    hosts=("www.baidu.com", "www.qq.com", "www.taobao.com", "www.gosuslugi.ru", "ya.ru", "www.aparat.com", "snapp.ir"),
)
INTERNATIONAL = Select(("control",), hosts=("example.org", "www.apple.com", "www.microsoft.com"))
TEREDO = "2001:0:4136:e378:8000:63bf:3fff:fdd2"  # a forged AAAA of the GFW's kind (RFC 4380 Teredo)
# issue 16: past the handshake
LAB_DC = Select(("telegram",), ("tcp",), ("203.0.113.200",))  # the lab's data centre (lab_targets.toml)
SIGNAL_TLS = Select(("signal",), ("tls",))
SIGNAL_PINNED = Select(("signal",), ("tls",), ("chat.signal.org",))
LINE_WEB = Select(("line",), ("tls",), ("line.me",))
TELEGRAM_WEB = Select(("telegram",), ("tls",), ("web.telegram.org",))
WHATSAPP_WEB = Select(("whatsapp",), ("tls",), ("web.whatsapp.com",))
KAKAO_WEB = Select(("kakaotalk",), ("tls",), ("www.kakao.com",))
SLOW_WEB = Select(("lab",), ("tls",), ("slow-web.lab.example",))
FREEZE_BYTES = 16384  # Russia's 2025 freezes struck after 16-20 KB

SINKHOLE = addr.SINKHOLE
RESIDUAL_SECONDS = 90  # the GFW's residual window (measurement.md); the censor is torn down long before
LONG_TIMEOUT = 3.0  # the probe's --timeout on a lossy or slow path (issue 15)


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
            Check("the lab data centre answers req_pq_multi with a resPQ", "mtproto", LAB_DC, "respq"),
            Check("Signal's name validates under its private CA", "tls", SIGNAL_PINNED, "ok", ca="pinned"),
            Check("... and not under the lab CA", "tls", SIGNAL_PINNED, "untrusted"),
            Check("a web transfer runs at line rate", "fetch", LINE_WEB, "fast"),
            Check("the slow server is slow", "fetch", SLOW_WEB, "slow"),
            Check("... for the control SNI too", "fetch", SLOW_WEB, "slow", sni="control"),
        ),
        per_family=True,
    ),
    Scenario(
        "lossy_link",
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
        "trap_offline",
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
        "dns_injection_two_answers",
        "On-path injector for KakaoTalk names: a forged A answer at once (to any address), the genuine answer of the "
        "system resolver held back and delivered 80 ms later.",
        censor=(DNSInjection(KAKAO, forged=SINKHOLE, delay=0.08, aaaa=addr.SINKHOLE6),),
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
            Check(
                "a KakaoTalk AAAA query gets the forged answer first, then the genuine one",
                "dns",
                KAKAO,
                f"{addr.SINKHOLE6} then genuine",
                family=6,
            ),
        ),
        verdicts=((KAKAO, "dns.injection"),),
        without_capture=True,
        captured_confidence="high",
        per_family=True,
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
        "dns_nxdomain_resolver_lies",
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
        "dns_bogon_localhost_and_iran_blockpage",
        "The system resolver answers 127.0.0.1 for KakaoTalk names and 10.10.34.35 (Iran's forged pool) for WeChat's, "
        "and ::1 for their AAAA queries.",
        censor=(ResolverLie(KAKAO, "127.0.0.1", "::1"), ResolverLie(WECHAT, "10.10.34.35", "::1")),
        selftest=(
            Check("the system resolver answers 127.0.0.1 for a KakaoTalk name", "dns", KAKAO, "127.0.0.1"),
            Check("the system resolver answers 10.10.34.35 for a WeChat name", "dns", WECHAT, "10.10.34.35"),
            Check("the DoH control resolves the KakaoTalk name", "doh", KAKAO, "genuine"),
            _genuine(LINE, "a LINE name"),
        ),
        verdicts=((KAKAO, "dns.bogon"), (WECHAT, "dns.bogon")),
    ),
    Scenario(
        "tcp_blackhole",
        "Every packet to WeChat's addresses dropped.",
        censor=(Rules(("-A FORWARD -d {ip} -j DROP",), select=WECHAT),),
        selftest=(
            Check("a WeChat tcp endpoint does not connect", "tcp", WECHAT_TCP, "timeout"),
            Check("the WeChat tls endpoint does not connect", "tls", WECHAT_TLS, "connect_timeout"),
            _genuine(WECHAT, "a WeChat name"),
            Check("a KakaoTalk tcp endpoint connects", "tcp", KAKAO_TCP, "connected"),
        ),
        verdicts=((WECHAT, "tcp.timeout"),),
        per_family=True,
    ),
    Scenario(
        "tcp_rst_on_syn",
        "SYNs to LINE's addresses answered with a RST by the censor.",
        censor=(Rules(("-A FORWARD -d {ip} -p tcp --syn -j REJECT --reject-with tcp-reset",), select=LINE),),
        selftest=(
            Check("a LINE connection is refused", "tls", LINE_TLS, "connect_refused"),
            _tls_ok(KAKAO_TLS, "KakaoTalk"),
        ),
        verdicts=((LINE, "tcp.reset"),),
    ),
    Scenario(
        "tls_sni_reset",
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
        per_family=True,
    ),
    Scenario(
        "tls_sni_drop",
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
        "tls_fin_after_client_hello",
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
        "tls_interception_untrusted",
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
                rules6=(
                    "-A PREROUTING -i {client_if} -d {ip} -p tcp --dport {port} "
                    "-j DNAT --to-destination [{interceptor}]:{port}",
                ),
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
        "trap_transparent_dns_proxy",
        "All of the client's port-53 traffic is redirected (DNAT) to an honest resolver: not censorship.",
        censor=(
            Rules(
                tuple(
                    f"-A PREROUTING -i {{client_if}} -p {proto} --dport 53 -j DNAT "
                    f"--to-destination {{control_resolver}}:53"
                    for proto in ("udp", "tcp")
                ),
                table="nat",
                families=(4,),  # the lab's DNS runs over IPv4
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
        "tls_residual_blocking",
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
        "tls_probabilistic_censor",
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


# --- issue 15: censors as measured in the field ---------------------------------------------------------------
FIELD: tuple[Scenario, ...] = (
    Scenario(
        "dns_doh_blocked",
        "The DoH control is unreachable (China and Iran block public DoH), and the resolver lies: 127.0.0.1 for "
        "KakaoTalk, NXDOMAIN for LINE, an empty answer for WeChat. Still DNS lies, said with low confidence; never a "
        "tcp.reset at 127.0.0.1. Everything else resolves to the lab's (documentation-range) addresses, which prove "
        "themselves with valid certificates and connections.",
        censor=(
            Rules(("-A FORWARD -d {control_resolver} -p tcp --dport 443 -j DROP",)),
            ResolverLie(KAKAO, "127.0.0.1"),
            ResolverLie(LINE, "nxdomain"),
            ResolverLie(WECHAT, "nodata"),
        ),
        selftest=(
            Check("the DoH control does not answer", "doh", CONTROLS, "timeout"),
            Check("the resolver answers 127.0.0.1 for a KakaoTalk name", "dns", KAKAO, "127.0.0.1"),
            Check("the resolver denies a LINE name", "dns", LINE, "nxdomain"),
            Check("the resolver has no address for a WeChat name", "dns", WECHAT, "nodata"),
            _genuine(WHATSAPP, "a WhatsApp name"),
        ),
        verdicts=((KAKAO, "dns.bogon"), (LINE, "dns.nxdomain"), (WECHAT, "dns.nodata")),
        confidences=((KAKAO, "low"), (LINE, "low"), (WECHAT, "low")),
    ),
    Scenario(
        "dns_removed_poisoned_injected",
        "Four DNS censors on four services. WhatsApp's names are removed from the resolver (empty answer) and "
        "Signal's fail (SERVFAIL), while DoH resolves both. LINE's names come from a poisoned in-country resolver "
        "(one forged answer, no race), and the border injector answers them when asked of a host that runs no DNS "
        "server. KakaoTalk's names meet three injectors on other hops: two forged A answers before the genuine one "
        "and one after, and a forged Teredo AAAA.",
        censor=(
            ResolverLie(WHATSAPP, "nodata"),
            ServfailRewrite(SIGNAL),
            ResolverLie(LINE, SINKHOLE),
            DNSInjection(LINE, forged=SINKHOLE, resolver=False),
            DNSInjection(
                KAKAO,
                forged=SINKHOLE,
                delay=0.08,
                more=(("198.51.100.251", 0.02), ("198.51.100.252", 0.3)),
                aaaa=TEREDO,
            ),
        ),
        selftest=(
            Check("the resolver has no address for a WhatsApp name", "dns", WHATSAPP, "nodata"),
            Check("the resolver fails a Signal name", "dns", SIGNAL, "servfail"),
            Check("the DoH control resolves the WhatsApp name", "doh", WHATSAPP, "genuine"),
            Check("the resolver's one answer for a LINE name is forged", "dns", LINE, SINKHOLE),
            Check(
                "a LINE name asked of a host without DNS server is answered",
                "dns",
                LINE,
                SINKHOLE,
                server="non_resolver",
            ),
            Check(
                "a KakaoTalk query gets two forged answers, the genuine one, then a third forged one",
                "dns",
                KAKAO,
                f"{SINKHOLE} then 198.51.100.251 then genuine then 198.51.100.252",
            ),
            Check(
                "a KakaoTalk AAAA query gets a forged Teredo answer first",
                "dns",
                KAKAO,
                f"{TEREDO} then genuine",
                qtype="AAAA",
            ),
            _genuine(WECHAT, "a WeChat name"),
        ),
        verdicts=((WHATSAPP, "dns.nodata"), (SIGNAL, "dns.nodata"), (LINE, "dns.injection"), (KAKAO, "dns.injection")),
        confidences=((WHATSAPP, "medium"), (SIGNAL, "medium"), (LINE, "high"), (KAKAO, "high")),
    ),
    Scenario(
        "transport_refusals",
        "Measured with --targets naming every bundled list but the controls: the bundled controls must come back. "
        "WeChat's long link on 8080 loses its SYN-ACKs (IP:port blocking; 80 and 443 of the same address are fine); "
        "a router answers LINE's SYNs with ICMP administratively prohibited and KakaoTalk's booking host's with ICMP "
        "host unreachable; Signal's update server is down (its own RSTs, no censor).",
        censor=(
            Rules(
                ("-A FORWARD -s {ip} -p tcp --sport {port} --tcp-flags SYN,ACK SYN,ACK -j DROP",), select=WECHAT_8080
            ),
            Rules(("-A FORWARD -d {ip} -p tcp --syn -j REJECT --reject-with icmp-admin-prohibited",), select=LINE),
            Rules(
                ("-A FORWARD -d {ip} -p tcp --syn -j REJECT --reject-with icmp-host-unreachable",), select=KAKAO_BOOKING
            ),
            ServerRules(
                ("-A INPUT -d {ip} -p tcp --dport {port} -j REJECT --reject-with tcp-reset",), select=SIGNAL_UPDATES
            ),
        ),
        selftest=(
            Check("WeChat's long link does not connect on 8080", "tcp", WECHAT_8080, "timeout"),
            Check("it connects on 80", "tcp", WECHAT_LONG_OTHER, "connected"),
            Check("a router refuses a LINE connection (ICMP)", "tls", LINE_TLS, "unreachable"),
            Check("a router refuses KakaoTalk's booking host (ICMP)", "tls", KAKAO_BOOKING, "unreachable"),
            Check("Signal's update server refuses connections itself", "tls", SIGNAL_UPDATES, "connect_refused"),
            _tls_ok(CONTROLS, "control"),
        ),
        verdicts=(
            (WECHAT_8080, "tcp.timeout"),
            (LINE, "tcp.reset"),
            (KAKAO_BOOKING, "tcp.reset"),
            (SIGNAL_UPDATES, "tcp.reset"),
        ),
        confidences=((WECHAT_8080, "low"), (LINE, "medium"), (KAKAO_BOOKING, "medium"), (SIGNAL_UPDATES, "low")),
        own_lists=True,
    ),
    Scenario(
        "interception_and_penalty_box",
        "LINE: an SNI-triggered interception box whose certificates copy the genuine names (the target's fourth, or "
        "by wildcard); the control SNI passes. WhatsApp and KakaoTalk: names that share an address (as on a CDN) "
        f"and an SNI filter that resets v.whatsapp.net, accounts.kakao.com and www.kakao.com, then refuses or drops "
        f"every new connection to the address and port for {RESIDUAL_SECONDS} s. web.whatsapp.com shares "
        "v.whatsapp.net's address and must stay ok; both Kakao names must show their own trigger.",
        censor=(
            Interception(LINE_TLS),
            Rules(
                (
                    "-A FORWARD -i {client_if} -d {ip} -p tcp --dport {port} --syn -m recent --name b{ip} --rcheck "
                    f"--seconds {RESIDUAL_SECONDS} -m statistic --mode random --probability 0.5 "
                    "-j REJECT --reject-with tcp-reset",
                    "-A FORWARD -i {client_if} -d {ip} -p tcp --dport {port} --syn -m recent --name b{ip} --rcheck "
                    f"--seconds {RESIDUAL_SECONDS} -j DROP",
                    '-A FORWARD -i {client_if} -d {ip} -p tcp --dport {port} -m string --algo bm --string "{sni}" '
                    "-m recent --name b{ip} --set -j REJECT --reject-with tcp-reset",
                ),
                select=BOX,
            ),
        ),
        selftest=(
            Check("a LINE handshake presents an untrusted certificate", "tls", LINE_TLS, "untrusted"),
            _sni_fine(LINE_TLS, "LINE"),
            _tls_ok(BOX_NEIGHBOUR, "web.whatsapp.com"),
            Check("a censored name's ClientHello is reset (the trigger)", "tls", BOX, "reset"),
            Check(
                "then new connections to that address and port are refused or dropped",
                "tls",
                BOX,
                "connect_timeout",
                sni="control",
                repeat=16,
                share=(0.1, 0.9),
            ),
            _tls_ok(KAKAO_BOOKING, "KakaoTalk booking"),
        ),
        verdicts=((LINE_TLS, "tls.mitm"), (BOX, "tls.reset")),
        confidences=((LINE_TLS, "high"), (BOX, "high")),
    ),
    Scenario(
        "trap_lossy_path",
        "30% of forwarded packets dropped each way, at --timeout 3: loss is not censorship (the controls lose as "
        "often), and no endpoint may be called blocked.",
        censor=(Rules(("-A FORWARD -m statistic --mode random --probability 0.3 -j DROP",)),),
        selftest=(
            Check(
                "about half of 200 single-shot DNS queries go unanswered",
                "dns",
                LINE,
                "genuine",
                repeat=200,
                share=(0.3, 0.7),
            ),
            Check(
                # TCP retransmits through the loss: all 20 complete in some runs (upper bound 95% failed 1 run in
                # about 20), so this proves the path usable; the DNS check above proves the loss.
                "most KakaoTalk handshakes complete through the loss",
                "tls",
                KAKAO_TLS,
                "ok",
                repeat=20,
                share=(0.2, 1.0),
                timeout=LONG_TIMEOUT,
            ),
        ),
        timeout=LONG_TIMEOUT,
        noisy=0.1,
    ),
    Scenario(
        "trap_delayed_path",
        "Every forwarded packet 0.4-0.8 s late (each way), at --timeout 3: slowness is not censorship.",
        censor=(Delay(0.4, 0.8),),
        selftest=(
            Check("every connection takes 0.8-1.6 s", "tcp_rtt", KAKAO_TCP, "delayed", repeat=5, timeout=LONG_TIMEOUT),
            Check("a control handshake still completes", "tls", CONTROLS, "ok", timeout=LONG_TIMEOUT),
        ),
        timeout=LONG_TIMEOUT,
        noisy=0.1,
    ),
    Scenario(
        "trap_restricted_vantage",
        "A national allowlist: only domestic hosts (the Chinese, Russian and Iranian controls, and WeChat) and the "
        "in-country resolver answer; everything international is dropped, the DoH control too. The vantage point "
        "is restricted, not offline; no foreign endpoint is called blocked.",
        censor=(
            Rules(("-A FORWARD -d {ip} -j ACCEPT", "-A FORWARD -s {ip} -j ACCEPT"), select=DOMESTIC),
            Rules(("-A FORWARD -d {ip} -j ACCEPT", "-A FORWARD -s {ip} -j ACCEPT"), select=WECHAT),
            Rules(
                (
                    "-A FORWARD -d {system_resolver} -j ACCEPT",
                    "-A FORWARD -s {system_resolver} -j ACCEPT",
                    "-A FORWARD -j DROP",
                )
            ),
        ),
        selftest=(
            Check("an international control does not connect", "tls", INTERNATIONAL, "connect_timeout"),
            Check("a domestic control connects", "tls", DOMESTIC, "ok"),
            Check("the DoH control does not answer", "doh", CONTROLS, "timeout"),
            _genuine(LINE, "a LINE name"),
        ),
        verdicts=((DOMESTIC, "ok"), (WECHAT, "ok")),
        default="inconclusive",
        vantage="restricted",
    ),
    Scenario(
        "trap_no_controls_dead_network",
        "A dead network, measured with --targets naming every bundled list but the controls and --no-controls: "
        "nothing shows connectivity, so the vantage point is offline (exit 3), never online.",
        censor=(Rules(("-A FORWARD -j DROP",)),),
        selftest=(
            Check("the system resolver does not answer", "dns", LINE, "timeout"),
            Check("a LINE endpoint does not connect", "tls", LINE_TLS, "connect_timeout"),
        ),
        default="inconclusive",
        vantage="offline",
        exit_code=3,
        own_lists=True,
        no_controls=True,
    ),
)

# --- past the handshake (issue 16): censors that let the connect or handshake through -------------------------

PAST_HANDSHAKE: tuple[Scenario, ...] = (
    Scenario(
        "dpi_after_connect",
        "DPI that lets the connect through and drops MTProto once it sees its first bytes (Russia, 2026: an "
        "iptables u32 match on the intermediate transport's 0xeeeeeeee), and resets Signal's SNIs (Russia 2024, "
        "Cuba 2021).",
        censor=(
            Rules(
                (
                    "-A FORWARD -i {client_if} -d {ip} -p tcp --dport {port} "
                    '-m u32 --u32 "0>>22&0x3C@12>>26&0x3C@0=0xeeeeeeee" -j DROP',
                ),
                select=LAB_DC,
            ),
            Rules(
                (
                    '-A FORWARD -i {client_if} -p tcp --dport {port} -m string --algo bm --hex-string "{sni_wire}" '
                    "-j REJECT --reject-with tcp-reset",
                ),
                select=SIGNAL_TLS,
            ),
        ),
        selftest=(
            Check("the lab data centre still accepts connections", "tcp", LAB_DC, "connected"),
            Check("but req_pq_multi goes unanswered", "mtproto", LAB_DC, "timeout"),
            Check("a Signal ClientHello is reset", "tls", SIGNAL_PINNED, "reset", ca="pinned"),
            _sni_fine(SIGNAL_PINNED, "Signal"),
            _tls_ok(KAKAO_TLS, "KakaoTalk"),
        ),
        verdicts=((LAB_DC, "app.timeout"), (SIGNAL_TLS, "tls.reset")),
    ),
    Scenario(
        "freeze_and_throttle",
        f"After the handshake: transfers with LINE's web SNI freeze after {FREEZE_BYTES} bytes (connbytes on "
        "connections the SNI marked), Telegram web's SNI is held to 140 kbit/s (hashlimit), WhatsApp web's "
        "address to 140 kbit/s whatever the SNI (hashlimit by address: from here, a slow server), and KakaoTalk "
        "web's loses 30% of its packets each way after the first 8 KB (a lossy path: never a stall).",
        censor=(
            Rules(
                (
                    '-A FORWARD -i {client_if} -p tcp --dport {port} -m string --algo bm --hex-string "{sni_wire}" '
                    "-j CONNMARK --set-mark 0x16",
                    f"-A FORWARD -i {{server_if}} -p tcp -m connmark --mark 0x16 -m connbytes --connbytes "
                    f"{FREEZE_BYTES}: --connbytes-dir reply --connbytes-mode bytes -j DROP",
                ),
                select=LINE_WEB,
            ),
            Rules(
                (
                    '-A FORWARD -i {client_if} -p tcp --dport {port} -m string --algo bm --hex-string "{sni_wire}" '
                    "-j CONNMARK --set-mark 0x140",
                    "-A FORWARD -i {server_if} -p tcp -m connmark --mark 0x140 -m hashlimit --hashlimit-above "
                    "17kb/s --hashlimit-burst 32kb --hashlimit-mode srcip,srcport,dstip,dstport --hashlimit-name "
                    "sni140 -j DROP",
                ),
                select=TELEGRAM_WEB,
            ),
            Rules(
                (
                    "-A FORWARD -i {server_if} -s {ip} -p tcp --sport {port} -m hashlimit --hashlimit-above 17kb/s "
                    "--hashlimit-burst 32kb --hashlimit-mode srcip,srcport,dstip,dstport --hashlimit-name addr140 "
                    "-j DROP",
                ),
                select=WHATSAPP_WEB,
            ),
            Rules(
                tuple(
                    f"-A FORWARD -i {{{side}_if}} -{addr} {{ip}} -p tcp --{port} {{port}} -m connbytes --connbytes "
                    "8192: --connbytes-dir reply --connbytes-mode bytes -m statistic --mode random --probability 0.3 "
                    "-j DROP"
                    for side, addr, port in (("server", "s", "sport"), ("client", "d", "dport"))
                ),
                select=KAKAO_WEB,
            ),
        ),
        selftest=(
            Check("a LINE web transfer freezes", "fetch", LINE_WEB, "frozen"),
            Check("... not with the control SNI", "fetch", LINE_WEB, "fast", sni="control"),
            Check("a Telegram web transfer is slow", "fetch", TELEGRAM_WEB, "slow"),
            Check("... not with the control SNI", "fetch", TELEGRAM_WEB, "fast", sni="control"),
            Check("a WhatsApp web transfer is slow", "fetch", WHATSAPP_WEB, "slow"),
            Check("... with the control SNI too", "fetch", WHATSAPP_WEB, "slow", sni="control"),
            # 48 at once: a clean path runs all of them at line rate, this one at most nine in ten (1 in 4 here)
            Check("KakaoTalk web transfers lose packets", "fetch", KAKAO_WEB, "fast", repeat=48, share=(0, 0.9)),
            _tls_ok(KAKAO_WEB, "KakaoTalk web"),
        ),
        verdicts=((LINE_WEB, "tls.stall"), (TELEGRAM_WEB, "tls.throttled")),
    ),
)

# issue 15: the lab is dual-stack, and the probe judges each address family apart.
DUAL_STACK: tuple[Scenario, ...] = (
    Scenario(
        "ipv6_blackhole_only",
        "Every IPv6 packet to KakaoTalk's addresses dropped; IPv4 untouched. The app gets through over IPv4: every "
        "endpoint ok, and KakaoTalk's IPv6 blackholed (tcp.timeout over IPv6).",
        censor=(Rules(("-A FORWARD -d {ip} -j DROP",), select=KAKAO, families=(6,)),),
        selftest=(
            Check("a KakaoTalk tcp endpoint does not connect over IPv6", "tcp", KAKAO_TCP, "timeout", family=6),
            Check("a KakaoTalk tcp endpoint connects over IPv4", "tcp", KAKAO_TCP, "connected"),
            Check("a KakaoTalk handshake completes over IPv4", "tls", KAKAO_TLS, "ok"),
            Check("a control handshake completes over IPv6", "tls", CONTROLS, "ok", family=6),
            Check("a LINE handshake completes over IPv6", "tls", LINE_TLS, "ok", family=6),
        ),
        families=((KAKAO, "ok", "tcp.timeout"),),
    ),
    Scenario(
        "trap_ipv6_path_broken",
        "The volunteer's IPv6 leads nowhere: every forwarded IPv6 packet is dropped (a route, and nothing behind "
        "it), the controls' too. Not censorship: every endpoint ok over IPv4, and inconclusive over IPv6.",
        censor=(Rules(("-A FORWARD -j DROP",), families=(6,)),),
        selftest=(
            Check("a control does not connect over IPv6", "tls", CONTROLS, "connect_timeout", family=6),
            Check("a control handshake completes over IPv4", "tls", CONTROLS, "ok"),
            Check("a KakaoTalk handshake completes over IPv4", "tls", KAKAO_TLS, "ok"),
        ),
        families=((None, "ok", "inconclusive"),),
    ),
)

SCENARIOS = SCENARIOS + FIELD + PAST_HANDSHAKE + DUAL_STACK


# Lab scenarios with no golden scenario of the same name (tests/golden/<name>), and why; every other lab scenario
# shares its name with the golden one of the same phenomenon (tests/unit/test_scenario_names.py).
LAB_ONLY = {
    "dns_injection_lost_race": "no golden scenario records the genuine answer arriving first yet",
    "dns_bogon_localhost_and_iran_blockpage": "golden dns_bogon_localhost and dns_bogon_iran_blockpage in one censor",
    "trap_transparent_dns_proxy": "no golden scenario records an honest port-53 redirect yet",
    "trap_delayed_path": "no golden scenario records a slow path yet",
    "dns_removed_poisoned_injected": "four DNS censors on four services at once, each with its own golden scenario",
    "transport_refusals": "several transport censors at once, each with its own golden scenario",
    "interception_and_penalty_box": "several TLS censors at once, each with its own golden scenario",
    "dpi_after_connect": "golden app_mtproto_dropped, and Signal's SNI reset (tls_sni_reset) under a pinned CA",
    "freeze_and_throttle": "golden tls_stall_after_16k, tls_throttled_sni, trap_slow_server and trap_transfer_loss "
    "in one censor",
}


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

    return {e.key: verdict(e) for e in lab.endpoints if not (scenario.no_controls and e.target.is_control)}


def expected_family_verdicts(scenario: Scenario, lab: LabPlan) -> dict[tuple[str, str, int, str], dict[str, str]]:
    """`ipv4`/`ipv6` -> verdict for every endpoint, where the scenario judges per address family (else empty)."""
    if not (scenario.per_family or scenario.families):
        return {}
    overall = expected_verdicts(scenario, lab)
    out = {}
    for e in lab.endpoints:
        if e.key not in overall:
            continue
        pair = next(((v4, v6) for select, v4, v6 in scenario.families if select is None or select.matches(e)), None)
        v4, v6 = pair if pair and e.address is not None else (overall[e.key], overall[e.key])
        out[e.key] = {"ipv4": v4, "ipv6": v6} if e.address6 is not None else {"ipv4": v4}
    return out
