"""The command line through click's CliRunner: run, check, scenarios, --version, --json."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmshell import __version__
from kmshell.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIRST = str(ROOT / "scenarios" / "01-user-and-kernel-mode.kms")


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_version_prints_the_package_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_run_replays_a_scenario_and_reports_expectations():
    result = invoke("run", FIRST, "--no-color")
    assert result.exit_code == 0, result.output
    assert "kmshell> process crash notepad.exe" in result.output
    assert "expectation(s) held" in result.output
    assert "\x1b[" not in result.output  # plain text: no escape sequences


def test_run_twice_gives_byte_identical_output():
    assert invoke("run", FIRST, "--no-color").output == invoke("run", FIRST, "--no-color").output


def test_no_color_environment_variable_gives_plain_text():
    result = invoke("run", FIRST, env={"NO_COLOR": "1"})
    assert "\x1b[" not in result.output


def test_run_accepts_a_bundled_scenario_by_number():
    result = invoke("run", "02", "--no-color")
    assert result.exit_code == 0
    assert "Processes and threads" in result.output


def test_run_json_prints_only_parseable_state_and_events():
    result = invoke("run", FIRST, "--json")
    data = json.loads(result.output)
    assert data["schema"] == 1
    assert data["state"]["halted"] is False
    assert {p["image"] for p in data["state"]["processes"]} >= {"System", "explorer.exe"}
    assert data["events"][0]["component"] == "Hal"
    assert data["events_dropped"] == 0  # a lesson-sized scenario keeps its whole trace


def test_check_passes_every_bundled_scenario():
    files = sorted(str(p) for p in (ROOT / "scenarios").glob("*.kms"))
    result = invoke("check", *files)
    assert result.exit_code == 0, result.output
    assert f"{len(files)} passed, 0 failed" in result.output


def test_check_reports_file_and_line_of_a_failed_expectation(tmp_path):
    scenario = tmp_path / "wrong.kms"
    scenario.write_text("process create notepad.exe\n"
                        "expect process notepad.exe state == Terminated\n")
    result = invoke("check", str(scenario))
    assert result.exit_code == 1
    assert f"{scenario}:2: expected process notepad.exe state == Terminated, got Active" \
        in result.output


def test_check_stops_a_file_at_its_first_failure(tmp_path):
    scenario = tmp_path / "two.kms"
    scenario.write_text("expect system tick == 5\nexpect system cpus == 9\n")
    result = invoke("check", str(scenario))
    assert f"{scenario}:1:" in result.output
    assert f"{scenario}:2:" not in result.output


def test_check_reports_a_malformed_line_with_column_before_running(tmp_path):
    scenario = tmp_path / "bad.kms"
    scenario.write_text("process create notepad.exe\nprocess lst\n")
    result = invoke("check", str(scenario))
    assert result.exit_code == 2
    assert f"{scenario}:2:9: unknown verb 'lst' for 'process'" in result.output
    assert "ok " not in result.output  # nothing ran


def test_check_fails_a_command_error_that_no_expect_error_follows(tmp_path):
    scenario = tmp_path / "err.kms"
    scenario.write_text("process show nosuch.exe\n")
    result = invoke("check", str(scenario))
    assert result.exit_code == 1
    assert f"{scenario}:1: command failed: no process named 'nosuch.exe'" in result.output


def test_scenarios_lists_the_bundled_curriculum_with_titles():
    result = invoke("scenarios")
    assert result.exit_code == 0
    assert "01-user-and-kernel-mode" in result.output
    assert "User mode and kernel mode" in result.output


@pytest.mark.parametrize("line", ["procss list", "process create", "irp show 99999",
                                  '"unbalanced', "!nonsense 1 2 3", "process show 0x",
                                  "boot --cpus 0", "step --max", "expect"])
def test_bad_input_line_never_shows_a_traceback(tmp_path, line):
    scenario = tmp_path / "bad.kms"
    scenario.write_text(line + "\n")
    result = invoke("run", str(scenario), "--no-color")
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code in (1, 2)


def test_run_of_a_missing_file_says_so():
    result = invoke("run", "no-such-file.kms")
    assert result.exit_code == 2
    assert "no-such-file.kms: no such file" in result.output


def test_run_summary_counts_held_expectations_apart_from_failed_commands(tmp_path):
    scenario = tmp_path / "mixed.kms"
    scenario.write_text("expect system cpus == 2\nprocess show nosuch.exe\n")
    result = invoke("run", str(scenario), "--no-color")
    assert result.exit_code == 1
    assert "1 of 1 expectation(s) held; 1 failure(s)" in result.output


def test_run_export_html_saves_the_transcript(tmp_path):
    out = tmp_path / "lesson.html"
    result = invoke("run", FIRST, "--export-html", str(out))
    assert result.exit_code == 0
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "process crash notepad.exe" in html


def test_json_output_has_exactly_the_keys_the_schema_documents():
    doc = (ROOT / "docs" / "state-schema.md").read_text()
    tables = doc.split("`state`:")
    top_doc = set(re.findall(r"^\| `(\w+)` \|", tables[0], flags=re.MULTILINE))
    state_doc = set(re.findall(r"^\| `(\w+)` \|", tables[1], flags=re.MULTILINE))
    data = json.loads(invoke("run", FIRST, "--json").output)
    assert set(data) == top_doc
    assert set(data["state"]) == state_doc
    assert set(data["expectations"]) == {"total", "passed", "failures"}


def test_check_junit_report_has_a_testcase_per_expectation_for_partial_credit(tmp_path):
    from xml.etree import ElementTree

    bad = tmp_path / "bad.kms"
    bad.write_text("expect system cpus == 3\nexpect system cpus == 2\nprocess kill nosuch.exe\n"
                   "expect cpu 0 irql == DISPATCH_LEVEL\n")
    report = tmp_path / "report.xml"
    result = invoke("check", FIRST, str(bad), "--junit", str(report))
    assert result.exit_code == 1
    root = ElementTree.parse(report).getroot()
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    first = suites["01-user-and-kernel-mode"]
    assert first.get("failures") == "0" and int(first.get("tests")) > 10
    cases = [(case.get("line"), case.get("name"), case.find("failure"))
             for case in suites["bad"].iter("testcase")]
    assert [(line, name) for line, name, _ in cases] == [
        ("1", "line 1: system cpus == 3"), ("2", "line 2: system cpus == 2"),
        ("3", "line 3: process kill nosuch.exe"), ("4", "line 4: cpu 0 irql == DISPATCH_LEVEL")]
    assert [failure is None for _, _, failure in cases] == [False, True, False, False]
    assert cases[0][2].get("message") == "expected system cpus == 3, got 2"
    assert cases[3][2].get("message").endswith("got 0 PASSIVE_LEVEL")
    assert (root.get("tests"), root.get("failures")) == (str(int(first.get("tests")) + 4), "3")


def test_check_without_junit_still_stops_a_file_at_its_first_failure(tmp_path):
    bad = tmp_path / "bad.kms"
    bad.write_text("expect system cpus == 3\nexpect system cpus == 4\n")
    result = invoke("check", str(bad))
    assert result.exit_code == 1
    assert "bad.kms:1: expected system cpus == 3, got 2" in result.output
    assert "bad.kms:2" not in result.output


def test_json_state_lists_irps_in_progress_legacy_devices_pool_blocks_and_locks(tmp_path):
    lab = tmp_path / "lab.kms"
    lab.write_text("driver load slowdisk\ndriver load watchfilter\nprocess create app.exe\n"
                   "step 3\nopen app.exe \\Device\\SlowDisk --access all\nread app.exe 0xc\n"
                   "mutex create M\nspinlock create S\n")
    state = json.loads(invoke("run", str(lab), "--json").output)["state"]
    (irp,) = state["irps"]
    assert (irp["number"], irp["major"], irp["status"], irp["device"], irp["thread"]) == (
        2, "IRP_MJ_READ", 0x103, "\\Device\\SlowDisk", 176)
    assert [(s["device"], s["pending"], s["completion"]) for s in irp["stack"]] == [
        ("watchfilter#1", False, None), ("\\Device\\SlowDisk", True, "watchfilter!ReadDone")]
    devices = {d["label"]: d for d in state["devices"]}
    assert devices["\\Device\\SlowDisk"]["devnode"] is None  # a legacy driver's device
    assert devices["watchfilter#1"]["attached_to"] == "\\Device\\SlowDisk"
    assert {(lock["name"], lock["kind"]) for lock in state["locks"]} >= {("S", "spinlock"),
                                                                        ("M", "mutex")}
    assert all(set(block) == {"address", "size", "tag", "kind", "driver"}
               for block in state["pool"])


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless Chromium here")
def test_exported_html_opens_in_a_headless_browser_and_shows_the_transcript(tmp_path):
    out = tmp_path / "lesson.html"
    invoke("run", FIRST, "--export-html", str(out))
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", out.as_uri()],
        capture_output=True, text=True, timeout=60, check=False).stdout
    assert "kmshell&gt; process crash notepad.exe" in dom or "process crash notepad.exe" in dom
    assert "CRITICAL_PROCESS_DIED" not in dom and "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED" in dom


def test_irp_status_answers_for_irps_in_progress_and_completed_as_language_md_shows(tmp_path):
    scenario = tmp_path / "status.kms"
    scenario.write_text("driver load nullsink\nirp send NullSink IRP_MJ_READ\n"
                        "expect irp 1 status == STATUS_END_OF_FILE\n"
                        "expect irp 1 completed == true\n"
                        "driver load slowdisk\nirp send SlowDisk IRP_MJ_READ\n"
                        "expect irp 2 status == STATUS_PENDING\n"
                        "irp complete 2 STATUS_SUCCESS\nexpect irp 2 status == 0x0\n")
    result = invoke("check", str(scenario))
    assert result.exit_code == 0, result.output


def test_an_irp_number_never_used_is_a_clear_failure(tmp_path):
    scenario = tmp_path / "none.kms"
    scenario.write_text("expect irp 7 status == STATUS_SUCCESS\n")
    result = invoke("check", str(scenario))
    assert result.exit_code == 1 and "no IRP 7: no IRP has been sent yet" in result.output


def test_a_bug_in_kmshell_ends_run_and_check_with_one_line_and_status_3(tmp_path, monkeypatch):
    from kmshell.scenario import runner

    def buggy(self):
        raise RuntimeError("a model bug")

    monkeypatch.setattr(runner.Replay, "run", buggy)
    monkeypatch.delenv("KMSHELL_TRACEBACK", raising=False)
    scenario = tmp_path / "lab.kms"
    scenario.write_text("step\n")
    for command in ("run", "check"):
        result = CliRunner().invoke(main, [command, str(scenario)])
        assert result.exit_code == 3 and "Traceback" not in result.output
        assert "internal error in kmshell: RuntimeError: a model bug" in result.output


def _shell_completions(args: list[str], incomplete: str) -> list[tuple[str, str]]:
    """What `_KMSHELL_COMPLETE=bash_complete` answers the shell for a partly typed word."""
    from click.shell_completion import ShellComplete

    from kmshell.cli import main

    completer = ShellComplete(main, {}, "kmshell", "_KMSHELL_COMPLETE")
    return [(item.type, item.value) for item in completer.get_completions(args, incomplete)]


def test_shell_completion_of_run_and_check_offers_bundled_scenarios_and_the_shells_paths():
    for command in ("run", "check"):
        offered = _shell_completions([command], "01")
        assert offered == [("file", "01"), ("plain", "01-user-and-kernel-mode")], command
    assert _shell_completions(["check", "scenarios/01.kms"], "zz") == [("file", "zz")]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_run_with_the_bundled_scenarios_and_else_falls_back_to_file_names():
    """Through click's own bash script, as `eval "$(_KMSHELL_COMPLETE=bash_source kmshell)"`
    installs it: a `file` item empties COMPREPLY in that script, so the names must survive it.
    compopt is stood in for, since it only works while readline is completing."""
    kmshell = Path(sys.executable).with_name("kmshell")
    script = ('compopt() { echo "compopt $1 $2"; }; '
              f'eval "$(_KMSHELL_COMPLETE=bash_source {kmshell})"; '
              'for word in 01 zz; do COMP_WORDS=(kmshell run "$word"); COMP_CWORD=2; '
              f'_kmshell_completion {kmshell}; echo "$word: ${{COMPREPLY[*]}}"; done')
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                          text=True, check=True, timeout=60)
    assert done.stdout.splitlines() == ["compopt -o default", "01: 01-user-and-kernel-mode",
                                        "compopt -o default", "zz: "]


def test_shell_completion_of_files_kmshell_writes_asks_the_shell_for_paths():
    assert _shell_completions(["check", "01", "--junit"], "res") == [("file", "res")]
    assert _shell_completions(["run", "01", "--export-html"], "o") == [("file", "o")]
    assert _shell_completions(["schema", "driver", "-o"], "d") == [("file", "d")]


def test_run_step_says_it_is_ignored_when_no_keys_can_be_read():
    piped = CliRunner().invoke(main, ["run", "-", "--step", "--no-color"],
                               input="title t\nprocess create a.exe\n")
    assert piped.exit_code == 0
    assert "--step ignored: it waits for keys typed at a terminal, and the scenario comes " \
           "from standard input" in piped.stderr
    assert "this is not a terminal" in invoke("run", "01", "--step", "--no-color").stderr
