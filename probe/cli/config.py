"""`probe config show` / `probe config path`, and `settings()`: how every command reads the configuration."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from probe.cli.common import fail, group

if TYPE_CHECKING:
    from probe.local.config import Settings

app = group("Show the configuration file and the effective settings, or change one.")


def settings() -> Settings:
    """The effective settings (file and environment); a bad file or variable exits 2 naming file, key and problem."""
    from probe.local import config, paths

    # The key lives in the config folder, credentials may sit in config.toml (a proxy's): others must not read them.
    for path, mode in ((paths.config_dir(), 0o700), (config.config_path(), 0o600)):
        warning = paths.exposure(path, mode)
        if warning:
            typer.echo(f"probe: warning: {warning}", err=True)
    try:
        return config.load()
    except config.ConfigError as exc:
        where = "environment variable" if exc.source == "environment" else f"configuration file {exc.source}"
        fail(f"bad {where}:\n  " + "\n  ".join(exc.problems))


@app.command("show")
def show(
    json_output: Annotated[bool, typer.Option("--json", help="Print the settings as one JSON object.")] = False,
) -> None:
    """Print the effective settings: defaults, then the configuration file, then PROBE_* environment variables.
    Keys still at their default are shown commented out."""
    import os

    from probe.local import config

    current = settings()
    if json_output:
        typer.echo(json.dumps(current.model_dump(mode="json"), sort_keys=False))
        return
    path = config.config_path()
    overridden = [v for v in config.ENVIRONMENT.values() if os.environ.get(v, "").strip()]
    typer.echo(f"# file: {path}{'' if path.exists() else ' (does not exist: all defaults)'}")
    if overridden:
        typer.echo(f"# overridden by the environment: {', '.join(overridden)}")
    typer.echo(config.dumps(current), nl=False)


@app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="SECTION.KEY, e.g. upload.collector_url (see `probe config show`).")],
    value: Annotated[str, typer.Argument(help="The value: a word, a URL, a number, true/false, or a TOML list.")],
) -> None:
    """Set one key of the configuration file, checked as the file is, and save the file (atomically, mode 0600).
    Environment variables still override it. Exit 2 naming the key when it is not a setting or the value is bad."""
    from probe.local import config

    settings()  # the file as it is must be sound before it is rewritten
    try:
        config.set_value(name, value)
    except config.ConfigError as exc:
        fail(f"probe config set {exc.source}: " + "; ".join(exc.problems))
    typer.echo(f"{name} = {value} in {config.config_path()}")


@app.command("path")
def path() -> None:
    """Print where the configuration file is (PROBE_CONFIG, else config.toml in the config folder)."""
    from probe.local import config

    typer.echo(str(config.config_path()))
