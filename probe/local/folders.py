"""Every results folder the probe has written to (`folders.json` in the state folder), so that `probe status`,
retention and `probe upload --all` find result files wherever a run put them: the default folder, `--results-dir`,
the configuration's, a folder used once and long ago (issue 20: `probe status` from another folder reported 0
files while 50 existed elsewhere).

Absolute paths, the most recent last, at most `KEEP`; a folder that no longer exists is simply skipped by readers.
"""

from __future__ import annotations

import json
from pathlib import Path

from probe import atomicfile
from probe.local import paths

FOLDERS_NAME = "folders.json"
KEEP = 32  # folders, not files: a volunteer who keeps moving results around still fits


def folders_path() -> Path:
    return paths.state_dir() / FOLDERS_NAME


def known(path: Path | None = None) -> tuple[Path, ...]:
    """The folders written to, oldest use first. A missing or damaged file is none: the history is a convenience."""
    try:
        raw = json.loads((path or folders_path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    if not isinstance(raw, list):
        return ()
    return tuple(Path(item) for item in raw if isinstance(item, str) and Path(item).is_absolute())


def remember(folder: Path, path: Path | None = None) -> None:
    """Record `folder` (made absolute) as the most recent one; rewrite the file atomically."""
    target = path or folders_path()
    folder = folder.absolute()
    ordered = [*(f for f in known(target) if f != folder), folder][-KEEP:]
    paths.private_dir(target.parent)
    data = json.dumps([str(f) for f in ordered], indent=1).encode("utf-8")
    atomicfile.write_atomic(target, data + b"\n", mode=0o600)


def every(current: Path) -> tuple[Path, ...]:
    """`current` and every known folder that exists, each once, `current` first."""
    current = current.absolute()
    others = [f for f in reversed(known()) if f != current and f.is_dir()]
    return (current, *others)
