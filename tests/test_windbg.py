"""WinDbg habits (issue 21, item 6): what a student types in WinDbg works the same in the `!`
commands. Sources: Debugger Reference, "n (Set Number Base)" (the default radix is 16; 0x,
0n, 0t, 0y override it), "!process", "!thread", "!drvobj", "!handle", "!poolused"."""

from __future__ import annotations

import io
import re
from functools import partial

import pytest
import sessions

from kmshell.language.spec import masm_number
from kmshell.session import Session
from kmshell.views.console import make_console
from kmshell.views.outcome import render_outcome

printed = partial(sessions.printed, ok=True)

EXPLORER = 164  # 0xa4: explorer.exe's PID on the default machine
NOTEPAD = 172  # 0xac: the first process created after boot


def error_of(session: Session, line: str) -> str:
    outcome = session.execute(line)
    assert not outcome.ok, f"{line!r} was accepted"
    text = outcome.error.describe()
    assert "Traceback" not in text
    return text


@pytest.fixture
def session() -> Session:
    session = Session()
    assert session.execute("process create notepad.exe").ok
    return session


def address_after(text: str, label: str) -> str:
    """The address a view prints after a label, as kmshell shows it (ffffc50f`0a005480)."""
    found = re.search(rf"{label}\s+([0-9a-f]{{8}}`[0-9a-f]{{8}})", text)
    assert found, text
    return found.group(1)


# (a) numbers are hex in the ! commands, decimal in the plain ones

@pytest.mark.parametrize(("text", "value"), [
    ("a4", 0xA4), ("0xa4", 0xA4), ("0XA4", 0xA4), ("0n164", 164), ("0t244", 164),
    ("0y10100100", 164), ("ffffc50f`0a005480", 0xFFFFC50F0A005480),
    ("notepad.exe", None), ("0n1f", None), ("", None)])
def test_masm_number_reads_hex_by_default_and_the_documented_prefixes(text, value):
    assert masm_number(text) == value


def test_a_number_in_a_bang_command_is_hex_as_in_windbg(session):
    assert "Image: explorer.exe" in printed(session, "!process a4")
    assert "Image: explorer.exe" in printed(session, "!process 0xa4")


def test_0n_marks_a_decimal_number_in_a_bang_command(session):
    assert "Image: explorer.exe" in printed(session, "!process 0n164")


def test_the_plain_commands_keep_reading_decimal(session):
    assert "explorer.exe" in printed(session, f"process show {EXPLORER}")
    assert "no process named 'a4'" in error_of(session, "process show a4")


def test_an_alias_reads_hex_too(session):
    # !pcr is `cpu show`'s alias: processor 0n1 and 1 are the same, 10 is 0x10
    assert printed(session, "!pcr 0n1") == printed(session, "!pcr 1")
    assert "no processor 16" in error_of(session, "!pcr 10")


def test_a_bad_number_in_a_bang_command_says_numbers_are_hex_there_and_never_decimal(session):
    text = error_of(session, "!thread zz")
    assert "hex" in text and "0n" in text
    assert "decimal digits" not in text  # the plain commands' wording would contradict it


# (b) the addresses kmshell prints are accepted by the matching ! command

def test_a_printed_eprocess_address_round_trips_through_bang_process(session):
    address = address_after(printed(session, "process show notepad.exe"), "PROCESS")
    assert "Image: notepad.exe" in printed(session, f"!process {address}")
    assert "Image: notepad.exe" in printed(session, f"!process 0x{address.replace('`', '')}")


def test_a_printed_ethread_address_round_trips_through_bang_thread(session):
    tid = session.system.ps.processes[NOTEPAD].threads[0].tid
    address = address_after(printed(session, f"thread show {tid}"), "THREAD")
    assert f"Cid {NOTEPAD:04x}.{tid:04x}" in printed(session, f"!thread {address}")


def test_printed_irp_device_and_driver_addresses_round_trip(session):
    assert session.execute("driver load slowdisk").ok
    irp = address_after(printed(session, "irp send SlowDisk IRP_MJ_READ"), "Irp")
    assert "number 1" in printed(session, f"!irp {irp}")
    device = address_after(printed(session, "device show SlowDisk"), "Device object")
    assert "\\Device\\SlowDisk" in printed(session, f"!devobj {device}")
    driver = address_after(printed(session, "driver show slowdisk"), "Driver object")
    assert "\\Driver\\slowdisk" in printed(session, f"!drvobj {driver}")


def test_an_unknown_address_says_nothing_is_there(session):
    assert "no EPROCESS at ffffc50f00000000" in error_of(session, "!process ffffc50f`00000000")
    assert "no IRP at" in error_of(session, "!irp ffffc50f00000000")


def test_an_address_of_another_structure_names_it_and_its_command(session):
    tid = session.system.ps.processes[NOTEPAD].threads[0].tid
    address = address_after(printed(session, f"thread show {tid}"), "THREAD")
    text = error_of(session, f"!process {address}")
    assert "is the address of an ETHREAD, not of an EPROCESS" in text
    assert "try !thread" in text


# (c) !analyze -v

def test_analyze_v_explains_the_bugcheck_as_analyze_does(session):
    assert session.execute("process crash 4").ok
    verbose = printed(session, "!analyze -v")
    assert "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED" in verbose
    assert verbose == printed(session, "!analyze")


def test_analyze_refuses_an_unknown_switch_naming_the_switch_as_written(session):
    assert error_of(session, "!analyze -x").startswith("-v: '-x' is not one of: -v")


# (d) !process 0 FLAGS [IMAGE]: WinDbg's PROCESS blocks

def test_process_0_0_prints_one_brief_block_a_running_process(session):
    text = printed(session, "!process 0 0")
    assert text.startswith("**** NT ACTIVE PROCESS DUMP ****")
    assert text.count("PROCESS ffff") == len(session.system.ps.live_processes())
    assert f"Cid: {NOTEPAD:04x}" in text and "Image: notepad.exe" in text
    assert "THREAD" not in text


def test_process_0_7_lists_each_process_threads_with_hex_client_ids(session):
    text = printed(session, "!process 0 7")
    tid = session.system.ps.processes[NOTEPAD].threads[0].tid
    assert re.search(rf"THREAD ffff[0-9a-f]{{12}}  Cid {NOTEPAD:04x}\.{tid:04x}  Teb: ", text)
    assert text.count("THREAD ffff") == sum(len(p.threads)
                                            for p in session.system.ps.live_processes())


def test_process_0_0_image_shows_only_that_image(session):
    text = printed(session, "!process 0 0 notepad.exe")
    assert text.count("PROCESS ffff") == 1 and "Image: notepad.exe" in text
    assert "no running process has the image name calc.exe" in printed(
        session, "!process 0 0 calc.exe")


def test_a_waiting_thread_line_gives_its_wait_reason(session):
    assert "WAIT: (UserRequest) Non-Alertable" in printed(session, "!process a4 7")


def test_an_image_name_goes_only_with_process_0(session):
    assert "!process 0" in error_of(session, "!process a4 0 notepad.exe")


# (e) the flags of !drvobj, !handle and !poolused

def test_drvobj_flags_pick_devices_and_dispatch_routines():
    session = Session()
    assert session.execute("driver load nullsink").ok
    devices = printed(session, "!drvobj nullsink 1")
    assert "Device Object list" in devices and "IRP_MJ_" not in devices
    assert "IRP_MJ_" in printed(session, "!drvobj nullsink 2")
    assert "DeviceType" in printed(session, "!drvobj nullsink 7")  # each device in detail
    assert "only with bit 0" in printed(session, "!drvobj nullsink 4")


def test_handle_0_f_pid_lists_every_handle_of_the_process(session):
    text = printed(session, f"!handle 0 f {NOTEPAD:x}")
    entries = session.system.ps.processes[NOTEPAD].handle_table.entries
    assert text.count(": Object: ") == len(entries)
    assert "Type: " in text  # bit 1: the object
    assert "bit 2 (0x4), free entries" in text  # f asks for them: the model has none


def test_handle_with_a_type_name_shows_only_that_type(session):
    text = printed(session, f"!handle 0 3 {NOTEPAD:x} Directory")
    assert "Type: Directory" in text and "Type: Event" not in text


def test_handle_with_one_argument_is_still_a_process(session):
    assert f"handle table of notepad.exe ({NOTEPAD})" in printed(session, f"!handle {NOTEPAD:x}")


def test_handle_flag_20_reads_the_handle_as_a_client_id(session):
    assert "Image: explorer.exe" in printed(session, "!handle a4 20")


def test_poolused_sorts_and_filters_as_documented():
    session = Session()
    assert session.execute("driver load tidy").ok
    assert "Sorting by Tag" in printed(session, "!poolused")
    assert "Sorting by NonPaged Pool Consumed" in printed(session, "!poolused 2")
    assert "Tidy" in printed(session, "!poolused 0 T*")
    assert "no pool in use tagged Zz*" in printed(session, "!poolused 0 Zz*")
    assert "cannot be used together" in error_of(session, "!poolused 6")
    assert "four" in error_of(session, "!poolused 0 Tid")


def test_poolused_says_the_session_pool_is_not_modelled():
    assert "session pool: not modelled" in printed(Session(), "!poolused 8")


# (f) client IDs in hex in the ! outputs, decimal in the plain listings

def test_client_ids_are_hex_in_bang_thread_and_decimal_in_process_list(session):
    tid = session.system.ps.processes[NOTEPAD].threads[0].tid
    assert f"Cid {NOTEPAD:04x}.{tid:04x}" in printed(session, f"!thread {tid:x}")
    assert f"notepad.exe ({NOTEPAD})" in printed(session, "process list")


def test_tab_completion_offers_hex_ids_to_a_bang_command_and_decimal_to_a_plain_one(session):
    from prompt_toolkit.document import Document

    from kmshell.shell.completer import CommandCompleter

    def offered(text: str) -> list[str]:
        completer = CommandCompleter(session)
        return [c.text for c in completer.get_completions(Document(text), None)]

    assert "a4" in offered("!process ") and "164" not in offered("!process ")
    assert "164" in offered("process show ")
    assert "notepad.exe" in offered("!process ")


def test_bang_thread_and_process_alone_show_processor_0s_current_thread_and_process(session):
    current = session.system.core.processors[0].current_thread
    assert f"Cid {current.process.pid:04x}.{current.tid:04x}" in printed(session, "!thread")
    assert f"Image: {current.process.image}" in printed(session, "!process")


def test_poolused_verbose_lists_each_block_address_whole_at_80_columns():
    session = Session()
    assert session.execute("driver load tidy").ok
    outcome = session.execute("!poolused 1")
    buffer = io.StringIO()
    console = make_console(no_color=True, file=buffer, width=80)
    for part in render_outcome(outcome, session.settings):
        console.print(part)
    block = next(b for b in session.system.mm.pool if b.tag == "Tidy")
    text = f"{block.address:016x}"
    assert f"{text[:8]}`{text[8:]}" in buffer.getvalue()


def test_each_idle_thread_runs_on_its_own_processor_in_the_process_dump(session):
    dump = printed(session, "!process 0 7 Idle")
    assert "Cid 0000.0000" in dump
    assert dump.count("RUNNING on processor 0") == 1 and dump.count("RUNNING on processor 1") == 1
