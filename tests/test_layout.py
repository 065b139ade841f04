"""Every view reads at 80 and 140 columns: no word is broken across two lines, and no title
or caption is squeezed to one word a line (issue 21, item 5).

A lab session runs on one machine (processes with programs, drivers and their devices, a
plugged joystick, pending IRPs, locks, registry, a transaction, a log, WMI, a bugcheck and
!analyze), every command of the command table at least once; each line's output (its trace
and views, as the shell prints them) is rendered at 80 and 140 columns. The same output
rendered so wide that nothing wraps gives the words: a narrow rendering may put them on
other lines, or leave some out (a listing drops columns to fit), but may not print the two
pieces of one of them at the end of a line and under it, nor cut one short with "…", nor
wrap a line of an indented block (a THREAD line of !process, an error's hint) to column 0.
A title or caption wrapped one word a line is found by its shape, at every width (rich
wraps it to the table's width, however wide the console). The toolbar, `kmshell
scenarios`, a scenario's title and `--step`'s key hint are checked on a pseudo-terminal or
a pipe 80 columns wide.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pexpect
import pytest
from rich.table import Table
from rich.text import Text

from kmshell.commands import TABLE
from kmshell.language import parse_words, split_words
from kmshell.scenario import catalog
from kmshell.session import Session
from kmshell.shell.toolbar import toolbar_text
from kmshell.views.console import make_console
from kmshell.views.curriculum import scenario_list
from kmshell.views.layout import Heading, titled
from kmshell.views.outcome import render_outcome
from kmshell.views.ps import thread_table

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (80, 140)
UNWRAPPED = 1000  # wide enough that no view wraps a line

# The lab: each line's output is checked. The lines run in order on one machine.
LAB = r"""
status
event create Go
event create Verdict --synchronization
process create notepad.exe
process create calc.exe --threads 2 --program "compute 4; wait Go; exit"
process create bash --subsystem wsl
process create app.exe --program "wait-input"
thread create notepad.exe --program "compute 5; wait Verdict; exit"
callback register process WdFilter --steps "compute 1; ExQueueWorkItem" --work "compute 4"
process create word.exe
mutex create M1
spinlock create L
semaphore create Slots --count 1 --limit 2
timer create Tick --due 3 --period 3
step 12
timeline
timeline --last 6
semaphore release Slots
event set Verdict
event reset Verdict
driver load slowdisk
driver load watchfilter
driver load nullsink
driver load irqdisk
driver load toaster
driver load scenarios/lab/poller.toml
driver install scenarios/lab/meter.toml
device plug HTREE\ROOT\0 ROOT\METER --name Meter0
driver list
driver show slowdisk
!drvobj nullsink
!drvobj slowdisk 7
open app.exe \Device\SlowDisk --access all
read app.exe 0xc
open app.exe \Device\IrqDisk --overlapped
read app.exe 0x10 --length 8192
write app.exe 0xc hello
ioctl app.exe 0xc 0x222003
irp send SlowDisk IRP_MJ_READ
irp send SlowDisk IRP_MJ_PNP IRP_MN_QUERY_CAPABILITIES
irp list
irp show 5
!irp 0n5
irp complete 10 STATUS_SUCCESS
irp cancel 8
interrupt IrqDisk --cpu 1
dpc list
device plug USBPDO-0 USB\VID_045E&PID_0008
device list
device stack Joystick0
device show Joystick0
!devobj Joystick0
open word.exe \Device\Joystick0
read word.exe 0xc
irp list
device tree
!devnode 0 1
power show
power arm Joystick0
power device Joystick0 D3
power device Joystick0 D0
power sleep
power wake --by Joystick0
power arm Joystick0 --off
close app.exe 0x10
device unplug Joystick0 --surprise
callback register thread WdFilter --subsystems
callback list
thread create calc.exe --program "compute 1; exit"
step 8
run --max 50
worker list
callback remove 1
process list
!process 0 0
!process 0 7
process show notepad.exe
!process calc.exe 7
thread list
thread list app.exe
thread show 176
!thread 64
memory map notepad.exe
memory stats
!pfn 1ad
touch notepad.exe 0x900000 --write 7
memory alloc notepad.exe 0x4000
pte 0x900000 notepad.exe
!pte fffff80000001000
memory trim notepad.exe
memory pressure 20
memory pressure 0
irql
!irql 1
cpu show 0
!pcr 1
object ls
object ls \ObjectTypes
!object \Device
object tree \KernelObjects --depth 1
object tree
object show \KernelObjects\LowMemoryCondition
handle list app.exe
!handle 4
pool
!poolused
!poolused 1
lock list
var list
whoami
login student
whoami
token notepad.exe
!token 4
sd \BaseNamedObjects\Go
sd set \BaseNamedObjects\Go "D:P(A;;GA;;;SY)(A;;GA;;;BA)"
reg set HKLM\SOFTWARE\Lab Greeting hello
reg set HKLM\SOFTWARE\Lab Count 7 --type REG_DWORD
reg ls HKLM\SYSTEM\CurrentControlSet\Services\pci
reg get HKLM\SYSTEM\CurrentControlSet\Services\disk Start
tx begin
reg set HKLM\SOFTWARE\Lab Count 8 --type REG_DWORD
reg ls HKLM\SOFTWARE\Lab
tx rollback
tx begin
reg delete HKLM\SOFTWARE\Lab Greeting
tx commit
reg delete HKLM\SOFTWARE\Lab
log create Journal
log append Journal "transfer 60 alice->bob"
log flush Journal
log append Journal "audit ok"
log show Journal
wmi list
wmi query ToasterDeviceInformation
verifier on scribbler
verifier show
verifier off scribbler
explain on
process kill word.exe
explain off
view full
process crash calc.exe
view auto
history
help
help process create
seed 7
step
login teacher
driver load doublecomplete
irp send NullSink IRP_MJ_READ
!analyze
status
thread list
cpu show 1
undo
boot --cpus 8
status
irql
timeline
process kill wininit.exe
status
reboot
power hibernate
power wake
power shutdown
boot
driver load nullsink
driver unload nullsink
process crash System
!analyze -v
"""

# Commands whose lines print nothing of their own to lay out, or touch files or the shell:
# every other command of the table runs in LAB (a test below holds the table to that).
NOT_IN_LAB = {
    "quit": "ends the session", "clear": "prints nothing; it clears a terminal",
    "goto": "time travel, as undo (which LAB runs), prints a one-line confirmation",
    "save": "writes a file", "load": "reads a file", "record": "writes a file",
    "record stop": "stops a recording", "export": "writes a file",
    "replay": "prints a scenario's lines, each checked here already",
    "title": "a scenario directive", "say": "a scenario directive",
    "pause": "waits for a key", "expect": "a scenario directive",
}

WORD = re.compile(r"\S+")


def words(text: str) -> set[str]:
    """The words of a rendering: runs of non-blank characters with a letter or digit (rules
    and tree guides change length with the width, so are left out)."""
    return {word for word in WORD.findall(text) if any(c.isalnum() for c in word)}


def _placed(line: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in WORD.finditer(line)]


def broken_words(narrow: str, vocabulary: set[str], width: int) -> list[str]:
    """Words of the vocabulary that the narrow rendering breaks across lines, and words it
    cuts short with an ellipsis. A broken word leaves a piece at the end of one line and
    the rest under it on the next, where its cell or its indent starts (or, right-justified,
    ends): two pieces that join into a word of the vocabulary, or into the start of one
    broken over more lines, at least one of them no word of its own (two numbers stacked in
    a column are not a broken one). A word wider than the line cannot be kept whole: it
    may break where the line ends, if it starts the line (at most an indent in), not where
    a narrow column ends."""
    found = []
    lines = narrow.splitlines()
    for upper, lower in pairwise(lines):
        below = _placed(lower)
        for start, end, head in _placed(upper):
            for start2, end2, tail in below:
                if (start2 == start or end2 == end) and \
                        not (head in vocabulary and tail in vocabulary) and \
                        any(whole.startswith(head + tail) and
                            (len(whole) <= width - 4 or start > 4) for whole in vocabulary):
                    found.append(f"{head}|{tail}")
    for word in WORD.findall(narrow):
        stem = word.removesuffix("…")
        if stem != word and stem and stem not in vocabulary and \
                any(whole.startswith(stem) for whole in vocabulary):
            found.append(word)
    return found


def one_word_lines(text: str, width: int, run: int = 3) -> list[str]:
    """Runs of `run` or more lines of one word each, some of them words of letters, that
    would fit on one line of this width: a title or caption wrapped one word a line (a column
    of numbers is not). rich wraps a table's title and caption to the table's own width,
    however wide the console, so the unwrapped rendering is checked for these too."""
    found, lines, start = [], [*text.splitlines(), ""], 0
    for index, line in enumerate(lines):
        if len(WORD.findall(line)) == 1 and words(line):
            continue
        joined = " ".join(lines[i].strip() for i in range(start, index))
        if index - start >= run and len(joined) <= width and \
                any(c.isalpha() for c in joined):
            found.append(joined)
        start = index + 1
    return found


def lost_indents(narrow: str, unwrapped: str) -> list[str]:
    """Lines of an indented block that wrapped to column 0: a line at column 0 that goes on
    from the indented line above it (the two are one line unwrapped). rich wraps a Text's
    line to column 0, whatever it started with."""
    lines = {" ".join(line.split()) for line in unwrapped.splitlines()}
    return [line for above, line in pairwise(narrow.splitlines())
            if line and not line[0].isspace() and above.strip() and above[0].isspace()
            and any(" ".join(f"{above} {line}".split()) in whole for whole in lines)]


def render(parts: list, width: int) -> str:
    console = make_console(no_color=True, file=io.StringIO(), width=width)
    for part in parts:
        console.print(part)
    return console.file.getvalue()


def faults(parts: list) -> dict[int, list[str]]:
    """What is wrong with the parts' layout, at each width of WIDTHS and unwrapped."""
    unwrapped = render(parts, UNWRAPPED)
    vocabulary = words(unwrapped)
    found = {}
    for width in (*WIDTHS, UNWRAPPED):
        narrow = render(parts, width)
        problems = [f"broken: {w}" for w in broken_words(narrow, vocabulary, width)] + \
                   [f"one word a line: {t}" for t in one_word_lines(narrow, width)] + \
                   [f"indent lost: {t}" for t in lost_indents(narrow, unwrapped)]
        if problems:
            found[width] = problems
    return found


def lab_lines() -> list[str]:
    return [line for line in LAB.splitlines() if line.strip()]


def test_the_lab_runs_every_command_of_the_table_but_those_set_aside():
    ran = {parse_words(split_words(line), TABLE).spec.name for line in lab_lines()}
    untried = {spec.name for spec in TABLE.specs} - ran - set(NOT_IN_LAB)
    assert not untried, f"add a line running each of these to LAB: {sorted(untried)}"


def test_every_view_keeps_its_words_whole_and_its_captions_on_lines_at_80_and_140_columns():
    session = Session()
    failures = []
    for number, line in enumerate(lab_lines(), 1):
        outcome = session.execute(line, ROOT)  # file names from the repository
        assert outcome.error is None, f"LAB line {number} {line!r}: {outcome.error}"
        for width, problems in faults(render_outcome(outcome, session.settings)).items():
            failures.append(f"{line!r} at {width} columns: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)


# Errors whose hint or usage is wider than 80 columns: each goes on at its indent.
ERRORS = ("process create", "!process zz", "driver show nosuch", "thread create")


def test_an_errors_hint_and_usage_wrap_at_their_indent_at_80_and_140_columns():
    session = Session()
    failures = []
    for line in ERRORS:
        outcome = session.execute(line)
        assert outcome.error is not None, line
        for width, problems in faults(render_outcome(outcome, session.settings)).items():
            failures.append(f"{line!r} at {width} columns: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)
    usage = render(render_outcome(session.execute("process create"), session.settings), 80)
    assert "\n         [--threads N] [--priority N] [--program TEXT]\n" in usage  # under `usage: `


def test_the_check_finds_a_word_broken_across_lines_and_a_title_one_word_a_line():
    """The check above is not vacuous: a table that folds a word, and one whose title rich
    wraps to the table's width, fail it."""
    folding = Table(*"abcdefg")
    folding.add_row(*["PAGE_EXECUTE_WRITECOPY"] * 7)  # wider than 140 columns, unbroken
    assert broken_words(render([folding], 80), words(render([folding], UNWRAPPED)), 80)
    assert faults([folding]).keys() == {80, 140}
    path = Table("source", "path")  # a word wider than the line, folded in a narrow column
    path.add_row("x" * 40, "NtLoadDriver(\\Registry\\Machine\\System\\CurrentControlSet"
                 "\\Services\\doublecomplete):")
    assert broken_words(render([path], 80), words(render([path], UNWRAPPED)), 80)
    squeezed = Table(title="schedule (TID that ran each tick; idle)")
    squeezed.add_column("CPU")
    squeezed.add_row("0")
    assert one_word_lines(render([squeezed], UNWRAPPED), UNWRAPPED)
    assert faults([squeezed]).keys() == {*WIDTHS, UNWRAPPED}
    assert not faults([titled("a title wider than its table, on one line", "CPU")])
    hint = Text("error: no such thing\n  " + "a hint that goes on and on " * 6)
    assert faults([hint]).keys() == set(WIDTHS)
    assert lost_indents(render([hint], 80), render([hint], UNWRAPPED)) == \
        ["on a hint that goes on and on a hint that goes on and on a hint that goes on and"]


def test_an_errors_list_of_choices_breaks_between_its_groups_at_80_columns():
    """`use GA GR GW GX, FA FR FW FX, KA KR KW, …`: a line ends after a group's comma, never
    inside a group."""
    session = Session()
    outcome = session.execute(r'sd set \KernelObjects\LowMemoryCondition "D:(A;;GZ;;;SY)"')
    assert outcome.error is not None
    lines = render(render_outcome(outcome, session.settings), 80).splitlines()
    groups = ("GA GR GW GX,", "FA FR FW FX,", "KA KR KW,", "SD RC WD WO")
    assert all(any(group in line for line in lines) for group in groups), lines
    assert not faults(render_outcome(outcome, session.settings))


def test_the_bugcheck_screen_keeps_its_parameters_in_columns_after_their_label_at_80_columns():
    session = Session()
    outcome = session.execute("process crash System")
    lines = [line.strip("│").rstrip() for line in
             render(render_outcome(outcome, session.settings), 80).splitlines()]
    first = next(i for i, line in enumerate(lines) if "Parameters: " in line)
    column = lines[first].index("Parameters: ") + len("Parameters: ")
    rows = [lines[first][column:], lines[first + 1][column:]]
    assert lines[first + 1][:column].isspace(), lines[first:first + 2]
    assert [len(row.split()) for row in rows] == [2, 2], rows
    assert rows[0].index(rows[0].split()[1]) == rows[1].index(rows[1].split()[1])
    wide = render(render_outcome(outcome, session.settings), 140)
    assert re.search(r"Parameters: (0x[0-9A-F]+  ){3}0x[0-9A-F]+ ", wide)  # one line if they fit


@pytest.mark.parametrize("width", WIDTHS)
def test_the_memory_maps_halves_are_divided_by_the_line_its_note_names(width):
    """`above the line: … user half; below: the kernel half`: a rule, not an empty row."""
    session = Session()
    session.execute("process create notepad.exe")
    shown = render(session.execute("memory map notepad.exe").views, width)
    lines = shown.splitlines()
    rules = [i for i, line in enumerate(lines) if line.strip() and set(line.strip()) == {"─"}]
    assert len(rules) == 2, shown  # under the header, and between the halves
    assert lines[rules[1] - 1].strip() and lines[rules[1] + 1].startswith(" ffff8000`"), shown
    assert "above the line:" in shown


def test_consecutive_traces_line_up_whatever_irqls_and_modes_they_hold():
    """The irql and mode columns are as wide as their widest label (`2 DISPATCH`, `kernel`)
    in every trace: one at DISPATCH_LEVEL, one at PASSIVE_LEVEL only, one in user mode only."""
    session = Session()
    headers = set()
    for line in ("process create notepad.exe", "process crash notepad.exe",
                 "wmi query MSAcpi_ThermalZoneTemperature"):
        shown = render(render_outcome(session.execute(line), session.settings), 100)
        headers |= {row for row in shown.splitlines() if row.startswith("tick ")}
    assert headers == {"tick   cpu   irql         mode     who   event"}


def test_legends_and_footers_break_between_entries_and_a_long_timeline_goes_on_in_bands():
    """`176 = a.exe (prio 8)` in the timeline's legend, `a.exe:176 (prio 8)` in the
    processors' footer: each entry whole on one line at 80 columns; and every tick asked for
    is shown, in bands as wide as the line, none cut off at its edge."""
    session = Session()
    for name in "abcdefgh":
        session.execute(f'process create {name}.exe --program "compute 40"')
    session.execute("step 30")
    for line, entry in (("timeline --last 30", r"\d+ = \w\.exe \(prio \d+\)"),
                        ("status", r"\w\.exe:\d+ \(prio \d+\)")):
        views = session.execute(line).views
        text = render(views, 80)
        assert len(re.findall(entry, text)) >= 6, text
        pieces = re.findall(entry.replace(" ", r"\s+"), text)
        assert all("\n" not in piece for piece in pieces), text
    shown = render(session.execute("timeline --last 30").views, 80)
    assert all(len(line) <= 80 for line in shown.splitlines())
    ticks = [int(word) for line in shown.splitlines() if line.startswith(" CPU ")
             for word in line.split()[1:]]
    assert ticks == list(range(1, 31))


def _timeline_bands_shown(text: str) -> list[list[int]]:
    """The ticks of each band of a printed timeline, from its header lines."""
    return [[int(word) for word in line.split()[1:]] for line in text.splitlines()
            if line.startswith(" CPU ")]


@pytest.mark.parametrize("width", WIDTHS)
def test_a_timeline_without_last_shows_the_latest_ticks_that_fit_the_width_in_one_band(width):
    session = Session(cpus=2)
    session.execute('process create a.exe --threads 3 --program "compute 40; exit"')
    session.execute("run")
    shown = render(session.execute("timeline").views, width)
    (band,) = _timeline_bands_shown(shown)
    tick = session.system.core.tick
    assert band == list(range(tick - len(band) + 1, tick + 1))
    header = next(line for line in shown.splitlines() if line.startswith(" CPU "))
    assert len(header) <= width < len(header) + 5  # one tick more (4 wide and a gap) would not fit
    assert f"schedule, ticks {band[0]}–{tick} of {tick} " in shown
    assert f"\nearlier ticks: timeline --last {tick}\n" in shown  # how to see the rest
    everything = render(session.execute(f"timeline --last {tick}").views, width)
    assert "earlier ticks" not in everything


@pytest.mark.parametrize(("last", "sizes"), [(16, [8, 8]), (31, [11, 11, 9]), (15, [15])])
def test_a_timeline_with_last_spreads_its_ticks_over_bands_leaving_none_a_lone_column(
        last, sizes):
    session = Session(cpus=2)
    session.execute('process create a.exe --program "compute 60"')
    session.execute("step 40")
    bands = _timeline_bands_shown(render(session.execute(f"timeline --last {last}").views, 80))
    assert [len(band) for band in bands] == sizes
    assert [tick for band in bands for tick in band] == list(range(41 - last, 41))


def test_a_thread_listing_with_no_threads_still_shows_its_headers():
    assert "TID  process  state" in render([thread_table([])], 80)


def test_output_that_is_not_a_terminal_has_no_spaces_at_the_end_of_its_lines():
    """rich pads every cell to its column's width; a pipe or a file does not get that."""
    table = titled("processes", "name", "state")
    table.add_row("a-long-name.exe", "Active")
    table.add_row("b.exe", "")
    printed = render([table], 80)
    assert "b.exe" in printed
    assert not [line for line in printed.splitlines() if line.endswith(" ")], printed


SGR = re.compile(r"\x1b\[[0-9;]*m")
CPR = "\x1b[6n"  # prompt_toolkit asks where the cursor is; it draws no toolbar unanswered


def toolbar_drawn(tmp_path, columns: int, *arguments: str, typed: str = "") -> str:
    """The bottom toolbar the shell draws on a pseudo-terminal `columns` wide, as plain
    text, after the line `typed` (if any) has run."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"),
               TERM="xterm-256color")
    shell = pexpect.spawn(sys.executable, ["-m", "kmshell", *arguments], cwd=str(ROOT),
                          env=env, timeout=60, dimensions=(24, columns), encoding="utf-8")
    row = re.compile(r"\n([^\r\n]* tick [^\r\n]*?)\r")  # the toolbar's row, to its end
    try:
        for line in (["", typed] if typed else [""]):
            if line:
                shell.sendline(line)
            shell.expect_exact(CPR)
            shell.send("\x1b[1;1R")
            shell.expect(row)
        return SGR.sub("", shell.match.group(1))
    finally:
        shell.sendcontrol("d")
        shell.expect(pexpect.EOF)


@pytest.mark.parametrize(("arguments", "typed", "kept"), [
    ((), "", ("tick 0", "CPU0 0 PASSIVE", "CPU1 0 PASSIVE", "processes", "running")),
    ((), "process crash System", ("tick", "IRQL 15/15 ", "HALTED 0x7E")),
    (("--cpus", "8"), "process kill wininit.exe", ("tick", "HALTED 0xEF")),
], ids=["running", "halted", "halted-8-cpus"])
def test_the_toolbar_fits_80_columns_by_dropping_fields_not_by_cutting_words(
        tmp_path, arguments, typed, kept):
    drawn = toolbar_drawn(tmp_path, 80, *arguments, typed=typed)
    assert len(drawn) <= 80
    session = Session(cpus=8 if arguments else 2)
    if typed:
        session.execute(typed)
    whole = "".join(text for _, text in toolbar_text(session.system))
    assert len(whole) > 80  # the whole toolbar would not fit: it had to shorten itself
    levels = "/".join(r"\d+" for _ in session.system.core.processors)  # `IRQL 15/15`: each CPU's
    shortened = re.sub(rf"IRQL {levels} ", "", drawn)
    assert set(shortened.split()) <= set(whole.split()), drawn
    assert all(field in drawn for field in kept), drawn


def kmshell(tmp_path, *arguments: str, columns: str | None = None) -> str:
    """What `kmshell ARGUMENTS` prints to a pipe, COLUMNS set to `columns` (or unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    if columns is not None:
        env["COLUMNS"] = columns
    done = subprocess.run([sys.executable, "-m", "kmshell", *arguments], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def on_a_terminal(tmp_path, columns: int, *arguments: str, until: str, keys: str = "") -> str:
    """What `kmshell ARGUMENTS` draws on a pseudo-terminal `columns` wide up to the text
    `until`, as plain lines (after typing `keys`, if any, to end it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"),
               TERM="xterm-256color")
    program = pexpect.spawn(sys.executable, ["-m", "kmshell", *arguments], cwd=str(ROOT),
                            env=env, timeout=60, dimensions=(24, columns), encoding="utf-8")
    try:
        program.expect_exact(until)
        return SGR.sub("", program.before + until).replace("\r\n", "\n")
    finally:
        program.send(keys)
        program.expect(pexpect.EOF)


def test_the_scenario_list_wraps_its_titles_between_words_under_themselves():
    entries = [(path.stem, title) for path, title in catalog.bundled(TABLE)]
    assert not faults([scenario_list(entries)])
    at80 = render([scenario_list(entries)], 80)
    assert max(map(len, at80.splitlines())) <= 80
    name = max(len(stem) for stem, _ in entries)
    goes_on = [line for line in at80.splitlines() if line.startswith(" ")]
    assert goes_on and all(line.startswith(" " * (name + 2) + line.strip()[0])
                           for line in goes_on)  # a hanging indent, under the title


@pytest.mark.parametrize("where", ["pipe with COLUMNS=80", "terminal 80 columns wide"])
def test_kmshell_scenarios_fits_80_columns_on_a_pipe_and_a_terminal(tmp_path, where):
    if where.startswith("pipe"):
        shown = kmshell(tmp_path, "scenarios", columns="80")
    else:
        shown = on_a_terminal(tmp_path, 80, "scenarios", until="kmshell run 01)")
    titles = [title for _, title in catalog.bundled(TABLE)]
    assert all(len(line) <= 80 for line in shown.splitlines()), shown
    assert not broken_words(shown, words("\n".join(titles)), 80), shown
    assert " ".join(shown.split()).count(" ".join(titles[0].split())) == 1  # all there


def test_a_scenarios_title_too_wide_for_its_rule_wraps_between_words_above_a_plain_rule(
        tmp_path):
    title = catalog.bundled(TABLE)[9][1]  # 10: the joystick stack, 88 characters
    head = kmshell(tmp_path, "run", "10", "--export-html", str(tmp_path / "10.html"),
                   columns="80").split("\n")
    rule = head.index("─" * 80)
    assert rule == 2 and " ".join(head[:rule]) == title and "…" not in head[0]
    html = (tmp_path / "10.html").read_text()
    assert title.endswith("on the PCI bus, and back") and "PCI bus," in html  # was cut: PCI …
    assert "…" not in html.split("kmshell&gt;")[0]
    assert render([Heading(Text(title))], 140) == f"{'─' * 25} {title} {'─' * 25}\n"
    assert render([Heading(Text(title))], 92) == f"─ {title} ─\n"  # just fits


def test_the_step_keys_hint_fits_80_columns_and_keeps_its_keys_together(tmp_path):
    lesson = tmp_path / "lesson.kms"
    lesson.write_text('title A lesson\nprocess create calc.exe --threads 2 --program '
                      '"compute 4; exit"\n')
    shown = on_a_terminal(tmp_path, 80, "run", str(lesson), "--step", until="q: quit ",
                          keys="q")
    hint = shown.splitlines()[-2:]
    assert hint == ['[next: process create calc.exe --threads 2 --program "compute 4; exit"]',
                    "Enter/space: run · b: back · q: quit "], shown
