"""The scenario language as a grader uses it: what `expect output` and `expect order` look at,
how failures print codes, directives as first-class lines, and what `seed` does."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kmshell.commands import TABLE
from kmshell.scenario import Replay, ScenarioError, parse_scenario
from kmshell.scenario.runner import Result
from kmshell.session import Session
from kmshell.views.outcome import render_outcome

PENDING_READ = """boot
driver load slowdisk
driver load watchfilter
process create app.exe
step 3
open app.exe \\Device\\SlowDisk --access all
read app.exe 0xc
"""


def replay(text: str) -> Result:
    return Replay(parse_scenario(text, TABLE, "lab.kms"), Session()).run()


def only_failure(result: Result) -> str:
    assert len(result.failures) == 1, result.failures
    return str(result.failures[0])


# ------------------------------------------------------------------ expect output, order

@pytest.mark.parametrize("mode", ["quiet", "auto", "full"])
def test_expect_output_sees_every_event_whatever_the_view_mode(mode):
    result = replay(f"boot --cpus 1\nview {mode}\nprocess create a.exe\n"
                    "expect output NtCreateUserProcess returns STATUS_SUCCESS\n")
    assert (result.expectations, result.passed) == (1, 1), result.failures


def test_expect_output_sees_the_middle_of_a_trace_the_auto_view_folds():
    lines = ('boot --cpus 1\nprocess create a.exe --program "compute 50; exit"\n'
             'process create b.exe --program "compute 50; exit"\nstep 200\n')
    session = Session()
    for line in lines.splitlines():
        outcome = session.execute(line)
    printed = io.StringIO()
    console = Console(file=printed, width=400, no_color=True)
    for part in render_outcome(outcome, session.settings):  # view auto
        console.print(part)
    hidden = [e.text for e in outcome.events if e.text not in printed.getvalue()]
    assert hidden, "the auto view folded nothing"
    result = replay(lines + f"expect output {hidden[0]}\n")
    assert (result.expectations, result.passed) == (1, 1), result.failures


def test_an_output_failure_shows_the_commands_output_line_by_line():
    message = only_failure(replay("boot --cpus 1\nprocess create a.exe\n"
                                  "expect output no such words\n"))
    assert message.startswith("lab.kms:3: expected output containing 'no such words'; "
                              "'process create a.exe' printed:\n")
    shown = message.splitlines()[1:]
    assert shown[0].split() == ["tick", "cpu", "irql", "mode", "who", "event"]
    assert any("thread 176 created in a.exe" in line for line in shown)  # not just a header


def test_expect_order_holds_when_completion_runs_bottom_up():
    result = replay(PENDING_READ + "irp complete 2 STATUS_SUCCESS\n"
                    'expect order "slowdisk completes IRP 2" before "completion routine '
                    'watchfilter!ReadDone" before "NtReadFile returns"\n')
    assert (result.expectations, result.passed) == (1, 1), result.failures


def test_expect_order_fails_when_the_later_text_came_first_and_names_it():
    message = only_failure(replay(
        PENDING_READ + "irp complete 2 STATUS_SUCCESS\n"
        'expect order "completion routine watchfilter!ReadDone" before '
        '"slowdisk completes IRP 2"\n'))
    assert ("'slowdisk completes IRP 2' does not appear after 'completion routine "
            "watchfilter!ReadDone' in the events of 'irp complete 2 STATUS_SUCCESS':") in message
    assert "\n    slowdisk completes IRP 2 with 0x00000000 STATUS_SUCCESS" in message


def test_expect_order_looks_at_events_not_at_the_views_printed_after_them():
    # the IRP view printed after the trace names the completion routine again, after
    # NtReadFile returned; the events alone say the routine ran first
    message = only_failure(replay(PENDING_READ + "irp complete 2 STATUS_SUCCESS\n"
                                  'expect order "NtReadFile returns" before "ReadDone"\n'))
    assert "'ReadDone' does not appear after 'NtReadFile returns'" in message


@pytest.mark.parametrize(("line", "where", "what"), [
    ('expect order "A"', "1:8", "'expect order' needs two texts or more"),
    ("expect order", "1:8", "'expect order' needs two texts or more"),
    ('expect order "A" after "B"', "1:18", "expected 'before' here, not 'after'"),
    ('expect order "A" "before" "B"', "1:18", "expected 'before' here"),
    ('expect order "A" before "B" before', "1:29", "'before' needs a text after it"),
    ('expect order "" before "B"', "1:14", "an empty text matches anywhere"),
])
def test_a_malformed_expect_order_is_a_located_error_with_the_form(line, where, what):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(line, TABLE, "lab.kms")
    message = str(caught.value)
    assert message.startswith(f"lab.kms:{where}: {what}")
    assert 'expect order "A" before "B"' in message


# ------------------------------------------------------------------ named values

def test_a_bugcheck_parameter_may_be_expected_by_its_irql_name():
    result = replay("boot\ndriver load scribbler\nmemory trim system\ninterrupt Scribbler\n"
                    "expect bugcheck code == DRIVER_IRQL_NOT_LESS_OR_EQUAL\n"
                    "expect bugcheck arg2 == DISPATCH_LEVEL\n"
                    "expect bugcheck arg2 != PASSIVE_LEVEL\n")
    assert (result.expectations, result.passed) == (3, 3), result.failures


@pytest.mark.parametrize(("expectation", "got"), [
    ("irp 2 status == STATUS_SUCCESS", "got 0x103 STATUS_PENDING"),
    ("cpu 0 irql == DISPATCH_LEVEL", "got 0 PASSIVE_LEVEL"),
    ("process app.exe exit-status == STATUS_SUCCESS", "got none"),
])
def test_a_failed_expectation_prints_a_code_with_its_name(expectation, got):
    message = only_failure(replay(PENDING_READ + f"expect {expectation}\n"))
    assert message.endswith(f"expected {expectation}, {got}")


def test_a_failed_bugcheck_code_expectation_prints_the_stop_codes_name():
    message = only_failure(replay("boot\ndriver load scribbler\nmemory trim system\n"
                                  "interrupt Scribbler\n"
                                  "expect bugcheck code == 0xA\n"))
    assert message.endswith("got 0xD1 DRIVER_IRQL_NOT_LESS_OR_EQUAL")


# ------------------------------------------------------------------ directives

def printed(session: Session, line: str) -> str:
    outcome = session.execute(line)
    assert outcome.ok, outcome.error
    out = io.StringIO()
    console = Console(file=out, width=200, no_color=True)
    for part in render_outcome(outcome, session.settings):
        console.print(part)
    return out.getvalue()


@pytest.mark.parametrize(("typo", "directive"), [("expct system halted == false", "expect"),
                                                 ("titel A lesson", "title"), ("paus", "pause"),
                                                 ("sya hello", "say"), ("sed 7", "seed")])
def test_a_mistyped_directive_suggests_the_directive(typo, directive):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(f"boot\n{typo}\n", TABLE, "lab.kms")
    assert f"lab.kms:2:1: unknown command '{typo.split()[0]}' — did you mean '{directive}'?" \
        in str(caught.value)


def test_a_mistyped_directive_at_the_prompt_suggests_the_directive_too():
    outcome = Session().execute("expct cpu 0 irql == 0")
    assert "did you mean 'expect'?" in outcome.error.message


@pytest.mark.parametrize(("directive", "says"), [
    ("expect", "expect order \"A\" before \"B\""), ("say", "usage: say TEXT"),
    ("pause", "with kmshell run --step, wait for a key"), ("seed", "makes no random choices"),
    ("title", "usage: title TEXT")])
def test_help_documents_each_directive(directive, says):
    out = printed(Session(), f"help {directive}")
    assert says in " ".join(out.split())
    assert "scenario directive" in out


def test_a_utf8_byte_order_mark_before_the_first_directive_is_ignored(tmp_path):
    from kmshell.scenario import load_scenario

    path = tmp_path / "bom.kms"
    path.write_bytes("\ufefftitle Saved by Notepad\nboot\nexpect cpu 0 irql == 0\n"
                     .encode("utf-8"))
    scenario = load_scenario(path, TABLE)
    assert scenario.title == "Saved by Notepad"
    assert [s.kind for s in scenario.steps] == ["title", "command", "expect"]


# ------------------------------------------------------------------ seed

def test_seed_says_the_model_makes_no_random_choices_and_two_seeds_trace_alike():
    lines = ('boot --cpus 2\nprocess create a.exe --program "compute 3; exit"\n'
             "interrupt USBFDO-0\nstep 5\n")
    traces = []
    for seed in (1, 2):
        session = Session()
        assert "the model makes no random choices" in printed(session, f"seed {seed}")
        for line in lines.splitlines():
            assert session.execute(line).ok, line
        assert session.system.core.seed == seed  # kept: status and --json report it
        traces.append([(e.tick, e.cpu, e.text) for e in session.system.core.log])
    assert traces[0] == traces[1]
