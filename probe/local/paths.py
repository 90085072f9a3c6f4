"""Where the probe keeps things, after the XDG Base Directory spec.

- config (`$XDG_CONFIG_HOME/probe`, default ~/.config/probe): settings, consent, the signing key (mode 0700)
- state (`$XDG_STATE_HOME/probe`, default ~/.local/state/probe): the upload spool, run history, locks
- data (`$XDG_DATA_HOME/probe`, default ~/.local/share/probe): nothing yet that is not a result file

`PROBE_HOME`, when set, puts all three under one folder (tests, Docker volumes, a volunteer who wants one place).
"""

from __future__ import annotations

import os
from pathlib import Path


def _base(xdg_variable: str, default: str, name: str) -> Path:
    home = os.environ.get("PROBE_HOME")
    if home:
        return Path(home) / name
    root = os.environ.get(xdg_variable)
    return (Path(root) if root else Path.home() / default) / "probe"


def config_dir() -> Path:
    return _base("XDG_CONFIG_HOME", ".config", "config")


def state_dir() -> Path:
    return _base("XDG_STATE_HOME", ".local/state", "state")


def data_dir() -> Path:
    return _base("XDG_DATA_HOME", ".local/share", "data")


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by the owner only; fix the mode if it already exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path
