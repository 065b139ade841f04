"""The REPL loop: read a line with prompt_toolkit, run it through the session, print it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.output import ColorDepth
from rich.console import Console

from kmshell.commands import TABLE
from kmshell.session import Session
from kmshell.shell.completer import CommandCompleter
from kmshell.shell.keys import key_bindings
from kmshell.shell.pager import pager_command, paging
from kmshell.shell.style import STYLE
from kmshell.shell.toolbar import toolbar_text
from kmshell.state import prompt_text

MAX_HISTORY_BYTES = 4 * 1024 * 1024  # prompt_toolkit reads the history file whole at start
BANNER = ("kmshell — a teaching model of the Windows kernel. Type help for commands, Tab to "
          "complete, Ctrl-D to quit.")


def default_history() -> History:
    """History in the platform's user state directory; in memory if that cannot be written."""
    from platformdirs import user_state_dir

    path = Path(user_state_dir("kmshell")) / "history"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: a history linked to /dev/null (to switch it off) or to someone's file is
        # left alone, not made private; O_NONBLOCK: a FIFO does not hang the start.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
                     | os.O_NONBLOCK, 0o600)
    except OSError:
        return InMemoryHistory()
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_HISTORY_BYTES:
            return InMemoryHistory()  # not a file we can safely read whole at every start
        os.fchmod(fd, 0o600)  # private, as shells keep theirs (bash's HISTFILE is 0600)
    except OSError:
        return InMemoryHistory()
    finally:
        os.close(fd)
    return FileHistory(str(path))


def run_repl(session: Session, console: Console, *, history: History | None = None,
             input=None, output=None) -> int:
    """The loop. A command's output taller than the terminal goes through the pager
    KMSHELL_PAGER, PAGER or less names (kmshell/shell/pager.py)."""
    pager = pager_command()
    prompt: PromptSession[str] = PromptSession(
        history=history if history is not None else default_history(),
        completer=CommandCompleter(session),
        complete_while_typing=False,
        auto_suggest=AutoSuggestFromHistory(),
        bottom_toolbar=lambda: toolbar_text(session.system),
        key_bindings=key_bindings(),
        style=STYLE,
        # --no-color or NO_COLOR (rich's console decided): the prompt and toolbar too
        color_depth=ColorDepth.MONOCHROME if console.no_color else None,
        input=input,
        output=output,
    )
    session.console = console  # `export` saves what this console recorded
    console.print(BANNER)
    last = None  # the last command's outcome, for `expect` typed at the prompt
    while not session.quit_requested:
        halted = session.system.halted
        message: StyleAndTextTuples = [
            ("class:prompt.halted" if halted else "class:prompt", prompt_text(halted))]
        try:
            line = prompt.prompt(message)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        from kmshell.scenario.runner import run_typed  # after the first prompt is up

        last = run_typed(session, line, last, console, TABLE,
                         printing=lambda: paging(console, pager))[0]
    return 0
