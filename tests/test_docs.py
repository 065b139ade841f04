"""Docs and packaging that are generated or listed must agree with the code."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kmshell.scenario.reference import reference_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_command_reference_is_generated_from_the_current_table():
    committed = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    assert committed == reference_markdown(), (
        "docs/commands.md is stale: python -m kmshell.scenario.reference > docs/commands.md")


def test_driver_spec_reference_is_generated_from_the_current_tables_and_catalog():
    from kmshell.drivers.reference import reference_markdown as drivers_markdown
    committed = (ROOT / "docs" / "drivers.md").read_text(encoding="utf-8")
    assert committed == drivers_markdown(), (
        "docs/drivers.md is stale: python -m kmshell.drivers.reference > docs/drivers.md")


def test_every_kmshell_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "kmshell").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml packages: {sorted(found - listed)}"


def test_the_license_pyproject_declares_is_a_file_that_ships_and_names_that_license():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for name in project["license-files"]:
        assert (ROOT / name).read_text(encoding="utf-8").startswith(f"{project['license']} ")


def test_the_instructor_guides_example_scenario_passes():
    from kmshell.commands import TABLE
    from kmshell.scenario import Replay, parse_scenario
    from kmshell.session import Session

    guide = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    block = guide.split("## A small example", 1)[1].split("\n\n")[1]
    scenario = parse_scenario("\n".join(line[4:] for line in block.splitlines()), TABLE,
                              "example")
    result = Replay(scenario, Session()).run()
    assert result.expectations == 3 and result.failures == []


def _replay_guide_example(text: str, name: str):
    from kmshell.commands import TABLE
    from kmshell.scenario import Replay, parse_scenario
    from kmshell.session import Session

    return Replay(parse_scenario(text, TABLE, name), Session()).run()


def test_the_instructor_guides_driver_registration_examples_pass():
    guide = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    section = guide.split("## Examples: drivers that register with the kernel", 1)[1]
    section = section.split("\n## ", 1)[0]  # up to the next section
    blocks = [b for b in section.split("\n\n") if b.startswith("    ")]
    assert len(blocks) == 2
    for number, block in enumerate(blocks, start=1):
        text = "\n".join(line[4:] for line in block.splitlines())
        result = _replay_guide_example(text, f"example {number}")
        assert result.expectations >= 2 and result.failures == [], number


def test_every_example_scenario_in_the_instructor_guides_directives_section_passes():
    guide = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    section = guide.split("### Examples", 1)[1].split("\n## ", 1)[0]
    blocks = [block for block in section.split("\n\n") if block.startswith("    title ")]
    assert len(blocks) >= 3
    for block in blocks:
        text = "\n".join(line[4:] for line in block.splitlines())
        result = _replay_guide_example(text, "example")
        assert result.failures == [] and result.expectations >= 2, (text, result.failures)
    examples = "\n".join(blocks)
    for directive in ("title", "say", "pause", "seed", "expect order", "expect output",
                      "expect error", "expect bugcheck arg2 == DISPATCH_LEVEL"):
        assert f"    {directive}" in examples, f"no example shows {directive}"


def test_every_command_the_tutorial_shows_runs_without_error():
    from kmshell.session import Session

    tutorial = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    session = Session()
    lines = [line[4:] for line in tutorial.splitlines() if line.startswith("    ")]
    for line in lines:
        if line.startswith("kmshell "):
            continue  # a shell command, not a kmshell line
        outcome = session.execute(line)
        assert outcome.ok, f"{line}: {outcome.error.message if outcome.error else ''}"
    assert len(lines) > 15


def _kernel_modules() -> list[str]:
    """Every module of the kernel model: a component imported first must not meet a cycle
    that importing the package in its usual order hides."""
    import kmshell.nt

    return sorted(info.name for info in pkgutil.walk_packages(kmshell.nt.__path__, "kmshell.nt."))


@pytest.mark.parametrize("module", ["kmshell.nt", "kmshell.commands", "kmshell.session",
                                    "kmshell.scenario", "kmshell.shell", "kmshell.cli",
                                    "kmshell.savefile", "kmshell.recorder", "kmshell.state",
                                    "kmshell.drivers", *_kernel_modules()])
def test_each_package_imports_on_its_own_without_an_import_cycle(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], check=False,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
