"""Tab completion: each command's help beside it, fuzzy command words after the ones that
start as typed, and the catalog's drivers, hardware IDs and scenarios where they go. Driven
through the session's completer and, for Tab itself, prompt_toolkit's pipe input."""

from __future__ import annotations

import io

from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from kmshell.commands import TABLE
from kmshell.session import Session
from kmshell.shell import run_repl
from kmshell.shell.completer import CommandCompleter
from kmshell.views.console import make_console

CTRL_D, ENTER, TAB = "\x04", "\r", "\t"


def offered(text: str, session: Session | None = None) -> dict[str, str]:
    """What Tab offers after `text`, in menu order, with the meta shown beside each."""
    completer = CommandCompleter(session or Session())
    return {c.text: c.display_meta_text for c in completer.get_completions(Document(text), None)}


def typed(keys: str) -> tuple[list[str], str]:
    """The lines the REPL ran when `keys` were typed, and what it printed."""
    session = Session()
    buffer = io.StringIO()
    console = make_console(no_color=True, file=buffer, width=120)
    with create_pipe_input() as pipe:
        pipe.send_text(keys + CTRL_D)
        run_repl(session, console, history=InMemoryHistory(), input=pipe, output=DummyOutput())
    return [entry.line for entry in session.history], buffer.getvalue()


def test_the_menu_shows_each_commands_one_line_help_beside_it():
    assert offered("tim")["timeline"] == TABLE.lookup("timeline").help
    assert offered("process ")["crash"] == TABLE.lookup("process crash").help
    assert offered("process create a.exe --pri")["--priority"] == "base priority 1..31"


def test_a_noun_shows_its_verbs_and_an_alias_the_command_it_stands_for():
    assert offered("irp")["irp"] == "send · list · show · complete · cancel"
    assert offered("ps")["ps"].startswith("process list: the process tree")


def test_command_words_match_fuzzily_when_none_starts_as_typed():
    assert list(offered("tmln")) == ["timeline"]
    assert "device" in offered("dvc")
    assert list(offered("process crsh")) == ["crash"]


def test_words_that_start_as_typed_come_before_fuzzy_matches():
    words = list(offered("st"))
    starting = [w for w in words if w.startswith("st")]
    assert starting and words[:len(starting)] == starting
    assert "history" in words[len(starting):]  # s…t, after them
    assert list(offered("proc")) == ["process", "!process"]


def test_names_of_the_model_match_by_their_start_only():
    assert "explorer.exe" not in offered("process show xpl")


def test_tab_takes_a_lone_fuzzy_match():
    lines, _ = typed("tmln" + TAB + ENTER)
    assert lines == ["timeline"]


def test_tab_completes_what_starts_as_typed_although_fuzzy_matches_are_offered_too():
    lines, _ = typed("proc" + TAB + " create calc.exe" + ENTER)
    assert lines == ["process create calc.exe"]


def test_driver_load_offers_the_catalog_with_each_drivers_description():
    names = offered("driver load toa")
    assert list(names) == ["toaster", "toasterfilter", "toasterupper"]
    assert names["toaster"].startswith("the toaster function driver")
    lines, _ = typed("driver load nulls" + TAB + ENTER)
    assert lines == ["driver load nullsink"]


def test_driver_load_offers_folders_and_toml_files(tmp_path, monkeypatch):
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "mine.toml").write_text("")
    (tmp_path / "course" / "notes.txt").write_text("")
    (tmp_path / "course" / ".hidden.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert list(offered("driver load cou")) == ["course/"]
    assert list(offered("driver load course/")) == ["course/mine.toml"]
    assert list(offered("driver load course/.")) == ["course/.hidden.toml"]
    assert offered("driver install course/m") == {"course/mine.toml": ""}


def test_device_plug_offers_the_driver_stores_hardware_ids_with_their_drivers():
    ids = offered("device plug USBPDO-0 USB\\VID_0")
    assert ids["USB\\VID_045E&PID_0008"] == "HidUsb"
    assert ids["USB\\VID_0BDA&PID_8153"] == "stubborn"
    lines, _ = typed("device plug USBPDO-0 USB\\VID_045E" + TAB + ENTER)
    assert lines == ["device plug USBPDO-0 USB\\VID_045E&PID_0008"]


def test_replay_offers_the_bundled_scenarios_with_their_titles():
    scenarios = offered("replay 03")
    assert list(scenarios) == ["03-scheduling-one-cpu-vs-many"]
    assert scenarios["03-scheduling-one-cpu-vs-many"].startswith("Scheduling:")
    _, out = typed("replay 03-sch" + TAB + ENTER)
    assert "expectation(s) held" in out


def test_help_offers_components_and_all_too():
    words = offered("help ")
    assert words["Ps"] == "process and thread manager"
    assert "all" in words and '"process create"' in words


def test_the_menu_names_the_image_beside_each_pid_and_tid_in_hex_after_a_bang_command():
    assert offered("process show 16")["164"] == "explorer.exe"
    assert offered("!process a")["a4"] == "explorer.exe"
    assert offered("thread show 16")["168"] == "thread of explorer.exe (164)"


def test_driver_load_offers_catalog_names_as_their_specs_spell_them_matching_any_case():
    assert list(offered("driver load hid")) == ["HidUsb"]
    assert list(offered("driver load USBH")) == ["USBHUB3"]
