"""The control vantage in the lab (issue 17): `probe helper serve` runs on the server side, outside the censor, and
measures the same lab services as the probe; the probe asks it through the censor.

The services that are really down are made so in the server namespace itself (its INPUT chain), so the helper
meets them down too: LINE refuses every connection, WeChat is silent. The censor blocks KakaoTalk by SNI, as in
`sni_rst`. Two probe runs:

- the helper answers: LINE and WeChat are `inconclusive` ("down at the control vantage too"), KakaoTalk's block
  stands, everything else is `ok`;
- the censor drops the helper and a second helper lies (the genuine view, signed with another key): the lie is
  refused, and every verdict is what a probe without a helper gives (LINE `tcp.reset`, WeChat `tcp.timeout`).

Each change to the lab proves itself from the client first (as every censor does), and is undone in `finally`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from probe import helperview as helper_view
from probe import signing
from probe.minisign import SecretKey
from tests import privacy
from tests.lab import plan as addr
from tests.lab import servers
from tests.lab.censor import Rules
from tests.lab.lab import HERE, Lab
from tests.lab.netns import address, run
from tests.lab.plan import Select
from tests.lab.verdicts import PROBE, TIMEOUT, probe_argv, probe_env

pytestmark = pytest.mark.lab

HELPER = "198.51.100.70"  # the control vantage, on the server side
LIAR = "198.51.100.71"  # a helper that signs with another key
PORT = 8081
SERVICES = ("kakaotalk", "line", "wechat")  # the controls come along by themselves
KAKAO_TLS = Select(("kakaotalk",), ("tls",))
LINE = Select(("line",))
WECHAT = Select(("wechat",))
SNI_RST = Rules(
    ('-A FORWARD -p tcp --dport {port} -m string --string "{sni}" --algo bm -j REJECT --reject-with tcp-reset',),
    select=KAKAO_TLS,
)
BLOCK_HELPER = Rules((f"-A FORWARD -d {HELPER} -j DROP",), families=(4,))  # the helper has no IPv6 address


@dataclass(frozen=True)
class Expect:
    """What a run must give: (selection, verdict) pairs; every other endpoint `ok`."""

    verdicts: tuple[tuple[Select, str], ...]
    helper: str

    def of(self, lab: Lab) -> dict[tuple[str, str, int, str], str]:
        out: dict[tuple[str, str, int, str], str] = {}
        for e in lab.plan.served:
            if e.target.service not in (*SERVICES, "control"):
                continue
            out[e.key] = next((v for s, v in self.verdicts if s.matches(e)), "ok")
        return out


ANSWERS = Expect(((KAKAO_TLS, "tls.reset"), (LINE, "inconclusive"), (WECHAT, "inconclusive")), "ok")
NO_HELPER = Expect(((KAKAO_TLS, "tls.reset"), (LINE, "tcp.reset"), (WECHAT, "tcp.timeout")), "refused")


@contextmanager
def services_down(lab: Lab) -> Iterator[None]:
    """LINE refuses and WeChat is silent, for everyone (the helper too): rules in the server's own INPUT chain, over
    both address families (the lab is dual-stack)."""
    rules = [
        (tool, f"-A INPUT -d {ip} -p tcp -j REJECT --reject-with tcp-reset")
        for e in _unique(lab, LINE)
        for tool, ip in (("iptables", e.address), ("ip6tables", e.address6))
    ]
    rules += [
        (tool, f"-A INPUT -d {ip} -p tcp -j DROP")
        for e in _unique(lab, WECHAT)
        for tool, ip in (("iptables", e.address), ("ip6tables", e.address6))
    ]
    try:
        for tool, rule in rules:
            run([tool, *rule.split()], ns=lab.server_ns)
        yield
    finally:
        for tool in ("iptables", "ip6tables"):
            run([tool, "-F", "INPUT"], ns=lab.server_ns, check=False)


def _unique(lab: Lab, select: Select) -> list[Any]:
    return list({e.address: e for e in lab.plan.select(select)}.values())


@contextmanager
def helpers(lab: Lab, folder: Path) -> Iterator[tuple[str, Path]]:
    """The genuine helper (measuring the lab from the server side) and the lying one; yields the genuine key and
    the genuine helper's state folder once its first view is written."""
    assert lab.pki is not None
    started: list[servers.Server] = []
    for ip in (HELPER, LIAR):
        address(lab.server_ns, "lo", f"{ip}/32")
    try:
        state = folder / "helper"
        argv = [PROBE, "helper", "serve", "--state-dir", str(state), "--host", HELPER, "--port", str(PORT),
                "--resolver", addr.CONTROL_RESOLVER, "--doh", f"https://{addr.CONTROL_RESOLVER}/dns-query",
                "--ca-file", str(lab.pki.ca_file), "--timeout", f"{TIMEOUT:g}", "--every", "3600",
                "--probe-cc", "DE", "--probe-asn", "AS3320"]  # fmt: skip
        argv += [a for s in SERVICES for a in ("--service", s)]
        started.append(servers.start(lab.server_ns, "helper", argv, folder, [("tcp", HELPER, PORT)]))
        deadline = time.monotonic() + 120
        while not (state / "view.json").exists():
            assert time.monotonic() < deadline, f"no view within 120 s:\n{started[0].tail()}"
            assert started[0].process.poll() is None, f"the helper stopped:\n{started[0].tail()}"
            time.sleep(0.5)
        public = (state / "key" / "probe.pub").read_text().splitlines()[1]
        lie = folder / "lie.minisig"  # the genuine view, vouched for by a key the probe does not trust
        lie.write_bytes(
            signing.sign_result((state / "view.json").read_bytes(), helper_view.FILE_NAME, SecretKey.generate())
        )
        argv = [lab.python, str(HERE / "staticview.py"), LIAR, str(PORT), str(state / "view.json"), str(lie)]
        started.append(servers.start(lab.server_ns, "liar", argv, folder, [("tcp", LIAR, PORT)]))
        yield public, state
    finally:
        for server in started:
            server.stop()
        for ip in (HELPER, LIAR):
            run(["ip", "-n", lab.server_ns, "addr", "del", f"{ip}/32", "dev", "lo"], check=False)


def _raw(lab: Lab, checks: list[dict[str, Any]]) -> list[list[Any]]:
    done = lab.in_client([lab.python, str(HERE / "rawclient.py")], input=json.dumps(checks))
    return list(json.loads(done.stdout))


def _probe(lab: Lab, home: Path, results: Path, urls: list[str], key: str) -> dict[str, Any]:
    argv = probe_argv(lab, results, capture=False)
    argv += [a for s in SERVICES for a in ("--service", s)]
    argv += [a for u in urls for a in ("--helper", u)] + ["--helper-key", key]
    done = lab.in_client(argv, env=probe_env(home), timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def _check(lab: Lab, summary: dict[str, Any], expect: Expect) -> None:
    got = {(e["service"], e["host"], e["port"], e["protocol"]): e for e in summary["endpoints"]}
    wrong = [
        f"{k[0]} {k[3]}://{k[1]}:{k[2]}: {got[k]['verdict']}, expected {v} -- {'; '.join(got[k]['evidence'])}"
        for k, v in expect.of(lab).items()
        if k in got and got[k]["verdict"] != v
    ]
    assert not wrong, "\n".join(wrong)
    assert summary["vantage"]["helper"] == expect.helper


def test_the_control_vantage_tells_down_from_blocked(lab: Lab, probe_home: Path, tmp_path: Path) -> None:
    line, wechat = lab.plan.first(LINE), lab.plan.first(WECHAT)
    with services_down(lab), helpers(lab, tmp_path) as (key, state):
        helper_url, liar_url = f"http://{HELPER}:{PORT}", f"http://{LIAR}:{PORT}"
        document = json.loads((state / "view.json").read_bytes())
        seen = {e["id"]: e for e in document["endpoints"]}
        assert not any(c["works"] for c in seen[line.target.id]["connections"]), "the helper must see LINE down"
        assert not any(c["works"] for c in seen[wechat.target.id]["connections"]), "the helper must see WeChat down"
        with lab.censor((SNI_RST,)):
            proof = _raw(lab, [
                {"kind": "tcp", "ip": line.address, "port": line.target.port, "timeout": 1.0, "repeat": 1},
                {"kind": "tcp", "ip": wechat.address, "port": wechat.target.port, "timeout": 1.0, "repeat": 1},
                {"kind": "tcp", "ip": HELPER, "port": PORT, "timeout": 1.0, "repeat": 1},
            ])  # fmt: skip
            assert proof == [["refused"], ["timeout"], ["connected"]], proof
            results = tmp_path / "results"
            answered = _probe(lab, probe_home, results, [helper_url], key)
            identity = privacy.machine([addr.CLIENT, addr.SYSTEM_RESOLVER], [probe_home, results], netns=lab.client_ns)
        _check(lab, answered, ANSWERS)
        line_evidence = next(e for e in answered["endpoints"] if e["host"] == line.target.host)["evidence"]
        assert line_evidence[0].startswith("down at the control vantage too: the control vantage (DE AS3320)")
        data = Path(answered["result_file"]).read_bytes()
        assert privacy.leaks(data, identity) == []
        first = json.loads(data.splitlines()[0])
        assert first["test_helpers"]["helper"] == [helper_url]
        with lab.censor((SNI_RST, BLOCK_HELPER)):
            assert _raw(lab, [{"kind": "tcp", "ip": HELPER, "port": PORT, "timeout": 1.0, "repeat": 1}]) == [
                ["timeout"]
            ]
            refused = _probe(lab, probe_home, tmp_path / "results2", [helper_url, liar_url], key)
        _check(lab, refused, NO_HELPER)
        reasons = json.loads(Path(refused["result_file"]).read_bytes().splitlines()[0])["test_keys"]["controls"]
        assert reasons["helper_reasons"][0] == f"{helper_url}: unreachable: generic_timeout_error"
        assert reasons["helper_reasons"][1].startswith(f"{liar_url}: refused: signed by key ")
