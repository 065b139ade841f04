"""Seeded exercises: the same seed gives the same problem, and the answers are what the
model does when the problem's own setup is typed into kmshell."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kmshell.cli import main
from kmshell.nt.constants import parse_irql, parse_status
from kmshell.quiz import Problem, grade, scheduling
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


def test_answers_are_accepted_in_the_notation_the_trace_uses():
    from kmshell.quiz import irp_completion, irql_quiz, right

    assert right("names", " METER!meterdone , traceDone ", "meter!meterDone, trace!traceDone")
    assert right("names", "meterDone → traceDone", "meter!meterDone, trace!traceDone")
    assert not right("names", "traceDone, meterDone", "meter!meterDone, trace!traceDone")
    assert not right("names", "audit!meterDone", "meter!meterDone")
    assert right("names", "0x0000000a", "0xA") and right("names", "10", "0xA")
    assert right("irql", " 2 ", "DISPATCH_LEVEL") and right("irql", "dispatch_level", "2")
    assert not right("irql", "APC_LEVEL", "DISPATCH_LEVEL") and not right("irql", "x", "2")
    assert right("status", "0x103", "STATUS_PENDING")
    assert right("status", " status_pending", "0x00000103")
    assert not right("status", "STATUS_SUCCESS", "STATUS_PENDING")
    hard = irql_quiz(2, difficulty="hard")
    limits = [answer for question, answer in zip(hard.questions, hard.answers, strict=True)
              if question.endswith("limit")]
    assert limits and all(grade(hard, [str(parse_irql(a)) if q.endswith("limit") else a
                                      for q, a in zip(hard.questions, hard.answers, strict=True)]))
    pended = irp_completion(1, difficulty="hard")
    numbers = [f"{parse_status(a):#x}" if kind == "status" else a.replace(", ", ",")
               for kind, a in zip(pended.kinds, pended.answers, strict=True)]
    assert "status" in pended.kinds and all(grade(pended, numbers))


def test_a_wrong_answer_is_graded_with_what_was_expected():
    problem = scheduling(5)
    result = CliRunner().invoke(main, ["quiz", "scheduling", "--seed", "5"],
                                input="nobody\n" * len(problem.answers))
    assert f"✗ {problem.questions[0]}: expected {problem.answers[0]}, not nobody" \
        in result.output and result.exit_code == 1


def filters_of(problem: Problem) -> list[tuple[str, str, str]]:
    """(name, IRP_MJ_READ steps, completion steps) of each filter, bottom first, as printed."""
    found: list[tuple[str, str, str]] = []
    for line in problem.text:
        if "IRP_MJ_READ = " in line:
            name, read = line.strip().split(": IRP_MJ_READ = ")
            found.append((name, read, ""))
        elif line.strip().startswith(f"{found[-1][0]}Done = " if found else "\0"):
            found[-1] = (*found[-1][:2], line.split(" = ", 1)[1])
    return found


def test_more_processing_required_stops_completion_until_the_driver_completes_again():
    from kmshell.quiz import irp_completion

    asked = 0
    for seed in range(60):
        problem = irp_completion(seed, difficulty="medium")
        ran, later, again, back = [], [], False, "yes"
        for name, read, done in filters_of(problem):  # the rule, walked bottom-up
            if not done:
                continue
            ran.append(f"{name}!{name}Done")
            later += ran[-1:] if again else []
            if "MORE_PROCESSING_REQUIRED" in done:
                if "IoCompleteRequest status" not in read:
                    back = "no"  # it keeps the IRP: nothing above ever runs
                    break
                again = True
        asked += "MORE_PROCESSING_REQUIRED" in " ".join(problem.text)
        assert problem.answers == [", ".join(ran) or "none", ", ".join(later) or "none",
                                   back], seed
    assert asked == 60


def test_a_pended_irp_sets_pending_returned_for_the_routines_its_mark_reaches():
    from kmshell.quiz import irp_completion

    for seed in range(60):
        problem = irp_completion(seed, difficulty="hard")
        ran, seen, pending = [], [], True  # slowdisk marks the read pending
        for name, _, done in filters_of(problem):
            if done:
                ran.append(f"{name}!{name}Done")
                seen += ran[-1:] if pending else []
                pending = pending and "IoMarkIrpPending" in done  # the mark goes on up, or not
        assert problem.answers == [", ".join(ran) or "none", ", ".join(seen) or "none",
                                   "STATUS_PENDING"], seed


def test_size_sets_how_many_processes_filters_cases_drivers_and_devices():
    from kmshell.quiz import SIZES, make

    counted = {"scheduling": "process create", "irp-completion": "IRP_MJ_READ =",
               "access-check": "case", "irql": "case", "pnp-order": ": ",
               "power-order": "plugged into"}
    for topic, (_, low, high) in SIZES.items():
        for size in (low, high):
            problem = make(topic, 3, size)
            lines = [line for line in problem.text if line.startswith("  ")]
            assert sum(counted[topic] in line for line in lines) == size, (topic, size)


def test_difficulty_decides_which_features_appear():
    from kmshell.quiz import make

    def text(topic: str, difficulty: str) -> str:
        return "\n".join(line for seed in range(10)
                         for line in make(topic, seed, None, difficulty).text)

    easy, medium, hard = (text("irp-completion", d) for d in ("easy", "medium", "hard"))
    assert "MORE_PROCESSING_REQUIRED" not in easy and "SlowDisk" not in easy
    assert "MORE_PROCESSING_REQUIRED" in medium and "PendingReturned" not in medium
    assert "PendingReturned" in hard and "SlowDisk" in hard
    assert "sleep" not in text("scheduling", "easy") and "sleep" in text("scheduling", "hard")
    assert "--priority 8 " in text("scheduling", "easy") and \
        "--priority 1" not in text("scheduling", "easy")
    assert "lower filter" not in text("pnp-order", "easy")
    assert "a hub" not in text("power-order", "easy") and "a hub" in text("power-order", "hard")
    assert "an ISR" not in text("irql", "easy") and "spin lock" in text("irql", "hard")


def test_the_same_options_give_the_same_problem_and_other_options_another():
    from kmshell.quiz import TOPICS, make

    for topic in TOPICS:
        assert make(topic, 11, 3, "hard") == make(topic, 11, 3, "hard")
        assert make(topic, 11, 3, "hard") != make(topic, 11, 3, "easy")
    runner = CliRunner()
    args = ["quiz", "irp-completion", "--seed", "11", "--size", "4", "--difficulty", "hard",
            "-c"]
    first, second = runner.invoke(main, args), runner.invoke(main, args)
    assert first.exit_code == 0 and first.output == second.output
    assert "see PendingReturned: " in first.output  # -c prints the answers


def test_a_size_the_topic_cannot_take_is_a_clear_error():
    result = CliRunner().invoke(main, ["quiz", "irp-completion", "--size", "9"])
    assert result.exit_code == 2 and "takes a size of 1 to 5 (filters), not 9" in result.output
    assert "Traceback" not in result.output


def test_the_instructor_guides_quiz_example_is_what_the_command_prints():
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "instructors.md").read_text(
        encoding="utf-8")
    block = guide.split("## Quizzes", 1)[1].split("    $ printf '", 1)[1].split("\n## ")[0]
    command, shown = block.split("\n", 1)
    answers, args = command.split("' | kmshell ")
    result = CliRunner().invoke(main, args.split(),
                                input=answers.encode().decode("unicode_escape"))
    assert result.output.rstrip("\n") == "\n".join(line[4:] for line in shown.rstrip().split("\n"))


@pytest.mark.parametrize("topic", ["irp-completion", "scheduling", "access-check", "irql",
                                   "pnp-order", "power-order"])
def test_a_quiz_wraps_between_words_at_the_width_of_the_output(topic):
    result = CliRunner().invoke(main, ["quiz", topic, "--seed", "4", "--difficulty", "hard"],
                                input="\n" * 12, env={"COLUMNS": "80"})
    lines = result.output.splitlines()
    assert len(lines) > 5 and max(len(line) for line in lines) <= 80, topic
