"""Scenario and save files come from other people: running one never writes a file the user
did not allow, never recurses, and a damaged one is refused before any of its lines runs."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from kmshell.session import Session
from kmshell.views.console import make_console

EVIL = """title harmless lesson
record victim/x.sh
log create J
log append J hello; touch PWNED
save victim/notes.txt
export html victim/page.html
"""


def kmshell(*arguments: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kmshell", *arguments], cwd=cwd,
                          capture_output=True, text=True, check=False)


def test_a_scenario_writes_no_file_without_allow_writes(tmp_path):
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "notes.txt").write_text("mine")
    (tmp_path / "evil.kms").write_text(EVIL)
    for command in ("check", "run"):
        result = kmshell(command, "evil.kms", cwd=tmp_path)
        assert result.returncode == 1, result.stdout
        assert "refused to write victim/x.sh: a scenario writes files only with " \
            "--allow-writes DIR" in result.stdout
        assert sorted(p.name for p in (tmp_path / "victim").iterdir()) == ["notes.txt"]
        assert (tmp_path / "victim" / "notes.txt").read_text() == "mine"


def test_allow_writes_confines_a_scenarios_writes_below_its_directory(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "lab.kms").write_text("process create a.exe\nsave out/lab.json\n"
                                      "load out/lab.json\nrecord out/sub/../mine.kms\n"
                                      "save out/../escape.json\nsave here.json\n"
                                      f"save {tmp_path / 'abs.json'}\n")
    result = kmshell("run", "lab.kms", "--no-color", "--allow-writes", "out", cwd=tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["lab.json", "mine.kms"]
    shown = " ".join(result.stdout.split())  # the terminal width folds long messages
    assert "kmshell> load out/lab.json" in shown and "loaded out/lab.json" in shown
    for name in ("out/../escape.json", "here.json", str(tmp_path / "abs.json")):
        assert f"refused to write {name}: it is outside" in shown
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.kms", "out"]


def test_replay_in_the_shell_refuses_the_files_writes_but_the_user_may_write(tmp_path):
    (tmp_path / "evil.kms").write_text("save stolen.json\n")
    session = Session()
    session.console = make_console(file=io.StringIO())
    session.execute(f"replay {tmp_path / 'evil.kms'}")
    assert not (tmp_path / "stolen.json").exists()
    assert "refused to write stolen.json" in session.console.file.getvalue()
    assert session.execute(f"save {tmp_path / 'mine.json'}").ok  # the user's own line may


@pytest.mark.parametrize("files", [{"a.kms": "replay a.kms\n"},
                                   {"a.kms": "replay b.kms\n", "b.kms": "replay a.kms\n"}])
def test_a_scenario_that_replays_itself_is_a_clear_error(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = kmshell("run", "a.kms", "--no-color", cwd=tmp_path)
    assert "a.kms would replay itself (a.kms →" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr and "Recursion" not in result.stdout


def saved(tmp_path, lines=("process create a.exe", "step 2")) -> dict:
    session = Session()
    for line in lines:
        session.execute(line)
    session.execute(f"save {tmp_path / 'lab.json'}")
    return json.loads((tmp_path / "lab.json").read_text())


def test_a_save_file_holding_a_session_command_is_refused_before_any_line_runs(tmp_path):
    data = saved(tmp_path)
    data["lines"][1:1] = [f"save {tmp_path / 'one.json'}", f"record {tmp_path / 'two.kms'}"]
    (tmp_path / "edited.json").write_text(json.dumps(data))
    session = Session()
    outcome = session.execute(f"load {tmp_path / 'edited.json'}")
    assert not outcome.ok and "line 2 is 'save', a session command" in outcome.error.message
    assert not (tmp_path / "one.json").exists() and not (tmp_path / "two.kms").exists()
    assert session.lines() == []


@pytest.mark.parametrize("version", ["1", None, 0, -1, True, 1.0, [1]])
def test_a_save_file_version_must_be_a_whole_number(tmp_path, version):
    data = saved(tmp_path)
    data["version"] = version
    (tmp_path / "lab.json").write_text(json.dumps(data))
    outcome = Session().execute(f"load {tmp_path / 'lab.json'}")
    assert not outcome.ok
    assert '"version" must be a whole number from 1 to 1' in outcome.error.message


def test_a_save_file_from_a_newer_kmshell_says_so(tmp_path):
    data = saved(tmp_path)
    data["version"] = 2
    (tmp_path / "lab.json").write_text(json.dumps(data))
    assert "saved by a newer kmshell" in \
        Session().execute(f"load {tmp_path / 'lab.json'}").error.message


@pytest.mark.parametrize("boot", [{"cpus": True, "minimal": False, "seed": 0},
                                  {"cpus": 2, "minimal": 0, "seed": 0},
                                  {"cpus": 2, "minimal": False, "seed": 2**64}])
def test_a_save_files_boot_options_are_checked_as_json_types(tmp_path, boot):
    data = saved(tmp_path)
    data["boot"] = boot
    (tmp_path / "lab.json").write_text(json.dumps(data))
    assert '"boot" must hold cpus' in \
        Session().execute(f"load {tmp_path / 'lab.json'}").error.message


def test_deeply_nested_json_and_toml_are_clear_errors(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "deep.toml").write_text("name = " + "[" * 5000 + "]" * 5000 + "\n")
    session = Session()
    load = session.execute(f"load {tmp_path / 'deep.json'}")
    assert "nested too deeply" in load.error.message
    driver = session.execute(f"driver load {tmp_path / 'deep.toml'}")
    assert "nest too deeply" in driver.error.message


def test_a_save_file_and_a_spec_with_a_byte_order_mark_and_crlf_load(tmp_path):
    saved(tmp_path)
    text = (tmp_path / "lab.json").read_text().replace("\n", "\r\n")
    (tmp_path / "lab.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert Session().execute(f"load {tmp_path / 'lab.json'}").ok
    spec = ('name = "bomdrv"\r\ntype = "function"\r\n[routines]\r\n'
            'DriverEntry = ["IoCreateDevice BomDev"]\r\n')
    (tmp_path / "bomdrv.toml").write_bytes(b"\xef\xbb\xbf" + spec.encode())
    assert Session().execute(f"driver load {tmp_path / 'bomdrv.toml'}").ok
