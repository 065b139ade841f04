"""Seeded exercises: the same seed gives the same problem, and the answers are what the
model does when the problem's own setup is typed into kmshell."""

from __future__ import annotations

from click.testing import CliRunner

from kmshell.cli import main
from kmshell.quiz import grade, scheduling
from kmshell.session import Session


def test_the_same_seed_gives_the_same_problem_and_different_seeds_differ():
    assert scheduling(7) == scheduling(7)
    assert len({tuple(scheduling(seed).setup) for seed in range(20)}) > 10


def test_scheduling_answers_match_replaying_the_setup_for_hundreds_of_seeds():
    for seed in range(300):
        problem = scheduling(seed)
        session = Session()
        for line in problem.setup:
            assert session.execute(line).ok
        session.execute("step 10")
        ran = {tick: threads[0] for tick, threads in session.system.timeline}
        for question, answer in zip(problem.questions, problem.answers, strict=True):
            tick = int(question.split()[1])
            thread = ran[tick]
            assert answer == (thread.process.image if thread else "idle"), (seed, question)


def test_grading_accepts_names_without_exe_and_marks_wrong_answers():
    problem = scheduling(3)
    right = [answer.removesuffix(".exe").upper() for answer in problem.answers]
    assert all(grade(problem, right))
    assert not any(grade(problem, ["nobody"] * len(problem.answers)))
    assert grade(problem, right[:1]) == [True] + [False] * (len(problem.answers) - 1)


def test_quiz_command_grades_answers_piped_on_stdin():
    problem = scheduling(5)
    runner = CliRunner()
    good = runner.invoke(main, ["quiz", "scheduling", "--seed", "5"],
                         input="\n".join(problem.answers) + "\n")
    assert good.exit_code == 0 and f"{len(problem.answers)} of {len(problem.answers)} right" \
        in good.output
    bad = runner.invoke(main, ["quiz", "scheduling", "--seed", "5"], input="")
    assert bad.exit_code == 1 and "--answers shows why" in bad.output


def test_quiz_answers_show_the_worked_solution_from_the_model():
    result = CliRunner().invoke(main, ["quiz", "scheduling", "--seed", "5", "--answers"])
    assert "What ran, tick by tick" in result.output and "CPU0:" in result.output
