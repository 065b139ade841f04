"""The pager's choice of program (as git's: KMSHELL_PAGER, PAGER, less; empty, cat or off
for none) and what it does with what a command prints. The terminal itself is exercised
through a pseudo-terminal in test_help_screen.py."""

from __future__ import annotations

import io
import sys

from kmshell.shell.pager import pager_command, paging
from kmshell.views.console import make_console


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_kmshell_pager_then_pager_then_less_and_empty_cat_or_off_mean_none():
    assert pager_command({"KMSHELL_PAGER": "most", "PAGER": "more"}) == "most"
    assert pager_command({"PAGER": "more"}) == "more"
    for off in ("", "cat", "off", " cat "):
        assert pager_command({"KMSHELL_PAGER": off, "PAGER": "more"}) is None
        assert pager_command({"PAGER": off}) is None


def test_what_is_paged_is_still_recorded_for_export_and_a_short_output_is_printed(tmp_path):
    kept = tmp_path / "paged.txt"
    script = tmp_path / "pager.py"
    script.write_text(f"import sys\nopen({str(kept)!r}, 'w').write(sys.stdin.read())\n")
    terminal = Terminal()
    console = make_console(no_color=True, file=terminal, width=40, record=True)
    console.height = 10
    with paging(console, f"{sys.executable} {script}"):
        for n in range(8):  # with the prompt and the toolbar: 10 rows
            console.print(f"short {n}")
    assert "short 7" in terminal.getvalue() and not kept.exists()
    with paging(console, f"{sys.executable} {script}"):
        for n in range(30):
            console.print(f"tall {n}")
    assert "tall 29" in kept.read_text() and "tall" not in terminal.getvalue()
    assert "tall 29" in console.export_text()


def test_a_console_that_is_not_a_terminal_prints_straight_through(tmp_path):
    buffer = io.StringIO()
    console = make_console(no_color=True, file=buffer, width=40)
    with paging(console, "no-such-pager"):
        for n in range(300):
            console.print(f"line {n}")
    assert "line 299" in buffer.getvalue()
