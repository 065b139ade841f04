"""A course folder: its own Plug and Play driver specs and a scenario that installs them by
relative names, run from another directory (issue 19). The folder is the one
docs/instructors.md shows, taken from the guide itself so the two cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmshell.cli import main
from kmshell.session import Session

ROOT = Path(__file__).resolve().parents[1]


def guide_course() -> dict[str, str]:
    """The files the guide's "Your own Plug and Play drivers" section shows: a line
    "`NAME`:" (or "`NAME`, ...:") and then the indented block."""
    guide = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    section = guide.split("## Your own Plug and Play drivers", 1)[1].split("\n## ", 1)[0]
    found = {}
    for match in re.finditer(r"^`([\w.]+)`[^\n]*:\n\n((?:    [^\n]*\n|\n)+)", section + "\n",
                             re.MULTILINE):
        found[match[1]] = "".join(line[4:] + "\n" for line in match[2].rstrip().splitlines())
    return found


@pytest.fixture
def course(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "course"
    folder.mkdir()
    for name, text in guide_course().items():
        (folder / name).write_text(text, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


def test_the_guide_shows_a_whole_course_folder():
    assert set(guide_course()) == {"widget.toml", "watcher.toml", "lab.kms"}


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_course_folder_installs_its_own_drivers_from_any_working_directory(course, command):
    result = CliRunner().invoke(main, [command, str(course / "lab.kms"), "--no-color"]
                                if command == "run" else [command, str(course / "lab.kms")])
    assert result.exit_code == 0, result.output


def test_a_custom_function_driver_and_upper_filter_build_the_stack_an_irp_goes_through(course):
    session = Session()
    with session.opening(course / "lab.kms", "replay"):
        for line in ("driver install widget.toml", "driver install watcher.toml",
                     "device plug HTREE\\ROOT\\0 ROOT\\WIDGET --name Widget0"):
            assert session.execute(line).ok, line
        device = session.system.io.device_named("\\Device\\Widget0")
        assert device is not None
        assert [d.driver.name for d in device.stack()] == ["watcher", "widget", "PnpManager"]
        outcome = session.execute("irp send Widget0 IRP_MJ_READ")
    assert outcome.ok
    reached = [e.text for e in outcome.events if "IRP_MJ_READ)" in e.text]
    assert [t.split("(")[1] for t in reached] == ["watcher.sys IRP_MJ_READ)",
                                                  "widget.sys IRP_MJ_READ)"]


def test_a_scenario_file_name_that_is_missing_names_where_it_was_looked_for(course):
    (course / "bad.kms").write_text("driver install nowhere.toml\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(course / "bad.kms")])
    assert result.exit_code == 1
    assert f"{course / 'nowhere.toml'}: no such file" in result.output


def test_record_writes_a_driver_file_name_relative_to_the_recording(course, tmp_path):
    (tmp_path / "elsewhere" / "mine").mkdir()
    session = Session()
    for line in ("driver install ../course/widget.toml", "record mine/rec.kms",
                 "device plug HTREE\\ROOT\\0 ROOT\\WIDGET"):
        assert session.execute(line).ok, line
    lines = (tmp_path / "elsewhere" / "mine" / "rec.kms").read_text().splitlines()
    assert "driver install ../../course/widget.toml" in lines
    result = CliRunner().invoke(main, ["check", "mine/rec.kms"])
    assert result.exit_code == 0, result.output


def test_save_and_load_take_driver_file_names_from_the_save_files_folder(course, tmp_path):
    session = Session()
    for line in ("driver install ../course/widget.toml", "save ../course/out.json"):
        assert session.execute(line).ok, line
    assert "driver install widget.toml" in (course / "out.json").read_text()
    loaded = Session()
    assert loaded.execute("load ../course/out.json").ok
    assert loaded.execute("goto 1").ok  # replays the journal with each line's own folder
    assert "widget" in [spec.name for spec in loaded.system.pnp.driver_store]


def test_a_scenario_saves_and_loads_beside_itself_below_allow_writes(course):
    (course / "out").mkdir()
    (course / "keep.kms").write_text("driver install widget.toml\nsave out/lab1.json\n"
                                     "load out/lab1.json\nsave lab1.json\n"
                                     "expect error refused to write lab1.json\n",
                                     encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(course / "keep.kms"),
                                       "--allow-writes", str(course / "out")])
    assert result.exit_code == 0, result.output
    assert (course / "out" / "lab1.json").is_file() and not (course / "lab1.json").exists()
