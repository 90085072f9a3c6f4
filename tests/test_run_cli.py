"""`probe run` at its edges: bad options exit 2 naming the problem before anything is measured; no network at all
exits 3, says so, and still writes the offline result file; `--json` prints the contract's summary and nothing
else. Runs that could reach a network happen only inside an empty network namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from tests import netns as namespaces

PROBE = [sys.executable, "-m", "probe"]


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_HOME", str(tmp_path / "home"))
    for name in [n for n in os.environ if n.startswith("PROBE_") and n != "PROBE_HOME"]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "0"], "--timeout 0: Input should be greater than 0"),
        # Issue 21: the configuration file refused these, the option took them (inf hung, nan failed every step).
        (["--timeout", "inf"], "--timeout inf: Input should be a finite number"),
        (["--timeout", "1e308"], "--timeout 1e+308: Input should be less than or equal to 600"),
        (["--timeout", "nan"], "--timeout nan: Input should be a finite number"),
        (["--ca-file", "/dev/zero"], "--ca-file /dev/zero: not a regular file"),
        (["--service", "icq"], "unknown --service icq; the target list has: "),
        (["--resolver", "dns.example"], "--resolver dns.example: not an IP address"),
        (["--resolver", "[2001:db8::53]:70000"], "--resolver [2001:db8::53]:70000: port must be 1-65535"),
        (["--resolver", "192.0.2.53:fiftythree"], "--resolver 192.0.2.53:fiftythree: port must be a number"),
        (["--doh", "http://192.0.2.1/dns-query"], "a DoH resolver is an https:// URL"),
        (["--ca-file", "/nonexistent/ca.pem"], "--ca-file /nonexistent/ca.pem: no such file"),
        (["--targets", "/nonexistent/list.toml"], "bad target list:\n  /nonexistent/list.toml: cannot read"),
        (["--helper", "https://helper.example"], "--helper needs the helper's public key: --helper-key KEY"),
        (["--helper", "helper.example"], "--helper helper.example: a helper is an http:// or https:// base URL"),
        (["--helper", "https://h.example", "--helper-key", "RWQx"], "--helper-key RWQx: not a minisign public key"),
    ],
)
def test_bad_options_exit_2_naming_the_problem(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--results-dir", str(tmp_path / "results"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "results").exists()  # nothing was measured, nothing written


@pytest.mark.parametrize("where", ["environment", "file"])
def test_a_bad_setting_is_blamed_on_its_source_not_on_an_option(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    monkeypatch.setenv("PROBE_CONFIG", str(config))
    if where == "environment":
        monkeypatch.setenv("PROBE_RESOLVER", "dns.example")
    else:
        config.write_text('[run]\nresolver = "dns.example"\n')
    result = CliRunner().invoke(app, ["run", "--results-dir", str(tmp_path / "results")])
    assert result.exit_code == 2, result.output
    source = "environment variable PROBE_RESOLVER" if where == "environment" else f"[run] resolver in {config}"
    assert f"{source} dns.example: not an IP address" in result.stderr
    assert "--resolver" not in result.stderr


def test_the_helpers_are_asked_through_the_uploads_proxy_unless_no_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17: `[control]` names the helpers (several, tried in turn), `--helper` replaces them, `--no-helper`
    asks none; they are asked through `[upload] socks_proxy` as uploads are, and never around a proxy httpx cannot
    speak (a SOCKS4 one: the run stops before measuring rather than going direct)."""
    from probe import lifecycle
    from probe.local import config
    from probe.minisign import SecretKey

    key = SecretKey.generate().public_key().to_base64()
    monkeypatch.setenv("PROBE_HELPER_URL", "https://a.example,http://b.example:8081")
    monkeypatch.setenv("PROBE_HELPER_KEY", key)
    monkeypatch.setenv("PROBE_SOCKS_PROXY", "socks5h://127.0.0.1:9050")
    settings = config.load()
    resolver = "198.51.100.53"
    configured = lifecycle._config(lifecycle.Options(resolver=resolver), settings)
    assert configured.helper_urls == ("https://a.example", "http://b.example:8081")
    assert configured.helper_keys == (key,) and configured.helper_proxy == "socks5h://127.0.0.1:9050"
    given = lifecycle._config(lifecycle.Options(resolver=resolver, helper_urls=("https://c.example",)), settings)
    assert given.helper_urls == ("https://c.example",) and given.helper_keys == (key,)
    off = lifecycle._config(lifecycle.Options(resolver=resolver, no_helper=True), settings)
    assert off.helper_urls == () and off.helper_keys == ()
    monkeypatch.setenv("PROBE_SOCKS_PROXY", "socks4a://127.0.0.1:9050")
    socks4 = config.load()
    with pytest.raises(lifecycle.Stop) as stopped:
        lifecycle._config(lifecycle.Options(resolver=resolver), socks4)
    assert str(stopped.value).startswith("environment variable PROBE_SOCKS_PROXY: socks4a://127.0.0.1:9050: requests")
    assert lifecycle._config(lifecycle.Options(resolver=resolver, no_helper=True), socks4).helper_urls == ()


@pytest.fixture
def empty_netns() -> Iterator[str]:
    with namespaces.empty_netns("pr") as name:
        yield name


def _probe(ns: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.lab
def test_no_network_exits_3_and_still_writes_the_offline_result_file(empty_netns: str, tmp_path: Path) -> None:
    """With a control vantage configured too: it cannot be reached either, which is said in `controls` and
    changes nothing else."""
    from probe.minisign import SecretKey

    assert _probe(empty_netns, "init", "--accept-risks", "--no-upload").returncode == 0
    helper = ["--helper", "http://198.51.100.70:8081", "--helper-key", SecretKey.generate().public_key().to_base64()]
    done = _probe(empty_netns, "run", "--json", "--timeout", "1", "--results-dir", str(tmp_path / "results"), *helper)
    assert done.returncode == 3, done.stderr
    assert "no network" in done.stderr and "Traceback" not in done.stderr
    summary = json.loads(done.stdout)  # the whole of stdout is one JSON object
    assert set(summary) == {"result_file", "signature_file", "vantage", "endpoints", "services"}
    assert summary["vantage"] == {"status": "offline", "probe_cc": "ZZ", "probe_asn": "AS0", "helper": "unreachable"}
    assert summary["endpoints"] and {e["verdict"] for e in summary["endpoints"]} == {"inconclusive"}
    for endpoint in summary["endpoints"]:
        assert set(endpoint) == {"service", "host", "port", "protocol", "verdict", "confidence", "evidence", "families"}
        assert endpoint["families"] == {}  # nothing of either address family was measured (issue 15)
    assert {s["status"] for s in summary["services"]} == {"inconclusive"}
    lines = Path(summary["result_file"]).read_text().splitlines()
    assert len(lines) == len(summary["endpoints"])
    assert all(json.loads(line)["test_keys"]["controls"]["vantage"] == "offline" for line in lines)
    controls = json.loads(lines[0])["test_keys"]["controls"]
    assert controls["helper_reasons"] == ["http://198.51.100.70:8081: unreachable: network_unreachable"]
    assert Path(summary["signature_file"]).is_file()


@pytest.mark.lab
def test_a_bad_location_database_is_blamed_on_where_it_was_set(empty_netns: str, tmp_path: Path) -> None:
    """In an empty namespace: should the check ever come too late, the run measures nothing but a dead network."""
    config = tmp_path / "config.toml"
    config.write_text('[location]\ngeoip_address = "203.0.113.7"\n')
    env = {"PROBE_CONFIG": str(config), "PROBE_GEOIP_DB": str(tmp_path / "missing.mmdb")}
    assert _probe(empty_netns, "init", "--accept-risks", "--no-upload", env=env).returncode == 0
    done = _probe(empty_netns, "run", "--results-dir", str(tmp_path / "results"), env=env)
    assert done.returncode == 2, done.stderr
    assert "missing.mmdb: no such file (from environment variable PROBE_GEOIP_DB)" in done.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.lab
def test_a_garbled_ca_file_exits_2_before_measuring(empty_netns: str, tmp_path: Path) -> None:
    garbled = tmp_path / "ca.pem"
    garbled.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    assert _probe(empty_netns, "init", "--accept-risks", "--no-upload").returncode == 0
    done = _probe(empty_netns, "run", "--ca-file", str(garbled), "--results-dir", str(tmp_path / "results"))
    assert done.returncode == 2, done.stderr
    assert f"cannot load trust anchors from {garbled}" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


MY_LIST = """version = "2026-12-08"
[[endpoint]]
service = "line"
host = "legy.line-apps.com"
port = 443
protocol = "tls"
"""


@pytest.mark.lab
@pytest.mark.parametrize("no_controls", [False, True], ids=["own-list", "own-list-no-controls"])
def test_an_own_list_keeps_the_bundled_controls_and_a_dead_network_is_never_online(
    no_controls: bool, empty_netns: str, tmp_path: Path
) -> None:
    """Issue 15: `--targets FILE` must not drop the bundled controls, and a list without controls (here with
    `--no-controls`) on a dead network is offline (exit 3), never online."""
    mine = tmp_path / "mine.toml"
    mine.write_text(MY_LIST)
    assert _probe(empty_netns, "init", "--accept-risks", "--no-upload").returncode == 0
    args = ["run", "--json", "--timeout", "1", "--targets", str(mine), "--results-dir", str(tmp_path / "results")]
    done = _probe(empty_netns, *args, *(["--no-controls"] if no_controls else []))
    assert done.returncode == 3, done.stderr
    summary = json.loads(done.stdout)
    assert summary["vantage"]["status"] == "offline"
    services = {e["service"] for e in summary["endpoints"]}
    assert services == ({"line"} if no_controls else {"line", "control"})
    if no_controls:
        assert "the list has no controls" in done.stderr
