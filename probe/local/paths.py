"""Where the probe keeps things, after the XDG Base Directory spec.

- config (`$XDG_CONFIG_HOME/probe`, default ~/.config/probe): settings, consent, the signing key (mode 0700)
- state (`$XDG_STATE_HOME/probe`, default ~/.local/state/probe): the upload spool, run history, locks
- data (`$XDG_DATA_HOME/probe`, default ~/.local/share/probe): the result files (`results/`), unless the probe runs
  from a clone of its repository, where they go to the repository's `results/` (`default_results_dir`)

`PROBE_HOME`, when set, puts all three under one folder (tests, Docker volumes, a volunteer who wants one place).
"""

from __future__ import annotations

import os
import stat
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


def default_results_dir() -> Path:
    """Where result files go when neither an option nor the configuration says: the repository's `results/` for a
    probe run from a clone (this package sits in a source tree, beside pyproject.toml and targets/), else `results`
    in the data folder. Never the working directory: a run from another folder must find and prune the same files
    (issue 20). `PROBE_HOME` always wins: it asks for one place for everything."""
    tree = Path(__file__).resolve().parents[2]
    clone = all((tree / name).exists() for name in ("pyproject.toml", "targets", "results"))
    if clone and not os.environ.get("PROBE_HOME"):
        return tree / "results"
    return data_dir() / "results"


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by the owner only; fix the mode if it already exists. A folder that is
    a symbolic link keeps its target's mode: the target is the volunteer's own (a synced or encrypted folder), not
    ours to change behind their back (issue 21); `exposure` reports it when others can read it."""
    if path.is_symlink():
        return path
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def exposure(path: Path, private_mode: int) -> str | None:
    """Make `path` (the config folder: 0700; config.toml: 0600) private when others can read it, and say so; a
    symbolic link is left alone and only reported. None when all is well (or `path` is not there)."""
    try:
        linked = path.is_symlink()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    if linked:
        target = path.resolve()
        return (f"{path} is a link to {target}, which others can read (mode {mode:04o}); probe leaves the mode of "
                f"what a link points to to you: chmod {private_mode:o} {target}")  # fmt: skip
    try:
        path.chmod(private_mode)
    except OSError as exc:
        return f"{path} can be read by others (mode {mode:04o}) and cannot be made private: {exc.strerror or exc}"
    return f"{path} could be read by others (mode {mode:04o}); it is now {private_mode:04o}"
