"""Ctrl-C while a command runs: a request to stop at the next tick or line, not an exception.

A KeyboardInterrupt raised in the middle of the model could leave it half-changed (a thread
off every queue, an IRQL raised and never lowered). So while a line runs, SIGINT only sets a
flag, and the loops that can run long look at it at each consistent point and stop there:
the clock between ticks (`step`, `run`), a replay or a `kmshell run` between lines, a load
or an undo between the lines they replay.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_requested = False
_checks_left: int | None = None  # tests: request a stop after this many more checks


def requested() -> bool:
    """True once Ctrl-C was pressed while this line runs; the loops call it at each step."""
    global _requested, _checks_left
    if _checks_left is not None:
        _checks_left -= 1
        if _checks_left < 0:
            _requested, _checks_left = True, None
    return _requested


def request(after_checks: int = 0) -> None:
    """What SIGINT does; tests simulate a Ctrl-C that lands after N checks."""
    global _requested, _checks_left
    if after_checks:
        _checks_left = after_checks
    else:
        _requested = True


def clear() -> None:
    global _requested, _checks_left
    _requested, _checks_left = False, None


@contextmanager
def catching_ctrl_c() -> Iterator[None]:
    """While the block runs, SIGINT asks the running line to stop instead of raising
    KeyboardInterrupt; the previous handler comes back after. Outside the main thread
    (where signals cannot be caught) nothing changes."""
    clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda number, frame: request())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
