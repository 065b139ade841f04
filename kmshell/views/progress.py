"""Progress on a terminal: `kmshell check`'s bar of files, and the meter of a long step.

Drawn only when the output is a terminal that can move its cursor (not a pipe or a file, not
TERM=dumb, even when FORCE_COLOR makes rich treat a pipe as a terminal), and transient: the
bar is erased when the work is done, so what stays on the screen is what a pipe would get.

rich's Progress draws through a Console; what is printed on that console while the bar is up
goes above it (https://rich.readthedocs.io/en/stable/progress.html, "Print / log"). A step's
meter draws through a console of its own, which records nothing: the shell's recording
console (`export`, --export-html) keeps the transcript, never the bar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Self

from rich.console import Console
from rich.text import Text

from kmshell.nt.rtl import printable
from kmshell.views.console import make_console, on_a_tty

if TYPE_CHECKING:
    from rich.progress import Progress

# rich.progress is imported where a bar is drawn: it costs `kmshell check` on a pipe, and the
# shell's first prompt, some 40 ms (docs/performance.md)

# A step or run asked for at least LONG_TICKS ticks (about a second of the model) shows a
# meter, from its SHOWN_AFTER-th tick on; counted in ticks, not seconds, so that whether it
# shows is the same on every machine. The meter is redrawn every UPDATE_EVERY ticks.
LONG_TICKS = 200_000
SHOWN_AFTER = 20_000
UPDATE_EVERY = 4_096


def draws(console: Console) -> bool:
    """Whether progress may be drawn on this console: an interactive terminal, really."""
    return on_a_tty(console.file) and console.is_interactive


class FileBar:
    """`kmshell check`'s progress: files done of all, and the file(s) running, under the
    result lines. On a console that draws nothing, the lines are printed plain."""

    def __init__(self, console: Console, total: int):
        self.console = console
        self.progress: Progress | None = None
        if draws(console):
            self.progress = _progress(console, "checking", "files", "{task.description}")
            self.task = self.progress.add_task("", total=total)

    def __enter__(self) -> Self:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def running(self, names: list[str]) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=printable(", ".join(names)))

    def done(self, text: str) -> None:
        """One file's result: printed above the bar, which moves on by one."""
        if self.progress is None:
            self.console.file.write(text + "\n")
            self.console.file.flush()
            return
        self.progress.advance(self.task)
        self.console.print(Text(text), soft_wrap=True)


class Meter:
    """The meter of a long line on a terminal: the session tells it when a line runs
    (`line`) and how many ticks of a clock command ran (`ticks`)."""

    def __init__(self, console: Console):
        # a console of its own on the same terminal, that records nothing
        self.console = make_console(no_color=console.no_color, file=console.file)
        self.lines: list[str] = []  # the lines running, outermost first (replay → its step)
        self.progress: Progress | None = None

    @contextmanager
    def line(self, text: str) -> Iterator[None]:
        """While one line runs; its meter, if drawn, is erased when it ends."""
        self._erase()
        self.lines.append(text)
        try:
            yield
        finally:
            self._erase()
            self.lines.pop()

    def ticks(self, total: int, stop: Callable[[], bool]) -> Callable[[], bool]:
        """The `stop` a clock command asks between ticks: `stop` itself, counting the ticks
        and drawing them when the command is long."""
        if total < LONG_TICKS or not self.lines:
            return stop
        done = 0

        def ticking() -> bool:
            nonlocal done
            done += 1
            if done % UPDATE_EVERY == 0 and done >= SHOWN_AFTER:
                self._show(done, total)
            return stop()
        return ticking

    def _show(self, done: int, total: int) -> None:
        if self.progress is None:
            self.progress = _progress(self.console, "{task.description}", "ticks", "Ctrl-C stops")
            self.task = self.progress.add_task(printable(" › ".join(self.lines)), total=total,
                                               completed=done)
            self.progress.start()
        else:
            self.progress.update(self.task, completed=done)

    def _erase(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _progress(console: Console, head: str, unit: str, tail: str) -> Progress:
    """A transient bar: HEAD ━━━━━━╸━━━ 12/40 UNIT 0:00:03 TAIL, printing above itself."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(head, markup=False), BarColumn(), MofNCompleteColumn(),
                    TextColumn(unit), TimeElapsedColumn(), TextColumn(tail, markup=False),
                    console=console, transient=True,
                    redirect_stdout=False, redirect_stderr=False)


def meter(console: Console) -> Meter | None:
    """A meter for a front end whose output is this console; None where none is drawn."""
    return Meter(console) if draws(console) else None
