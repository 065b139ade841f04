"""Listings that grow with the session (history, object tree) show at most LIST_LIMIT rows,
say how many they left out, and can be narrowed or paged; a listing drawn packed (one cell
a row) prints what its table prints."""

from __future__ import annotations

import io
import re
from functools import partial

import pytest
import sessions
from rich.text import Text

from kmshell.session import Session
from kmshell.views.console import make_console
from kmshell.views.layout import LIST_LIMIT, Packed, titled

printed = partial(sessions.printed, ok=True)

ROW = re.compile(r"^\s*(\d+)\s+\d+\s+(\S.*?)\s*$")  # a history row: number, tick, command


def history_rows(session: Session, line: str) -> tuple[list[int], str]:
    """The command numbers a history listing shows, and its whole text."""
    out = printed(session, line)
    return [int(m.group(1)) for m in map(ROW.match, out.splitlines()) if m], out


def session_of(length: int) -> Session:
    session = Session(minimal=True)
    for number in range(1, length + 1):
        session.execute("step 1" if number % 3 == 0 else "status")
    return session


@pytest.mark.parametrize("length", [LIST_LIMIT - 1, LIST_LIMIT, LIST_LIMIT + 1, 7 * LIST_LIMIT])
def test_history_shows_the_latest_commands_and_never_more_than_the_limit(length):
    rows, out = history_rows(session_of(length), "history")
    shown = min(length, LIST_LIMIT)
    assert rows == list(range(length - shown + 1, length + 1))
    assert ("left out" in out) == (length > LIST_LIMIT)


def test_history_says_how_many_commands_it_left_out_and_how_to_narrow():
    rows, out = history_rows(session_of(3 * LIST_LIMIT), "history")
    assert len(rows) == LIST_LIMIT
    assert f"the latest {LIST_LIMIT} of {3 * LIST_LIMIT} ({2 * LIST_LIMIT} left out)" in out
    assert "history --from N or history TEXT narrows" in out


def test_history_from_n_pages_from_command_n_and_names_the_next_page():
    rows, out = history_rows(session_of(3 * LIST_LIMIT), "history --from 10")
    assert rows == list(range(10, 10 + LIST_LIMIT))
    assert f"10–{9 + LIST_LIMIT} of {3 * LIST_LIMIT} ({2 * LIST_LIMIT} left out)" in out
    assert f"next: history --from {10 + LIST_LIMIT}" in out
    last, out = history_rows(session_of(3 * LIST_LIMIT), f"history --from {3 * LIST_LIMIT - 4}")
    assert last == list(range(3 * LIST_LIMIT - 4, 3 * LIST_LIMIT + 1)) and "next" not in out


def test_history_text_shows_only_the_commands_that_contain_it_in_any_case():
    session = session_of(3 * LIST_LIMIT)
    rows, out = history_rows(session, "history STEP")
    assert rows == [n for n in range(3, 3 * LIST_LIMIT + 1, 3)]  # every third is a step
    assert "left out" not in out
    rows, out = history_rows(session, "history status --from 5")
    assert rows[0] == 5 and len(rows) == LIST_LIMIT and all(n % 3 for n in rows)
    assert f"of {2 * LIST_LIMIT} containing 'status'" in out


def test_history_says_so_when_nothing_matches():
    session = session_of(5)
    assert printed(session, "history irp").strip() == "no command containing 'irp'"
    assert printed(session, "history --from 99").strip() == "no command from 99 on"


def objects_within(session: Session, levels: int) -> int:
    """Every object the tree of the root would list, counted from the namespace itself."""
    return sum(1 for obj in session.system.ob.walk() if obj.header.path.count("\\") <= levels)


@pytest.mark.parametrize("joysticks", [0, 60])
def test_object_tree_lists_at_most_the_limit_and_counts_the_rest(joysticks):
    session = Session()
    for _ in range(joysticks):
        session.execute("device plug USBPDO-0 USB\\VID_045E&PID_0008")
    lines = printed(session, "object tree").splitlines()[1:]  # under the root's line
    objects = [line for line in lines if "…" not in line]
    assert len(lines) <= LIST_LIMIT + 1 and len(objects) <= LIST_LIMIT
    left = re.search(r"… and ([\d,]+) more: name a directory", lines[-1])
    assert left is not None
    assert len(objects) + int(left.group(1).replace(",", "")) == objects_within(session, 2)


def test_object_tree_of_a_directory_narrows_to_it():
    session = Session()
    out = printed(session, "object tree \\Device")
    device = next(o for o in session.system.ob.root.children() if o.header.name == "Device")
    names = [obj.header.name for obj in device.children()]
    assert len(names) < LIST_LIMIT and "more: name a directory" not in out
    assert all(name in out for name in names)


def drawn(renderable, width: int) -> str:
    buffer = io.StringIO()
    make_console(no_color=True, file=buffer, width=width).print(renderable)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [100, 60, 30])
def test_a_packed_listing_prints_the_same_characters_as_its_table_at_any_width(width):
    table = titled("IRPs in progress", "IRP", "major", "where it sits", "")
    for number in range(1, 8):
        table.add_row(str(number), "IRP_MJ_READ", Text(f"SlowDisk (slowdisk) queue {number}",
                                                        style="green"), "x" * number)
    table.caption = "the first 7 of 1,000; irp show N shows one"
    assert drawn(Packed(table), width) == drawn(table, width)


def test_a_packed_listing_draws_one_cell_a_row_only_when_its_columns_fit():
    table = titled("t", "a", "b")
    table.add_row("one", "two")
    assert Packed(table).packed(100) is not None and Packed(table).packed(8) is None
    table.add_row("[bold]markup[/bold]", "two")  # rich reads markup in str cells: left to it
    assert Packed(table).packed(100) is None
