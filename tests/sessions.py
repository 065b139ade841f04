"""What the shell prints, for tests: a line run in a session, its outcome rendered as the
shell renders it, without colour, at a fixed width."""

from __future__ import annotations

import io

from kmshell.session import Session
from kmshell.views.console import make_console
from kmshell.views.outcome import render_outcome


def printed(session: Session, line: str, width: int = 200, *, ok: bool = False) -> str:
    """What the shell prints after `line`; with ok, the line must have succeeded."""
    outcome = session.execute(line)
    if ok:
        assert outcome.ok, outcome.error and outcome.error.describe()
    console = make_console(no_color=True, file=io.StringIO(), width=width)
    for part in render_outcome(outcome, session.settings):
        console.print(part)
    return console.file.getvalue()


def session_after(lines: list[str]) -> Session:
    """A session that has run `lines`, whatever each gave."""
    session = Session()
    for line in lines:
        session.execute(line)
    return session


def page_out(system, process=None) -> None:
    """Empty a working set (a process's, or with none the system's) and squeeze the machine
    until every page that was in it is only on disk: the next touch of one is a hard fault."""
    system.mm.trim_working_set(process)
    system.mm.apply_pressure(None)
    system.mm.apply_pressure(0)
