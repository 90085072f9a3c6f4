"""The README starts a newcomer in a minute (issue 20): short, what is needed before the first command, two
commands; it and the docs/ it leads to link only to files that exist. The detail belongs in docs/, by audience."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
LIMIT = 8 * 1024  # it was 29 kB: a volunteer's guide, an operator's, contract additions and a benchmark log in one


def test_the_readme_stays_short() -> None:
    assert len(README.encode()) <= LIMIT, "move the detail into docs/ (volunteer, operator, researcher, developer)"


def test_the_first_lines_say_what_the_first_command_needs() -> None:
    opening = "\n".join(README.splitlines()[:20])
    assert "Python 3.11" in opening and "venv" in opening and "pipx" in opening
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    assert len([line for line in first_block.splitlines() if line.strip()]) == 2  # the two commands


@pytest.mark.parametrize(
    "document", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
)
def test_every_relative_link_leads_to_a_file(document: str) -> None:
    path = ROOT / document
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8"))
    missing = [link for link in links if not (path.parent / link).exists()]
    assert not missing, f"{document} links to {missing}"
