"""Replaying a scenario: commands through the session, directives, expectations.

The same runner serves `kmshell run` (prints the transcript, optionally waits for Enter)
and `kmshell check` (prints nothing but failures, stops a file at its first failure).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from kmshell import cancel
from kmshell.errors import KmsError, internal_error
from kmshell.language import CommandTable
from kmshell.nt.rtl import printable
from kmshell.nt.system import System
from kmshell.scenario.grading import grading_state
from kmshell.scenario.queries import compare, show
from kmshell.scenario.script import DIRECTIVES, Scenario, ScenarioError, Step, parse_scenario
from kmshell.state import HistoryEntry, Outcome, Settings, prompt_text
from kmshell.views.layout import Heading
from kmshell.views.outcome import error_text, render_outcome

JSON_SCHEMA_VERSION = 1  # of `kmshell run --json` (docs/state-schema.md)
JSON_CHUNKS = 4096  # pieces of the --json report written at a time


class Session(Protocol):
    """What a replay needs of the session it plays into: kmshell.session.Session, which
    replays scenarios into itself (`replay FILE`) and so sits above this package."""

    system: System
    settings: Settings
    history: list[HistoryEntry]
    quit_requested: bool

    def execute(self, line: str) -> Outcome: ...
    def lines(self) -> list[str]: ...
    def rebuild(self, lines: list[str]) -> None: ...
    def record_directive(self, line: str, held: bool) -> str: ...


@dataclass
class Failure:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class Check:
    """One expectation's verdict, or a failed command's: a JUnit test case of its own."""

    line: int
    name: str  # the claim, e.g. `irp 3 status == STATUS_SUCCESS`
    failure: str = ""  # "" when it held

    @property
    def ok(self) -> bool:
        return not self.failure


@dataclass
class Result:
    path: str
    title: str
    expectations: int = 0
    passed: int = 0  # expectations that held
    failures: list[Failure] = field(default_factory=list)  # failed expectations and commands
    checks: list[Check] = field(default_factory=list)  # each expectation and failed command
    interrupted: Failure | None = None  # where Ctrl-C stopped the replay
    stopped: Failure | None = None  # where the user quit it (--step's q), the key as message
    length: int = 0  # lines in the file
    malformed: list[str] = field(default_factory=list)  # FILE:LINE:COL errors: it did not run

    @property
    def ok(self) -> bool:
        return not self.failures and self.interrupted is None and not self.malformed

    def summary(self) -> str:
        text = f"{self.path}: {self.passed} of {self.expectations} expectation(s) held"
        if self.interrupted is not None:
            text += f"; interrupted at line {self.interrupted.line}"
        if self.stopped is not None:
            text += f"; stopped at line {self.stopped.line} of {self.length} " \
                    f"({self.stopped.message})"
        return text + (f"; {len(self.failures)} failure(s)" if self.failures else "")


OUTPUT_LINES_SHOWN = 40  # of a command's output, in an `expect output` or `order` failure


def plain_output(outcome: Outcome, session: Session) -> str:
    """The command's whole output as plain text, for `expect output` and `expect order`: every
    event and view as `view full` prints them, whatever the view mode (so a folded or quiet
    trace hides nothing from the check), with explain's lines when explain is on."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, no_color=True, highlight=False,
                      color_system=None, emoji=False)
    for part in render_outcome(outcome, Settings(session.settings.explain, "full")):
        console.print(part)
    return buffer.getvalue()


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _shown(output: str) -> str:
    """A command's output for a failure message: its non-blank lines, indented, the first
    OUTPUT_LINES_SHOWN of them (a table's rule is no line of its own)."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip(" ─")]
    more = len(lines) - OUTPUT_LINES_SHOWN
    lines = lines[:OUTPUT_LINES_SHOWN] + ([f"... {more} more line(s)"] if more > 0 else [])
    return "\n".join("    " + line for line in lines) if lines else "    (no output)"


class Replay:
    def __init__(self, scenario: Scenario, session: Session, *, console: Console | None = None,
                 stop_at_first_failure: bool = False,
                 control: Callable[[str], str] | None = None):
        self.scenario = scenario
        self.session = session
        self.console = console  # None: headless, as `kmshell check`
        self.stop_at_first_failure = stop_at_first_failure
        # Asked before each command and at `pause`; answers "next", "back" or "quit".
        self.control = control
        self.result = Result(scenario.path, scenario.title, length=scenario.length)
        self.last: Outcome | None = None
        # The last command's plain output, (outcome, explain, text): an `expect output`
        # renders it, and the next one after the same command reads it again.
        self.output: tuple[Outcome, bool, str] | None = None

    def _print(self, *parts) -> None:
        if self.console is not None:
            for part in parts:
                self.console.print(part)

    def _show(self, outcome: Outcome) -> None:
        """Print an outcome; headless, not even its renderables are made."""
        if self.console is not None:
            self._print(*render_outcome(outcome, self.session.settings))

    def _fail(self, step: Step, message: str, claim: str = "") -> None:
        """A failed expectation (its claim given) or a failed command."""
        failure = Failure(self.scenario.path, step.number, message)
        self.result.failures.append(failure)
        self.result.checks.append(Check(step.number, claim or step.text.strip(), message))
        self._print(Text(f"✗ {failure}", style="bold red"))

    def _counts(self) -> tuple[int, int, int, int]:
        result = self.result
        return result.expectations, result.passed, len(result.failures), len(result.checks)

    def _take_back(self, counts: tuple[int, int, int, int]) -> None:
        """Going back forgets the verdicts of what it undid: the summary counts what stands."""
        result = self.result
        result.expectations, result.passed = counts[0], counts[1]
        del result.failures[counts[2]:], result.checks[counts[3]:]

    def _quit(self, step: Step) -> None:
        self.result.stopped = Failure(self.scenario.path, step.number, "q")

    def run(self) -> Result:
        steps = self.scenario.steps
        index = 0
        # per command run: its step index, the history and the verdicts counted before it
        done: list[tuple[int, int, tuple[int, int, int, int]]] = []
        while index < len(steps):
            step = steps[index]
            action = self.control(f"next: {step.text.strip()}") \
                if step.kind == "command" and self.control is not None else "next"
            if cancel.requested():  # Ctrl-C since the last line, or while the control waited
                self._interrupt(step, "interrupted before this line ran")
                break
            if action == "quit":
                self._quit(step)
                break
            if action == "back" and not done:
                self._print(Text("↶ this is the first command: nothing to go back to",
                                 style="dim"))
                continue
            if action == "back":
                index, kept, counts = done.pop()
                self.session.rebuild(self.session.lines()[:kept])
                self._take_back(counts)
                self._print(Text(f"↶ back to before line {steps[index].number}: "
                                 f"{steps[index].text.strip()}", style="dim"))
                continue
            if step.kind == "command":
                done.append((index, len(self.session.history), self._counts()))
            following = steps[index + 1] if index + 1 < len(steps) else None
            handler = getattr(self, "_" + step.kind.replace("-", "_"))
            if handler(step, following) == "quit":  # q at a pause; Ctrl-C there comes as q
                if cancel.requested():
                    self._interrupt(step, "interrupted at this pause")
                else:
                    self._quit(step)
                break
            if self.result.interrupted:
                break
            if self.result.failures and self.stop_at_first_failure:
                break
            index += 1
        return self.result

    # ---------------------------------------------------------------- line kinds

    def _command(self, step: Step, following: Step | None) -> None:
        self._print(Text(prompt_text(False) + step.text.strip(), style="bold"))
        outcome = self.session.execute(step.text)
        self.last = outcome
        self._show(outcome)
        if outcome.interrupted:
            self._interrupt(step, outcome.interrupted)
        elif outcome.error is not None and (following is None or following.kind != "expect-error"):
            self._fail(step, f"command failed: {outcome.error.message}")

    def _interrupt(self, step: Step, message: str) -> None:
        self.result.interrupted = Failure(self.scenario.path, step.number, message)

    def _title(self, step: Step, following) -> None:
        self._print(Heading(Text(step.argument, style="bold")))  # wrapped, never cut

    def _say(self, step: Step, following) -> None:
        self._print(Panel(Text(step.argument), border_style="cyan", title="say",
                          title_align="left"))

    def _pause(self, step: Step, following) -> str | None:
        if self.control is not None:
            return self.control("paused")
        return None

    def _seed(self, step: Step, following) -> None:
        outcome = self.session.execute(f"seed {step.seed}")  # so undo replays it too
        self._show(outcome)

    def _passed(self, step: Step, text: str) -> None:
        self.result.passed += 1
        self.result.checks.append(Check(step.number, text))
        self._print(Text(f"✓ {text}", style="green"))

    def _expect(self, step: Step, following) -> None:
        self.result.expectations += 1
        query = step.query
        assert query is not None  # the parser gives every expect step its query
        claim = f"{query} {step.op} {step.argument}"
        try:
            actual = query.evaluate(self.session.system)
        except KmsError as error:
            self._fail(step, f"expected {claim}, got: {error.message}", claim)
            return
        try:
            holds = compare(query, actual, step.op, step.argument)
        except ValueError as error:
            self._fail(step, f"expected {claim}: {error}", claim)
            return
        if holds:
            self._passed(step, claim)
        else:
            self._fail(step, f"expected {claim}, got {show(actual, query)}", claim)

    def _expect_error(self, step: Step, following) -> None:
        self.result.expectations += 1
        claim = f"error contains '{step.argument}'"
        if self.last is None:
            self._fail(step, "expect error: no command ran before it", claim)
        elif self.last.error is None:
            self._fail(step, f"expected an error containing '{step.argument}', but "
                             f"'{self.last.line.strip()}' succeeded", claim)
        elif _fold(step.argument).lower() not in _fold(self.last.error.describe()).lower():
            self._fail(step, f"expected an error containing '{step.argument}', got: "
                             f"{self.last.error.message}", claim)
        else:
            self._passed(step, claim)

    def _expect_output(self, step: Step, following) -> None:
        self.result.expectations += 1
        claim = f"output contains '{step.argument}'"
        if self.last is None:
            self._fail(step, "expect output: no command ran before it", claim)
            return
        explain = self.session.settings.explain
        if self.output is None or self.output[0] is not self.last or self.output[1] != explain:
            self.output = (self.last, explain, plain_output(self.last, self.session))
        output = self.output[2]
        if _fold(step.argument).lower() in _fold(output).lower():
            self._passed(step, claim)
        else:
            self._fail(step, f"expected output containing '{step.argument}'; "
                             f"'{self.last.line.strip()}' printed:\n{_shown(output)}", claim)

    def _expect_order(self, step: Step, following) -> None:
        """Each text appears in the previous command's trace after the one before it: the
        events, in the order they happened; the views after them show state, not time."""
        self.result.expectations += 1
        claim = "order " + " before ".join(f"'{t}'" for t in step.order)
        if self.last is None:
            self._fail(step, "expect order: no command ran before it", claim)
            return
        output = "\n".join(event.text for event in self.last.events)
        folded, at, previous = _fold(output).lower(), 0, ""
        for text in step.order:
            found = folded.find(_fold(text).lower(), at)
            if found < 0:
                where = f" after '{previous}'" if previous and _fold(text).lower() in folded else ""
                self._fail(step, f"expected {claim}: '{text}' does not appear{where} in "
                                 f"the events of '{self.last.line.strip()}':\n{_shown(output)}",
                           claim)
                return
            at, previous = found + len(_fold(text)), text
        self._passed(step, claim)


def run_directive(session: Session, line: str, last: Outcome | None, console: Console,
                  table: CommandTable, number: int | None = None) -> bool | None:
    """In the shell: carry out a scenario directive typed at the prompt (say, expect, seed,
    title, pause) against the last command's outcome; whether it held (or parsed). None
    when the line is not a directive. A failure names it `<shell>:NUMBER`: its line in the
    piped input, else the history number the line would have."""
    words = line.split()
    if not words or words[0].lower() not in DIRECTIVES:
        return None
    if number is None:
        number = len(session.history) + 1
    try:
        scenario = parse_scenario(line, table, "<shell>", first=number)
    except ScenarioError as error:  # as a malformed command: the line, a caret, the usage
        console.print(error_text(error.errors[0], line) if error.errors else
                      Text(str(error), style="red"))
        return False
    replay = Replay(scenario, session, console=console)
    replay.last = last
    result = replay.run()
    warning = session.record_directive(line.strip(), result.ok)
    if warning:
        console.print(Text(warning, style="bold red"))
    return result.ok


def run_typed(session: Session, line: str, last: Outcome | None, console: Console,
              table: CommandTable, printing: Callable[[], AbstractContextManager] = nullcontext,
              number: int | None = None) -> tuple[Outcome | None, bool]:
    """One line as typed at the prompt (the shell, or a pipe): a directive checked against
    the last command's outcome, or a command run and printed (inside `printing()`: the
    shell's pager; `number`, the line's in piped input). Returns the last outcome now and
    whether the line held. Ctrl-C stops the line at its next tick and the session goes on; a
    bug in kmshell is reported and does not end it."""
    with cancel.catching_ctrl_c():
        try:
            held = run_directive(session, line, last, console, table, number)
            if held is not None:
                return last, held
            outcome = session.execute(line)
            with printing():
                for part in render_outcome(outcome, session.settings):
                    console.print(part)
            return outcome, outcome.ok
        except Exception as error:  # noqa: BLE001 - a bug must not end the session
            console.print(Text(internal_error(error), style="bold red"))
            return last, False


def run_piped(session: Session, lines: Iterable[str], console: Console,
              table: CommandTable) -> int:
    """`kmshell` with its input from a pipe or a file (`kmshell < lab.txt`): each line runs
    as if typed at the prompt, its output plain, with no prompt or toolbar drawn. The exit
    status is 1 if any line failed (an error, or an expectation that did not hold), else 0."""
    failed, last = False, None
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        console.print(Text(prompt_text(session.system.halted) + printable(line), style="bold"))
        last, held = run_typed(session, line, last, console, table, number=number)
        failed = failed or not held
        if session.quit_requested:
            break
    return 1 if failed else 0


def write_json_report(scenario: Scenario, result: Result, session: Session,
                      out: TextIO) -> None:
    """`kmshell run --json`: the final state and the event log, for auto-grading, indented
    and ended by a newline. Written as it is encoded: the text of a long session is ~20 MB,
    and json.dumps with an indent holds it as millions of small strings (7 times that)."""
    report = {
        "schema": JSON_SCHEMA_VERSION,
        "scenario": scenario.path,
        "title": scenario.title,
        "expectations": {"total": result.expectations, "passed": result.passed,
                         "failures": [str(f) for f in result.failures]},
        "state": {**session.system.to_json(), **grading_state(session.system)},
        "events": [e.to_json() for e in session.system.core.log],
        "events_dropped": session.system.core.events_dropped,
    }
    chunks: list[str] = []
    for chunk in json.JSONEncoder(indent=2).iterencode(report):
        chunks.append(chunk)
        if len(chunks) == JSON_CHUNKS:
            out.write("".join(chunks))
            chunks.clear()
    out.write("".join(chunks) + "\n")
