"""The configuration file (TOML, `config.toml` in `probe.local.paths.config_dir()`), environment overrides, and the
frozen `Settings` every command reads.

Precedence, lowest first: built-in defaults, the file, `PROBE_*` environment variables, command-line options (the
commands apply those). `Settings` has the file's shape, section for section:

```toml
[consent]    accepted, version, when             written by `probe init` (or `probe run`'s question)
[upload]     enabled, collector_url, socks_proxy
[location]   probe_cc, probe_asn, geoip_db, geoip_address
[run]        targets, services, resolver, doh, ca_files, timeout, results_dir, capture
[retention]  days, megabytes
[control]    helper_url, helper_key
```

Paths in the file must be absolute (`~` is expanded): an unattended run from cron or systemd starts in another
working directory than the shell the volunteer edited the file from. A bad file or variable raises `ConfigError`
naming the file (or variable), the key and the problem; the command line turns it into exit 2.

`save()` writes the whole file atomically; keys left at their default are written commented out, so the file
documents every setting and a later release can change a default the volunteer never chose. Comments the volunteer
added by hand are not kept across a save (only `probe init` and the consent question save).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from probe import atomicfile, readfile
from probe.local import paths

CONFIG_NAME = "config.toml"
CONFIG_VARIABLE = "PROBE_CONFIG"  # names another configuration file (Docker, tests, several profiles)


class ConfigError(Exception):
    """The configuration cannot be used. `problems` are complete sentences naming the key and what is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: " + "; ".join(problems))


class _Section(BaseModel):
    # Unknown keys are errors: a typo (`colector_url`) must not silently fall back to a default.
    model_config = ConfigDict(frozen=True, extra="forbid")


def _listify(value: Any) -> Any:
    """A single string where a list is expected is a list of one (`geoip_db = "/x.mmdb"`)."""
    return [value] if isinstance(value, str | Path) else value


def _absolute(value: Path) -> Path:
    path = value.expanduser()
    if not path.is_absolute():
        raise ValueError(f"must be an absolute path (~ is allowed), not {str(value)!r}")
    return path


class Consent(_Section):
    """The volunteer's informed consent: given or not, to which version of the text, and when (UTC, ISO 8601)."""

    accepted: bool = False
    version: int = Field(default=0, ge=0)
    when: str | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _when(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat().replace("+00:00", "Z")
        return value


class Upload(_Section):
    """Whether result files are queued for upload, where they go, and through which proxy (e.g. Tor)."""

    enabled: bool = False
    collector_url: str | None = None
    socks_proxy: str | None = None

    @field_validator("collector_url")
    @classmethod
    def _collector(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            raise ValueError(f"must be an http:// or https:// URL, not {value!r}")
        return value

    @field_validator("socks_proxy")
    @classmethod
    def _socks(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"socks(4|4a|5|5h)://[^/\s]+", value):
            raise ValueError(f"must be a socks5h://, socks5://, socks4a:// or socks4:// URL, not {value!r}")
        return value


class Location(_Section):
    """Where the probe stands, at the granularity result files carry: country and network, never finer.

    `probe_cc`/`probe_asn` win; else the `geoip_db` files (MaxMind format) are looked up with `geoip_address`, or
    with a public address the machine itself holds (see `probe.local.geo`); else `ZZ`/`AS0`."""

    probe_cc: str | None = None
    probe_asn: str | None = None
    geoip_db: tuple[Path, ...] = ()
    geoip_address: str | None = None

    @field_validator("probe_cc")
    @classmethod
    def _cc(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError(f"must be a two-letter country code (ISO 3166-1 alpha-2) such as KR, not {value!r}")
        return value.upper()

    @field_validator("probe_asn", mode="before")
    @classmethod
    def _asn(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"AS{value}"
        if isinstance(value, str):
            match = re.fullmatch(r"(?:AS)?(\d{1,10})", value.strip(), re.IGNORECASE)
            if not match or int(match.group(1)) >= 2**32:
                raise ValueError(f"must be an autonomous system number such as AS4766, not {value!r}")
            return f"AS{int(match.group(1))}"
        return value

    @field_validator("geoip_db", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return _listify(value)

    @field_validator("geoip_db")
    @classmethod
    def _paths(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        return tuple(_absolute(p) for p in value)

    @field_validator("geoip_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"must be an IPv4 or IPv6 address, not {value!r}") from None


class Run(_Section):
    """Defaults for `probe run`'s options (the options of the same names override them)."""

    targets: tuple[Path, ...] = ()
    services: tuple[str, ...] = ()
    resolver: str | None = None
    doh: tuple[str, ...] = ()
    ca_files: tuple[Path, ...] = ()
    timeout: float = Field(default=5.0, gt=0, le=600, allow_inf_nan=False)
    results_dir: Path = Field(default_factory=paths.default_results_dir)  # a relative one: the working directory
    capture: bool = True

    @field_validator("targets", "services", "doh", "ca_files", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return _listify(value)

    @field_validator("targets", "ca_files")
    @classmethod
    def _paths(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        return tuple(_absolute(p) for p in value)

    @field_validator("results_dir")
    @classmethod
    def _results(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("doh")
    @classmethod
    def _doh(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith("https://"):
                raise ValueError(f"a DoH resolver is an https:// URL, not {url!r}")
        return value


class Retention(_Section):
    """How much of the results folder a probe keeps: files older than `days` go, then the oldest until the folder
    is under `megabytes`. The defaults keep about three months of four runs a day in a few tens of MB, and never
    more than 200 MB: safe on the smallest VPS."""

    days: int = Field(default=90, ge=1)
    megabytes: int = Field(default=200, ge=1)


class Control(_Section):
    """The control vantage (`probe helper serve`, issue 17): helpers asked once per run for their view, in turn,
    through `[upload] socks_proxy`; a view counts only when one of `helper_key` (minisign public keys, the `RW...`
    line of the helper's .pub file) signed it."""

    helper_url: tuple[str, ...] = ()
    helper_key: tuple[str, ...] = ()

    @field_validator("helper_url", "helper_key", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return _listify(value)

    @field_validator("helper_url")
    @classmethod
    def _urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", url):
                raise ValueError(f"must be http:// or https:// URLs without a query, not {url!r}")
        return value

    @field_validator("helper_key")
    @classmethod
    def _keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from probe import minisign

        for key in value:
            try:
                minisign.PublicKey.from_base64(key)
            except minisign.MinisignError:
                raise ValueError(f"must be minisign public keys (the RW... line of a .pub file), not {key!r}") from None
        return value

    @model_validator(mode="after")
    def _paired(self) -> Control:
        if self.helper_url and not self.helper_key:
            raise ValueError("helper_url needs helper_key: a helper's answers count only when its key signed them")
        return self


class Settings(_Section):
    """Everything the configuration decides, after defaults, the file and the environment."""

    consent: Consent = Consent()
    upload: Upload = Upload()
    location: Location = Location()
    run: Run = Field(default_factory=Run)  # made per load: its results_dir default depends on the environment
    retention: Retention = Retention()
    control: Control = Control()


# (section, key) -> environment variable. Lists are separated by commas, paths by os.pathsep (":").
ENVIRONMENT: Mapping[tuple[str, str], str] = {
    ("upload", "enabled"): "PROBE_UPLOAD",
    ("upload", "collector_url"): "PROBE_COLLECTOR_URL",
    ("upload", "socks_proxy"): "PROBE_SOCKS_PROXY",
    ("location", "probe_cc"): "PROBE_CC",
    ("location", "probe_asn"): "PROBE_ASN",
    ("location", "geoip_db"): "PROBE_GEOIP_DB",
    ("location", "geoip_address"): "PROBE_GEOIP_ADDRESS",
    ("run", "targets"): "PROBE_TARGETS",
    ("run", "services"): "PROBE_SERVICES",
    ("run", "resolver"): "PROBE_RESOLVER",
    ("run", "doh"): "PROBE_DOH",
    ("run", "ca_files"): "PROBE_CA_FILES",
    ("run", "timeout"): "PROBE_TIMEOUT",
    ("run", "results_dir"): "PROBE_RESULTS_DIR",
    ("run", "capture"): "PROBE_CAPTURE",
    ("retention", "days"): "PROBE_RETENTION_DAYS",
    ("retention", "megabytes"): "PROBE_RETENTION_MB",
    ("control", "helper_url"): "PROBE_HELPER_URL",
    ("control", "helper_key"): "PROBE_HELPER_KEY",
}
_PATH_LISTS = {("location", "geoip_db"), ("run", "targets"), ("run", "ca_files")}
_WORD_LISTS = {("run", "services"), ("run", "doh"), ("control", "helper_url"), ("control", "helper_key")}
_PATHS = {("run", "results_dir")}


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The configuration file: `$PROBE_CONFIG`, else `config.toml` in the config folder."""
    env = os.environ if environ is None else environ
    named = env.get(CONFIG_VARIABLE)
    return Path(named).expanduser().absolute() if named else paths.config_dir() / CONFIG_NAME


def origin(section: str, key: str, environ: Mapping[str, str] | None = None) -> str:
    """Where the effective `[section] key` comes from, for a message that blames a value: the environment variable
    when it is set, else the configuration file."""
    env = os.environ if environ is None else environ
    variable = ENVIRONMENT.get((section, key))
    if variable and env.get(variable, "").strip():
        return f"environment variable {variable}"
    return f"[{section}] {key} in {config_path(env)}"


def load(environ: Mapping[str, str] | None = None, path: Path | None = None) -> Settings:
    """The effective settings: defaults, then the file (if it exists), then `PROBE_*` variables of `environ`
    (default: the process environment; pass `{}` to read the file alone). Raises ConfigError."""
    env = os.environ if environ is None else environ
    source = path or config_path(env)
    settings = load_file(source)
    return apply_environment(settings, env) if env else settings


def load_file(path: Path) -> Settings:
    """The settings of one file alone (defaults when it does not exist). Raises ConfigError."""
    try:
        text = readfile.read_text(path, readfile.CONFIG_FILE)
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot be read ({getattr(exc, 'strerror', None) or exc})"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"is not valid TOML: {exc}"]) from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(str(path), [_problem(error) for error in exc.errors()]) from None


def apply_environment(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """`settings` with every non-empty `PROBE_*` variable of `environ` applied. Raises ConfigError naming the
    variable."""
    data = settings.model_dump()
    used: dict[tuple[str, ...], str] = {}
    for (section, key), variable in ENVIRONMENT.items():
        value = environ.get(variable, "").strip()
        if not value:
            continue
        parsed: Any = value
        if (section, key) in _PATH_LISTS:
            parsed = [str(Path(p).expanduser().absolute()) for p in value.split(os.pathsep) if p]
        elif (section, key) in _WORD_LISTS:
            parsed = [w.strip() for w in value.split(",") if w.strip()]
        elif (section, key) in _PATHS:
            parsed = str(Path(value).expanduser().absolute())
        data[section][key] = parsed
        used[(section, key)] = variable
    if not used:
        return settings
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            variable = used.get(tuple(str(part) for part in error["loc"][:2]), "environment")
            problems.append(f"{variable}: {_message(error)}")
        raise ConfigError("environment", problems) from None


def set_value(name: str, text: str, path: Path | None = None) -> Settings:
    """Set `section.key` in the configuration file (the file alone, not the environment) to `text`, read as a TOML
    value when it is one (`true`, `5`, `["a", "b"]`), else as a string; check it as the file is checked, and save.
    Consent is not a setting: `probe init` records it. Raises ConfigError naming the key and the problem."""
    target = path or config_path()
    section, _, key = name.partition(".")
    if section == "consent":
        raise ConfigError(name, ["consent is given with `probe init`, not set"])
    fields = Settings.model_fields.get(section)
    if not key or fields is None or key not in getattr(fields.annotation, "model_fields", {}):
        known = ", ".join(f"{s}.{k}" for s, f in Settings.model_fields.items() if s != "consent" for k in _keys(f))
        raise ConfigError(name, [f"no such setting; the settings are: {known}"])
    try:
        value: Any = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        value = text  # a bare word or URL: a string
    data = load_file(target).model_dump()
    data[section][key] = value
    try:
        updated = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(name, [_message(error) for error in exc.errors()]) from None
    save(updated, target)
    return updated


def _keys(field: Any) -> tuple[str, ...]:
    return tuple(getattr(field.annotation, "model_fields", {}))


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write `settings` to the configuration file atomically (mode 0600: it may name a proxy or a collector the
    volunteer would rather keep private). Returns the path."""
    target = path or config_path()
    paths.private_dir(target.parent)
    atomicfile.write_atomic(target, dumps(settings).encode("utf-8"), mode=0o600)
    return target


def dumps(settings: Settings) -> str:
    """The TOML text of `settings`: every key, those at their default commented out."""
    lines = [
        "# probe configuration. Every key is optional; `probe config show` prints the effective settings.",
        "# PROBE_* environment variables override it (see docs/volunteer.md); command-line options override both.",
    ]
    defaults = Settings()
    for section in Settings.model_fields:
        lines.append("")
        lines.append(f"[{section}]")
        current = getattr(settings, section)
        default = getattr(defaults, section)
        for key in type(current).model_fields:
            value = getattr(current, key)
            if value == getattr(default, key):
                example = _toml_value(value) if value is not None else '""'
                lines.append(f"# {key} = {example}")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    """TOML for the value types settings hold. JSON strings are valid TOML basic strings (same escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {type(value).__name__}")


def option_problem(section: str, key: str, value: Any) -> str | None:
    """What is wrong with `value` for the command-line option that overrides `[section] key`, checked exactly as
    that key in the file is (issue 21: `--timeout inf`, `1e308` and `nan` passed where the file refused them);
    None when nothing is."""
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, _Section)
    try:
        model.model_validate({key: value})
    except ValidationError as exc:
        return "; ".join(_message(error) for error in exc.errors())
    return None


def _problem(error: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error["loc"]]
    if len(loc) >= 2:
        where = f"[{loc[0]}] {loc[1]}" + "".join(f"[{p}]" for p in loc[2:])
    else:
        where = f"[{loc[0]}]" if loc else "(top level)"
    return f"{where}: {_message(error)}"


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown key (a typo? `probe config show` lists the keys)"
    if kind == "model_type":
        return "must be a table ([section])"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind != "value_error" and "input" in error:
        message += f" (got {error['input']!r})"
    return message
