"""Suite-wide rules.

Hypothesis profiles: the suite draws the same examples on every run (`ci`, the default), so
CI is reproducible; `pytest --hypothesis-profile=explore` draws new ones to hunt bugs.

The file guard: the suite runs as root on shared machines, where one test once replaced the
host's null device with a regular file. While a test runs, an audit hook (PEP 578) watches
every file this process opens for writing, creates, renames, links, removes or changes the
mode of: anything outside the test's own tmp_path is refused on the spot (the operation
raises) and fails the test, and after every test the null device must still be the
character device it was.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile("ci")

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Audit events that change the file system, and which of their arguments are paths.
PATH_EVENTS = {"os.rename": 2, "os.link": 2, "os.symlink": 2, "os.remove": 1, "os.rmdir": 1,
               "os.mkdir": 1, "os.chmod": 1, "os.chown": 1, "os.truncate": 1, "os.utime": 1,
               "shutil.rmtree": 1, "shutil.move": 2}
ROOT = Path(__file__).resolve().parent.parent


class OutsideTmpPath(RuntimeError):
    """Not an OSError, so code under test that handles OSError cannot swallow it."""


class _Guard:
    def __init__(self) -> None:
        self.allowed: Path | None = None  # the running test's tmp_path; None: no test runs
        self.active = False
        self.violations: list[str] = []

    def permitted(self, path: object) -> bool:
        if isinstance(path, int):  # an open file descriptor: its opening was checked
            return True
        name = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
        real = Path(os.path.realpath(name))
        if "__pycache__" in real.parts or real.is_relative_to(ROOT / ".hypothesis"):
            return True  # the interpreter's bytecode cache, Hypothesis's example database
        return self.allowed is not None and real.is_relative_to(self.allowed)

    def __call__(self, event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writes = (mode is not None and any(c in mode for c in "wax+")) or \
                (mode is None and flags & WRITE_FLAGS)
            if not writes or path == os.devnull:  # subprocess's DEVNULL opens it read-write
                return
            paths = [path]
        elif event in PATH_EVENTS:
            paths = list(args[:PATH_EVENTS[event]])
        else:
            return
        for path in paths:
            if not self.permitted(path):
                message = f"{event} {path!r} is outside this test's tmp_path ({self.allowed})"
                self.violations.append(message)
                raise OutsideTmpPath(message)


GUARD = _Guard()
WATCHED = frozenset({"open", *PATH_EVENTS})


def _audit(event: str, args: tuple) -> None:
    # Called for every audit event the interpreter raises (imports, compiles, ...): the
    # cheapest test first, so the guard costs the suite little.
    if event in WATCHED and GUARD.active:
        GUARD(event, args)


@pytest.fixture(autouse=True)
def _no_columns(monkeypatch) -> None:
    """Output that is not a terminal is as wide as COLUMNS says (views/console.py): no test
    inherits the width of the terminal the suite was started from; one that wants a width
    sets it."""
    monkeypatch.delenv("COLUMNS", raising=False)


def pytest_configure(config) -> None:
    sys.addaudithook(_audit)


def _null_device() -> tuple[int, int]:
    info = os.stat(os.devnull)
    return stat.S_IFMT(info.st_mode), info.st_rdev


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Only the test's own code is guarded (not pytest's setup, capture or reporting)."""
    tmp_path = item.funcargs.get("tmp_path")
    GUARD.allowed = Path(os.path.realpath(tmp_path)) if tmp_path is not None else None
    GUARD.violations = []
    null_before = _null_device()
    GUARD.active = True
    try:
        result = yield
    finally:
        GUARD.active = False
    assert _null_device() == null_before, (
        f"{os.devnull} is no longer the character device it was: this test replaced it. "
        "Restore it: mknod -m 666 NEW c 1 3 and rename NEW over it.")
    assert not GUARD.violations, "this test wrote outside its tmp_path:\n" + \
        "\n".join(GUARD.violations)
    return result
