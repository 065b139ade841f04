"""What a session keeps has a fixed maximum, however long it runs (issue 20): the recorded
transcript, the trace, the record of exited processes, the undo checkpoints, and every
listing a command prints. Sizes, not times: the limits are made small so that a few hundred
lines reach them, and the same limits hold after three times as many."""

from __future__ import annotations

import io

import pytest

from kmshell.nt import core as core_module
from kmshell.nt import ps as ps_module
from kmshell.session import CHECKPOINT_LEVELS, Session
from kmshell.views import console as console_module
from kmshell.views.console import make_console
from kmshell.views.layout import LIST_LIMIT
from kmshell.views.outcome import render_outcome

SEGMENTS, TRACE, EXITED = 3_000, 400, 25
# Each round leaves a process that exited, one killed, one still waiting, a new named
# event, a read pended at SlowDisk and one completed: everything a listing shows grows.
ROUND = ['process create worker.exe --program "compute 1; exit"',
         "process create waiter.exe --program wait-input",
         "process create victim.exe --program wait-input", "step 3", "process kill victim.exe",
         "event create E{n}", "irp send SlowDisk IRP_MJ_READ", "irp send NullSink IRP_MJ_READ",
         "reg set HKLM\\SOFTWARE\\Bounds Count {n} --type REG_DWORD", "status"]
LISTINGS = ["history", "ps", "thread list", "object tree", "irp list", "device list",
            "handles explorer.exe", "trace", "object ls \\BaseNamedObjects",
            "event create Zulu"]


def run_session(lines: int) -> tuple[Session, object]:
    session = Session(checkpoint_every=20)
    console = make_console(file=io.StringIO(), width=100, no_color=True, record=True)
    for setup in ("driver load slowdisk", "driver load nullsink"):
        session.execute(setup)
    for n in range(lines):
        outcome = session.execute(ROUND[n % len(ROUND)].format(n=n))
        assert outcome.ok, (outcome.line, outcome.error)
        for part in render_outcome(outcome, session.settings):
            console.print(part)
    return session, console


@pytest.mark.parametrize("lines", [400, 1_200])
def test_what_a_session_keeps_and_prints_has_a_fixed_maximum_whatever_its_length(
        monkeypatch, lines):
    monkeypatch.setattr(console_module, "TRANSCRIPT_SEGMENTS", SEGMENTS)
    monkeypatch.setattr(core_module, "TRACE_KEEP", TRACE)
    monkeypatch.setattr(ps_module, "EXITED_KEEP", EXITED)
    session, console = run_session(lines)
    system = session.system
    assert len(console._record_buffer) <= SEGMENTS  # what `export` can save
    printed, kept = console.file.getvalue(), console.export_text(clear=False)
    kept = "\n".join(line.rstrip(" ") for line in kept.split("\n"))  # not printed to a file
    assert len(kept) < len(printed) and printed.endswith(kept)  # the latest output, whole
    assert len(system.core.log) < 2 * TRACE and system.core.events_dropped
    exited = [p for p in system.ps.processes.values() if not p.alive]
    assert len(exited) == EXITED  # the latest: more exited than that
    assert not system.ps.held  # nothing references the processes that exited here
    assert 0 < len(session.checkpoints) <= 2 * CHECKPOINT_LEVELS
    for listing in LISTINGS:
        printed = io.StringIO()
        view = make_console(file=printed, width=200, no_color=True)  # no row wraps
        for part in render_outcome(session.execute(listing), session.settings):
            view.print(part)
        # the rows, a title, a header, its rule, the blank lines, a caption saying what was
        # left out and how to narrow it, and (event create) the command's short trace
        assert len(printed.getvalue().splitlines()) <= LIST_LIMIT + 12, listing


def test_creating_a_named_object_shows_it_among_at_most_the_listing_limit_of_its_directory():
    session = Session()
    for n in range(LIST_LIMIT + 20):
        session.execute(f"event create E{n:03}")
    printed = io.StringIO()
    view = make_console(file=printed, width=200, no_color=True)
    for part in render_outcome(session.execute("event create Zulu"), session.settings):
        view.print(part)
    text = printed.getvalue()
    assert "Zulu" in text and "E000" in text and f"E{LIST_LIMIT + 19:03}" not in text
    assert "left out" in text and len(text.splitlines()) <= LIST_LIMIT + 12
