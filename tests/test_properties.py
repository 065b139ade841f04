"""Properties of whatever a user types, over long random sequences drawn from the command
table (tests/commandlines.py): no exception escapes a line or its rendering, the model's
invariants (kmshell/nt/invariants.py) hold after every line, and the same lines always give
the same events."""

from __future__ import annotations

import io

from commandlines import command_line, empty_directory, scenario_prefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmshell.nt.invariants import violations
from kmshell.session import Session
from kmshell.views.console import make_console
from kmshell.views.outcome import render_outcome

QUICK = settings(max_examples=120, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.function_scoped_fixture])


def run(session: Session, line: str) -> str:
    """Execute and render as the shell does; returns the printed text."""
    console = make_console(file=io.StringIO(), width=100, no_color=True)
    outcome = session.execute(line)
    for part in render_outcome(outcome, session.settings):
        console.print(part)
    return console.file.getvalue()


def replay(lines: list[str], base) -> list:
    session = Session()
    with empty_directory(base):
        for line in lines:
            run(session, line)
    return [event.to_json() for event in session.system.core.log]


@QUICK
@given(st.data())
def test_random_lines_never_raise_and_keep_every_invariant(tmp_path, data):
    session, lines = Session(), []
    prefix = data.draw(scenario_prefix(), label="prefix")
    with empty_directory(tmp_path):
        for number in range(len(prefix) + data.draw(st.integers(5, 40), label="length")):
            line = prefix[number] if number < len(prefix) else \
                data.draw(command_line(session), label="line")
            lines.append(line)
            run(session, line)
            problems = violations(session.system)
            assert not problems, f"after {lines!r}:\n" + "\n".join(problems)


@QUICK
@given(st.data())
def test_the_same_lines_give_the_same_events(tmp_path, data):
    session, lines = Session(), []
    with empty_directory(tmp_path):
        for _ in range(data.draw(st.integers(1, 15), label="length")):
            line = data.draw(command_line(session), label="line")
            lines.append(line)
            run(session, line)
    assert replay(lines, tmp_path) == [event.to_json() for event in session.system.core.log]


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_a_long_session_of_300_lines_keeps_every_invariant(tmp_path, data):
    session = Session()
    with empty_directory(tmp_path):
        for number in range(300):
            line = data.draw(command_line(session), label=f"line {number}")
            run(session, line)
            problems = violations(session.system)
            assert not problems, f"after line {number} {line!r}:\n" + "\n".join(problems)
