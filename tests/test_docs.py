"""Docs and packaging that are generated or listed must agree with the code."""

from __future__ import annotations

import tomllib
from pathlib import Path

from kmshell.commands.reference import reference_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_command_reference_is_generated_from_the_current_table():
    committed = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    assert committed == reference_markdown(), (
        "docs/commands.md is stale: python -m kmshell.commands.reference > docs/commands.md")


def test_every_kmshell_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "kmshell").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml packages: {sorted(found - listed)}"
