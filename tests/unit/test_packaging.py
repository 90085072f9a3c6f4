"""The package as pip builds it: every package folder is listed in pyproject.toml (they are listed, not found,
because the bundled target lists live in the repository's top-level targets/), and the lists a wheel carries are
the lists of the clone."""

from __future__ import annotations

import tomllib
from pathlib import Path

from probe import targets

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "probe").rglob("__init__.py")} | {
        targets.BUNDLED_PACKAGE
    }
    assert found == listed


def test_bundled_lists_come_from_the_top_level_targets_folder() -> None:
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    assert package_dir[targets.BUNDLED_PACKAGE] == "targets"
    names = [p.name for p in targets.bundled_paths()]
    assert names == list(targets.BUNDLED)
    for path in targets.bundled_paths():
        assert path.read_bytes() == (ROOT / "targets" / path.name).read_bytes()
