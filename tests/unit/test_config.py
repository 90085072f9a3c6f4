"""The configuration file: defaults, file, environment, errors that name file, key and problem, atomic save."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.local import config


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROBE_HOME", str(tmp_path / "home"))
    for variable in (*config.ENVIRONMENT.values(), config.CONFIG_VARIABLE):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / "home"


def write(text: str) -> Path:
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_file_gives_the_defaults() -> None:
    settings = config.load()
    assert settings == config.Settings()
    assert settings.upload.enabled is False
    assert settings.consent.accepted is False
    assert settings.run.timeout == 5.0
    assert settings.run.results_dir == Path(os.environ["PROBE_HOME"]) / "data" / "results"  # never ./results
    assert (settings.retention.days, settings.retention.megabytes) == (90, 200)
    assert config.config_path() == Path(os.environ["PROBE_HOME"]) / "config" / "config.toml"


def test_file_values_are_read_and_normalised() -> None:
    write(
        """
[consent]
accepted = true
version = 1
when = 2026-11-28T10:00:00Z
[upload]
enabled = true
collector_url = "https://collector.example.net/"
socks_proxy = "socks5h://127.0.0.1:9050"
[location]
probe_cc = "kr"
probe_asn = 4766
geoip_db = "~/GeoLite2-ASN.mmdb"
[run]
services = ["kakaotalk", "line"]
timeout = 2
results_dir = "/srv/results"
[retention]
days = 7
"""
    )
    s = config.load()
    assert s.consent == config.Consent(accepted=True, version=1, when="2026-11-28T10:00:00Z")
    assert s.upload.collector_url == "https://collector.example.net/"
    assert s.upload.socks_proxy == "socks5h://127.0.0.1:9050"
    assert (s.location.probe_cc, s.location.probe_asn) == ("KR", "AS4766")
    assert s.location.geoip_db == (Path.home() / "GeoLite2-ASN.mmdb",)
    assert s.run.services == ("kakaotalk", "line")
    assert s.run.timeout == 2.0
    assert s.run.results_dir == Path("/srv/results")
    assert s.retention == config.Retention(days=7, megabytes=200)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[upload]\ncolector_url = 'https://x'\n", "[upload] colector_url: unknown key"),
        ("[run]\ntimeout = 0\n", "[run] timeout: Input should be greater than 0"),
        ("[run]\ntimeout = 'soon'\n", "[run] timeout: Input should be a valid number"),
        ("[location]\nprobe_cc = 'Korea'\n", "[location] probe_cc: must be a two-letter country code"),
        ("[location]\nprobe_asn = 'ASX'\n", "[location] probe_asn: must be an autonomous system number"),
        ("[location]\ngeoip_db = 'db.mmdb'\n", "[location] geoip_db: must be an absolute path"),
        ("[location]\ngeoip_address = 'here'\n", "[location] geoip_address: must be an IPv4 or IPv6 address"),
        ("[upload]\nsocks_proxy = 'http://proxy'\n", "[upload] socks_proxy: must be a socks5h://"),
        ("[upload]\ncollector_url = 'ftp://x'\n", "[upload] collector_url: must be an http://"),
        ("[run]\ndoh = ['http://1.1.1.1/dns-query']\n", "[run] doh: a DoH resolver is an https:// URL"),
        ("[retention]\nmegabytes = 0\n", "[retention] megabytes: Input should be greater than or equal to 1"),
        ("upload = true\n", "[upload]: must be a table"),
        ("[run\n", "is not valid TOML"),
        ("[control]\nhelper_url = 'ftp://helper'\nhelper_key = 'x'\n", "[control] helper_url: must be http://"),
        ("[control]\nhelper_key = ['RWQnot-a-key']\n", "[control] helper_key: must be minisign public keys"),
        ("[control]\nhelper_url = 'https://helper.example'\n", "[control]: helper_url needs helper_key"),
    ],
)
def test_bad_file_names_file_key_and_problem(text: str, named: str) -> None:
    path = write(text)
    with pytest.raises(config.ConfigError) as caught:
        config.load()
    assert caught.value.source == str(path)
    assert any(named in problem for problem in caught.value.problems), caught.value.problems


def test_the_control_section_and_its_variables() -> None:
    from probe.minisign import SecretKey

    key = SecretKey.generate().public_key().to_base64()
    write(f"[control]\nhelper_url = 'https://helper.example'\nhelper_key = '{key}'\n")
    assert config.load({}).control.helper_url == ("https://helper.example",)
    env = {"PROBE_HELPER_URL": "https://a.example, http://b.example:8081", "PROBE_HELPER_KEY": key}
    s = config.load(env)
    assert s.control.helper_url == ("https://a.example", "http://b.example:8081")
    assert s.control.helper_key == (key,)


def test_every_problem_is_reported_at_once() -> None:
    write("[run]\ntimeout = -1\nresolverr = '1.1.1.1'\n[retention]\ndays = 0\n")
    with pytest.raises(config.ConfigError) as caught:
        config.load()
    assert len(caught.value.problems) == 3


def test_environment_overrides_the_file() -> None:
    write("[run]\ntimeout = 2\n[upload]\nenabled = true\n")
    env = {
        "PROBE_TIMEOUT": "7.5",
        "PROBE_UPLOAD": "no",
        "PROBE_CC": "ir",
        "PROBE_ASN": "AS197207",
        "PROBE_SERVICES": "line, wechat",
        "PROBE_DOH": "https://1.1.1.1/dns-query,https://9.9.9.9/dns-query",
        "PROBE_CA_FILES": f"/a.pem{os.pathsep}/b.pem",
        "PROBE_RESULTS_DIR": "relative/results",
        "PROBE_RETENTION_MB": "50",
        "PROBE_RESOLVER": "",  # empty means unset, as `docker run -e X=` gives
    }
    s = config.load(env)
    assert s.run.timeout == 7.5
    assert s.upload.enabled is False
    assert (s.location.probe_cc, s.location.probe_asn) == ("IR", "AS197207")
    assert s.run.services == ("line", "wechat")
    assert s.run.doh == ("https://1.1.1.1/dns-query", "https://9.9.9.9/dns-query")
    assert s.run.ca_files == (Path("/a.pem"), Path("/b.pem"))
    assert s.run.results_dir == Path.cwd() / "relative/results"  # resolved now: a scheduled run starts elsewhere
    assert s.retention.megabytes == 50
    assert s.run.resolver is None
    assert config.load({}).run.timeout == 2.0  # `{}`: the file alone


def test_bad_environment_names_the_variable() -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load({"PROBE_TIMEOUT": "soon", "PROBE_UPLOAD": "perhaps"})
    assert caught.value.source == "environment"
    assert any(p.startswith("PROBE_TIMEOUT: ") for p in caught.value.problems)
    assert any(p.startswith("PROBE_UPLOAD: ") for p in caught.value.problems)


def test_probe_config_names_another_file(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[run]\ntimeout = 9\n")
    assert config.load({"PROBE_CONFIG": str(other)}).run.timeout == 9.0


def test_save_round_trips_and_keeps_defaults_commented() -> None:
    settings = config.Settings(
        consent=config.Consent(accepted=True, version=1, when="2026-11-28T10:00:00Z"),
        upload=config.Upload(enabled=True, collector_url='https://c.example/"quoted"\\'),
        run=config.Run(doh=("https://1.1.1.1/dns-query",), timeout=3.0),
    )
    path = config.save(settings)
    assert config.load({}) == settings
    text = path.read_text()
    assert "# days = 90" in text  # a default the volunteer never chose stays a comment
    assert "accepted = true" in text
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left behind


def test_config_show_prints_effective_settings_and_exits_2_on_a_bad_file(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("PROBE_TIMEOUT", "4")
    shown = runner.invoke(app, ["config", "show"])
    assert shown.exit_code == 0, shown.output
    assert "timeout = 4.0" in shown.output
    assert "PROBE_TIMEOUT" in shown.output
    as_json = runner.invoke(app, ["config", "show", "--json"])
    assert as_json.exit_code == 0
    assert '"timeout": 4.0' in as_json.output
    path = write("[run]\ntimeout = 'soon'\n")
    bad = runner.invoke(app, ["config", "show"])
    assert bad.exit_code == 2
    assert str(path) in bad.output and "[run] timeout" in bad.output
    assert "Traceback" not in bad.output


def test_config_set_writes_one_checked_key_and_keeps_the_rest() -> None:
    write("[run]\ntimeout = 7.5\n")
    runner = CliRunner()
    done = runner.invoke(app, ["config", "set", "upload.collector_url", "https://collector.example"])
    assert done.exit_code == 0, done.output
    assert runner.invoke(app, ["config", "set", "retention.days", "30"]).exit_code == 0
    assert runner.invoke(app, ["config", "set", "run.services", '["line", "wechat"]']).exit_code == 0
    settings = config.load()
    assert settings.upload.collector_url == "https://collector.example"
    assert (settings.retention.days, settings.run.services, settings.run.timeout) == (30, ("line", "wechat"), 7.5)
    assert config.config_path().stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("upload.colector_url", "https://c.example", "no such setting; the settings are: upload.enabled"),
        ("consent.accepted", "true", "consent is given with `probe init`"),
        ("upload.collector_url", "ftp://c.example", "must be an http:// or https:// URL"),
        ("retention.days", "0", "greater than or equal to 1"),
    ],
)
def test_config_set_refuses_what_the_file_would_refuse(name: str, value: str, message: str) -> None:
    done = CliRunner().invoke(app, ["config", "set", name, value])
    assert done.exit_code == 2, done.output
    assert f"probe config set {name}: " in done.stderr and message in done.stderr
    assert not config.config_path().exists()  # nothing written


def test_init_collector_sets_the_collector_and_turns_uploads_on() -> None:
    done = CliRunner().invoke(app, ["init", "--accept-risks", "--collector", "https://collector.example"])
    assert done.exit_code == 0, done.output
    assert "Uploads: on, to https://collector.example." in done.stdout
    settings = config.load()
    assert settings.upload.enabled and settings.upload.collector_url == "https://collector.example"
    bad = CliRunner().invoke(app, ["init", "--accept-risks", "--collector", "collector.example"])
    assert bad.exit_code == 2 and "--collector collector.example: must be an http:// or https:// URL" in bad.stderr
