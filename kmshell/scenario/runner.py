"""Replaying a scenario: commands through the session, directives, expectations.

The same runner serves `kmshell run` (prints the transcript, optionally waits for Enter)
and `kmshell check` (prints nothing but failures, stops a file at its first failure).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

from kmshell import cancel
from kmshell.errors import KmsError
from kmshell.language import CommandTable
from kmshell.nt.system import System
from kmshell.scenario.queries import compare, show
from kmshell.scenario.script import DIRECTIVES, Scenario, ScenarioError, Step, parse_scenario
from kmshell.state import HistoryEntry, Outcome, Settings
from kmshell.views.outcome import render_outcome

PROMPT = "kmshell> "
JSON_SCHEMA_VERSION = 1  # of `kmshell run --json` (docs/state-schema.md)


class Session(Protocol):
    """What a replay needs of the session it plays into: kmshell.session.Session, which
    replays scenarios into itself (`replay FILE`) and so sits above this package."""

    system: System
    settings: Settings
    history: list[HistoryEntry]

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
class Result:
    path: str
    title: str
    expectations: int = 0
    passed: int = 0  # expectations that held
    failures: list[Failure] = field(default_factory=list)  # failed expectations and commands
    interrupted: Failure | None = None  # where Ctrl-C stopped the replay

    @property
    def ok(self) -> bool:
        return not self.failures and self.interrupted is None

    def summary(self) -> str:
        text = f"{self.path}: {self.passed} of {self.expectations} expectation(s) held"
        if self.interrupted is not None:
            text += f"; interrupted at line {self.interrupted.line}"
        return text + (f"; {len(self.failures)} failure(s)" if self.failures else "")


def plain_output(outcome: Outcome, session: Session) -> str:
    """The outcome as plain text with whitespace folded, for `expect output`."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, no_color=True, highlight=False,
                      color_system=None, emoji=False)
    for part in render_outcome(outcome, session.settings):
        console.print(part)
    return " ".join(buffer.getvalue().split())


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


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
        self.result = Result(scenario.path, scenario.title)
        self.last: Outcome | None = None

    def _print(self, *parts) -> None:
        if self.console is not None:
            for part in parts:
                self.console.print(part)

    def _fail(self, step: Step, message: str) -> None:
        failure = Failure(self.scenario.path, step.number, message)
        self.result.failures.append(failure)
        self._print(Text(f"✗ {failure}", style="bold red"))

    def run(self) -> Result:
        steps = self.scenario.steps
        index = 0
        done: list[tuple[int, int]] = []  # per command run: (its step index, history before it)
        while index < len(steps):
            step = steps[index]
            action = self.control(f"next: {step.text.strip()}") \
                if step.kind == "command" and self.control is not None else "next"
            if cancel.requested():  # Ctrl-C since the last line, or while the control waited
                self._interrupt(step, "interrupted before this line ran")
                break
            if action == "quit":
                break
            if action == "back" and not done:
                self._print(Text("↶ this is the first command: nothing to go back to",
                                 style="dim"))
                continue
            if action == "back":
                index, kept = done.pop()
                self.session.rebuild(self.session.lines()[:kept])
                self._print(Text(f"↶ back to before line {steps[index].number}: "
                                 f"{steps[index].text.strip()}", style="dim"))
                continue
            if step.kind == "command":
                done.append((index, len(self.session.history)))
            following = steps[index + 1] if index + 1 < len(steps) else None
            handler = getattr(self, "_" + step.kind.replace("-", "_"))
            if handler(step, following) == "quit" or self.result.interrupted:
                break
            if self.result.failures and self.stop_at_first_failure:
                break
            index += 1
        return self.result

    # ---------------------------------------------------------------- line kinds

    def _command(self, step: Step, following: Step | None) -> None:
        self._print(Text(PROMPT + step.text.strip(), style="bold"))
        outcome = self.session.execute(step.text)
        self.last = outcome
        self._print(*render_outcome(outcome, self.session.settings))
        if outcome.interrupted:
            self._interrupt(step, outcome.interrupted)
        elif outcome.error is not None and (following is None or following.kind != "expect-error"):
            self._fail(step, f"command failed: {outcome.error.message}")

    def _interrupt(self, step: Step, message: str) -> None:
        self.result.interrupted = Failure(self.scenario.path, step.number, message)

    def _title(self, step: Step, following) -> None:
        self._print(Rule(Text(step.argument, style="bold")))

    def _say(self, step: Step, following) -> None:
        self._print(Panel(Text(step.argument), border_style="cyan", title="say",
                          title_align="left"))

    def _pause(self, step: Step, following) -> str | None:
        if self.control is not None:
            return self.control("paused")
        return None

    def _seed(self, step: Step, following) -> None:
        self.session.execute(f"seed {step.seed}")  # through the session, so undo replays it

    def _passed(self, step: Step, text: str) -> None:
        self.result.passed += 1
        self._print(Text(f"✓ {text}", style="green"))

    def _expect(self, step: Step, following) -> None:
        self.result.expectations += 1
        query = step.query
        assert query is not None  # the parser gives every expect step its query
        claim = f"{query} {step.op} {step.argument}"
        try:
            actual = query.evaluate(self.session.system)
        except KmsError as error:
            self._fail(step, f"expected {claim}, got: {error.message}")
            return
        try:
            holds = compare(query, actual, step.op, step.argument)
        except ValueError as error:
            self._fail(step, f"expected {claim}: {error}")
            return
        if holds:
            self._passed(step, claim)
        else:
            self._fail(step, f"expected {claim}, got {show(actual)}")

    def _expect_error(self, step: Step, following) -> None:
        self.result.expectations += 1
        if self.last is None:
            self._fail(step, "expect error: no command ran before it")
        elif self.last.error is None:
            self._fail(step, f"expected an error containing '{step.argument}', but "
                             f"'{self.last.line.strip()}' succeeded")
        elif _fold(step.argument).lower() not in _fold(self.last.error.describe()).lower():
            self._fail(step, f"expected an error containing '{step.argument}', got: "
                             f"{self.last.error.message}")
        else:
            self._passed(step, f"error contains '{step.argument}'")

    def _expect_output(self, step: Step, following) -> None:
        self.result.expectations += 1
        if self.last is None:
            self._fail(step, "expect output: no command ran before it")
            return
        text = plain_output(self.last, self.session)
        if _fold(step.argument).lower() in text.lower():
            self._passed(step, f"output contains '{step.argument}'")
        else:
            shown = text if len(text) <= 160 else text[:157] + "..."
            self._fail(step, f"expected output containing '{step.argument}', got: {shown}")


def run_directive(session: Session, line: str, last: Outcome | None, console: Console,
                  table: CommandTable) -> bool:
    """In the shell: carry out a scenario directive typed at the prompt (say, expect, seed,
    title, pause) against the last command's outcome. False when the line is not one."""
    words = line.split()
    if not words or words[0].lower() not in DIRECTIVES:
        return False
    try:
        scenario = parse_scenario(line, table, "<shell>")
    except ScenarioError as error:
        console.print(Text(str(error).removeprefix("<shell>:1:"), style="red"))
        return True
    replay = Replay(scenario, session, console=console)
    replay.last = last
    result = replay.run()
    warning = session.record_directive(line.strip(), result.ok)
    if warning:
        console.print(Text(warning, style="bold red"))
    return True


def json_report(scenario: Scenario, result: Result, session: Session) -> str:
    """`kmshell run --json`: the final state and the event log, for auto-grading."""
    return json.dumps({
        "schema": JSON_SCHEMA_VERSION,
        "scenario": scenario.path,
        "title": scenario.title,
        "expectations": {"total": result.expectations, "passed": result.passed,
                         "failures": [str(f) for f in result.failures]},
        "state": session.system.to_json(),
        "events": [e.to_json() for e in session.system.core.log],
        "events_dropped": session.system.core.events_dropped,
    }, indent=2)
