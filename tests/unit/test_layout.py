"""The code's layers, as docs/developer.md draws them, held against every import in probe/ (issue 20: a house a
newcomer reads in one look). Imports inside functions and under TYPE_CHECKING count too: a lazy import upward is
still a tie upward, and two modules that import each other, however late, are one thing in two files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "probe"

# Bottom to top; a module may import its own layer and those below. The first match of a module's name wins.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("probe", "probe.model", "probe.failures", "probe.addresses", "probe.readfile", "probe.atomicfile",
     "probe.wire", "probe.minisign", "probe.jsonlines", "probe.anchors"),  # data and plain formats
    ("probe.analysis", "probe.targets", "probe.report", "probe.signing", "probe.trim", "probe.helperview"),
    ("probe.local", "probe.collector"),  # the volunteer's machine; the collector's service
    ("probe.net", "probe.views"),  # the network edge; the dataset's pages
    ("probe.measure",),
    ("probe.runner",),
    ("probe.lifecycle", "probe.helper"),  # orchestration: a volunteer's run, the control vantage's loop
    ("probe.cli", "probe.__main__"),  # the only place that prints or picks an exit code
)  # fmt: skip


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The probe modules `path` imports, anywhere in it (`from probe import x` names probe.x when x is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "probe")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "probe":
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return found - {_module(path)}


def _layer(module: str) -> int:
    for rank, names in enumerate(LAYERS):
        if any(module == n or (n != "probe" and module.startswith(n + ".")) for n in names):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/developer.md's layout table")


FILES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}
MODULES = set(FILES)
GRAPH = {module: _imports(path) & MODULES for module, path in FILES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module: str) -> None:
    upward = sorted(i for i in GRAPH[module] if _layer(i) > _layer(module))
    assert not upward, f"{module} (layer {_layer(module)}) imports {upward} from above"


def test_no_two_modules_import_each_other_however_indirectly() -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for child in sorted(GRAPH[module]):
            if state.get(child) == 1:
                loop = path[path.index(child) :] + [child] if child in path else [module, child]
                raise AssertionError("an import circle: " + " -> ".join(loop))
            if child not in state:
                visit(child, [*path, child])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_the_layout_table_names_every_top_level_part() -> None:
    table = (PACKAGE.parent / "docs" / "developer.md").read_text(encoding="utf-8")
    parts = {p.name for p in PACKAGE.iterdir() if (p.suffix == ".py" or (p / "__init__.py").exists())}
    unnamed = sorted(
        p for p in parts - {"__init__.py", "__main__.py"} if f"probe/{p}" not in table and f"`{p}`" not in table
    )
    assert not unnamed, f"docs/developer.md's layout table does not name {unnamed}"
