"""The bundled curriculum: the scenario files shipped with kmshell, and their titles."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from kmshell.language import CommandTable
from kmshell.scenario.script import Scenario, ScenarioError, load_scenario


def curriculum_dir() -> Path:
    """Installed packages carry the files in kmshell/curriculum; a checkout has scenarios/."""
    packaged = Path(str(files("kmshell"))) / "curriculum"
    if packaged.is_dir() and any(packaged.glob("*.kms")):
        return packaged
    return Path(__file__).resolve().parents[2] / "scenarios"


def lessons() -> list[Path]:
    """Every bundled scenario file, in curriculum order (01-…, 02-…)."""
    return sorted(curriculum_dir().glob("*.kms"))


def bundled(table: CommandTable) -> list[tuple[Path, str]]:
    """(path, title) of every bundled scenario, in curriculum order; one whose lines do not
    parse against `table` has its error as its title."""
    entries = []
    for path in lessons():
        try:
            title = load_scenario(path, table).title
        except ScenarioError as error:
            title = f"(malformed: {error.messages[0]})"
        entries.append((path, title))
    return entries


def resolve(name: str) -> Path:
    """A file that exists, else the bundled scenario of that name, else the path as given
    (loading it then says there is no such file)."""
    path = Path(name)
    try:
        if path.is_file():
            return path
    except (OSError, ValueError):  # a name too long for the file system, a NUL in it
        return path
    return find(name) or path


def find(name: str) -> Path | None:
    """A bundled scenario by file name, stem, or number prefix such as 01."""
    for path in lessons():
        if name in (path.name, path.stem) or path.stem.startswith(f"{name}-"):
            return path
    return None


def load(name: str, table: CommandTable) -> tuple[Scenario, Path]:
    """The scenario NAME names, for kmshell run and check, and the path it was read from. A
    name that matches no file and no bundled lesson, and looks like a lesson's (a number or a
    name, no folder, no .kms), is told where the lessons are listed."""
    path = resolve(name)
    try:
        return load_scenario(path, table), path
    except ScenarioError as error:
        lesson_like = "/" not in name and "\\" not in name and not Path(name).suffix
        if lesson_like and path == Path(name) and str(error).endswith(": no such file"):
            numbers = [path.stem.split("-")[0] for path in lessons()]
            listed = f" ({numbers[0]} to {numbers[-1]})" if numbers else ""
            error.messages[-1] += "\n    not a bundled lesson either: `kmshell scenarios` " \
                f"lists them{listed}"
        raise
