"""Listings stay readable and quick on a big machine: past LIST_LIMIT rows a view shows the
first ones (and what the command is about) and says how many it left out."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kmshell.drivers import new_system
from kmshell.nt import System
from kmshell.nt.ps import parse_program
from kmshell.views.io import device_table
from kmshell.views.layout import LIST_LIMIT
from kmshell.views.pnp import devnode_tree, power_table
from kmshell.views.ps import process_tree, thread_table

EXTRA = LIST_LIMIT + 20


def text(view) -> str:
    console = Console(width=120, file=io.StringIO(), color_system=None)
    console.print(view)
    return console.file.getvalue()


@pytest.fixture(scope="module")
def crowded() -> System:
    """EXTRA processes that wait (the first of them with a child), EXTRA that have exited,
    and EXTRA joysticks on the USB hub."""
    system = new_system()
    waiting, quick = parse_program("wait-input"), parse_program("compute 1; exit")
    first = system.ps.create_process("first.exe", program=waiting)
    system.ps.create_process("child.exe", parent=first, program=waiting)
    for number in range(EXTRA):
        system.ps.create_process(f"app{number}.exe", program=waiting)
        system.ps.create_process(f"gone{number}.exe", program=quick)
    system.ke.step(50)
    hub = system.io.find_device("USBPDO-0")
    for _ in range(EXTRA):
        system.pnp.plug(hub, "USB\\VID_045E&PID_0008")
    return system


def test_process_tree_past_the_limit_shows_limit_rows_and_counts_the_rest(crowded):
    shown = text(process_tree(crowded))
    assert shown.count(" session ") == LIST_LIMIT
    assert f"… and {len(crowded.ps.processes) - LIST_LIMIT:,} more" in shown


def test_process_tree_prefers_running_processes_over_exited_ones(crowded):
    shown = text(process_tree(crowded))
    assert "exited" not in shown  # more than LIST_LIMIT are running: no room for the exited
    assert "app0.exe" in shown


def test_process_tree_always_shows_the_highlighted_process_and_its_ancestors(crowded):
    child = next(p for p in crowded.ps.processes.values() if p.image == "child.exe")
    last_gone = next(p for p in reversed(crowded.ps.processes.values()) if not p.alive)
    shown = text(process_tree(crowded, highlight={child.pid, last_gone.pid}))
    assert "child.exe" in shown and "first.exe" in shown and "explorer.exe" in shown
    assert f"{last_gone.image} ({last_gone.pid})" in shown


def test_process_tree_under_the_limit_shows_exited_processes_too():
    system = new_system()
    system.ps.create_process("quick.exe", program=parse_program("compute 1; exit"))
    system.ke.step(10)
    shown = text(process_tree(system))
    assert "quick.exe" in shown and "exited" in shown and "more" not in shown


def test_thread_table_past_the_limit_says_how_to_narrow_it(crowded):
    shown = text(thread_table(crowded.ps.all_threads()))
    assert f"the first {LIST_LIMIT} of {len(crowded.ps.all_threads()):,}" in shown


def test_device_views_past_the_limit_count_what_they_leave_out(crowded):
    assert f"the first {LIST_LIMIT} of {len(crowded.io.devices):,}" in text(device_table(crowded))
    devnodes = len(list(crowded.pnp.device_root.walk()))
    assert f"… and {devnodes - LIST_LIMIT:,} more devnodes" in text(
        devnode_tree(crowded.pnp.device_root))
    assert f"the first {LIST_LIMIT} of" in text(power_table(crowded))


def test_a_recording_console_keeps_a_bounded_transcript_of_the_latest_output(monkeypatch):
    from kmshell.views import console as console_module

    monkeypatch.setattr(console_module, "TRANSCRIPT_SEGMENTS", 50)
    recording = console_module.make_console(file=io.StringIO(), record=True, no_color=True)
    for n in range(1000):
        recording.print(f"line {n}")
    assert len(recording._record_buffer) <= 50  # however long the session
    text = recording.export_text(clear=False)
    assert "line 999" in text and "line 0\n" not in text
    assert text.splitlines()[0].startswith("line ")  # whole lines kept
