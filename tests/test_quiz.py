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
        ran = {tick: threads[0] for tick, threads in session.system.ke.timeline}
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


def test_irp_completion_answers_list_the_watching_filters_from_the_bottom_up():
    from kmshell.quiz import irp_completion

    for seed in range(100):
        problem = irp_completion(seed, difficulty="easy")
        filters = [line.split(":")[0].strip() for line in problem.text
                   if "IRP_MJ_READ =" in line]
        watching = [f"{name}!{name}Done" for name in filters
                    if f"IoSetCompletionRoutine {name}Done" in " ".join(problem.text)]
        assert problem.answers == [", ".join(watching) or "none"], seed


def test_access_check_answers_follow_the_printed_dacl_for_every_case():
    from kmshell.nt.se import ACCESS_WORDS, access_check, parse_sddl, token_for
    from kmshell.quiz import access_check_quiz

    for seed in range(100):
        problem = access_check_quiz(seed)
        cases = [line for line in problem.text if line.strip().startswith("case")]
        for line, answer in zip(cases, problem.answers, strict=True):
            sddl = line.split("DACL ")[1].split(";", 1)[0] + ";" + \
                line.split("DACL ")[1].split(";", 1)[1].split("; ")[0]
            user, wanted = line.split("; ")[-1].split(" asks for ")
            granted = access_check(parse_sddl(sddl), token_for(user.strip()),
                                   ACCESS_WORDS[wanted.split()[0]], "Event")[0]
            assert answer == ("granted" if granted else "denied"), (seed, line)


def test_irql_answers_are_ok_exactly_when_the_irql_is_within_the_ddis_limit():
    from kmshell.nt.io.steps import DDIS
    from kmshell.quiz import irql_quiz

    for seed in range(100):
        problem = irql_quiz(seed)
        cases = [line for line in problem.text if line.strip().startswith("case")]
        for line, answer in zip(cases, problem.answers, strict=True):
            ddi = line.split(": ")[1].split()[0]
            level = int(line.rsplit("IRQL ", 1)[1].rstrip(")"))
            assert answer == ("ok" if level <= DDIS[ddi].limit else "0xA"), (seed, line)


def test_multi_part_answers_ignore_spacing_and_case():
    from kmshell.quiz import irp_completion

    problem = next(p for p in (irp_completion(seed, difficulty="easy") for seed in range(50))
                   if "," in p.answers[0])
    assert grade(problem, [problem.answers[0].upper().replace(", ", " ,")]) == [True]


def test_pnp_order_answers_put_lower_filters_then_the_function_then_upper_filters():
    from kmshell.quiz import pnp_order

    for seed in range(60):
        problem = pnp_order(seed)
        drivers = [line.strip().split(": ") for line in problem.text if line.startswith("  ")]
        added = ([n for n, role in drivers if role == "lower filter"]
                 + [n for n, role in drivers if role == "function driver"]
                 + [n for n, role in drivers if role == "upper filter"])
        assert problem.answers == [", ".join(added), ", ".join([*added[::-1], "USBHUB3"])]


def preorder(children: dict[str, list[str]], parent: str) -> list[str]:
    """Each child, then its own children, in arrival order."""
    return [n for child in children.get(parent, []) for n in (child, *preorder(children, child))]


def test_power_order_answers_put_children_before_parents_to_sleep_and_after_to_wake():
    from kmshell.quiz import power_order

    for seed in range(40):
        problem = power_order(seed)
        children: dict[str, list[str]] = {}
        for line in problem.text:
            if line.startswith("  ") and ", plugged into " in line:
                name, rest = line.strip().split(": ", 1)
                parent = rest.split(", plugged into ")[1]
                children.setdefault("" if parent == "the root hub" else parent, []).append(name)

        tree = preorder(children, "")
        assert problem.answers == [", ".join(tree[::-1]), ", ".join(tree)], seed


def test_piped_quiz_answers_are_read_a_bounded_line_at_a_time_and_shown_escaped():
    answers = "\x1b]0;pwned\x07\n" + "7" * 50_000 + "\n"
    result = CliRunner().invoke(main, ["quiz", "scheduling", "--seed", "5"], input=answers)
    assert "\x1b" not in result.output and "\\x1b]0;pwned\\x07" in result.output
    assert "7" * 1001 not in result.output and result.exit_code == 1
