"""Seeded exercises, in the spirit of the OSTEP simulators: a random problem from a seed,
answers derived from the model itself (never stored), and grading.

Topics so far: scheduling. The topics on IRP completion, IRQL, PnP and power order and
access checks need the models of the issues that build them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kmshell.session import Session


@dataclass
class Problem:
    topic: str
    seed: int
    text: list[str]  # the problem as lines
    setup: list[str]  # kmshell lines that build the situation (the student may try them)
    questions: list[str]  # one prompt per answer, e.g. "tick 4"
    answers: list[str]  # derived from the model
    reasons: list[str] = field(default_factory=list)  # the worked solution, one per answer


def scheduling(seed: int) -> Problem:
    """Which thread runs at tick T on one processor? Priorities, quanta, sleeps, preemption."""
    rng = random.Random(seed)
    names = rng.sample(["alpha", "bravo", "carol", "delta", "echo", "foxtrot"], 3)
    setup = ["boot --cpus 1 --minimal"]
    for name in names:
        priority = rng.choice((8, 8, 8, 10, 12))
        work = rng.randint(2, 5)
        program = f"compute {work}; exit"
        if rng.random() < 0.4:
            program = f"compute {rng.randint(1, 2)}; sleep {rng.randint(1, 3)}; compute {work}; exit"
        setup.append(f"process create {name}.exe --priority {priority} --program \"{program}\"")
    ticks = sorted(rng.sample(range(1, 11), 4))
    session = Session(cpus=1, minimal=True)
    for line in setup:
        outcome = session.execute(line)
        assert outcome.ok, outcome.error
    session.execute("step 10")
    system = session.system
    ran = {tick: threads[0] for tick, threads in system.timeline}

    def image(tick: int) -> str:
        return ran[tick].process.image if ran.get(tick) else "idle"

    answers = [image(tick) for tick in ticks]
    reasons = ["What ran, tick by tick (from the model's own timeline):",
               "  " + "  ".join(f"{tick}:{image(tick).removesuffix('.exe')}"
                                for tick in range(1, 11)),
               "Why — the dispatcher's decisions, in order:"]
    reasons += [f"  tick {e.tick}: {e.text}" for e in system.log
                if e.kind in ("context-switch", "quantum-end", "wait", "wake", "thread-exit")]
    text = [f"Scheduling quiz (seed {seed}). One processor; a quantum is 2 clock ticks; a",
            "higher-priority ready thread preempts at once; equal priorities take turns. The",
            "processes below are created at tick 0, in this order:", ""]
    text += [f"  {line}" for line in setup[1:]]
    text += ["", "Which image's thread runs during each tick? (idle if none)", ""]
    questions = [f"tick {tick}" for tick in ticks]
    return Problem("scheduling", seed, text, setup, questions, answers, reasons)


TOPICS = {"scheduling": scheduling}
PLANNED = ("irp-completion", "irql", "pnp-order", "power-order", "access-check")


def grade(problem: Problem, given: list[str]) -> list[bool]:
    """Compare answers case-insensitively; `.exe` may be left out."""
    def norm(text: str) -> str:
        return text.strip().lower().removesuffix(".exe")

    return [i < len(given) and norm(given[i]) == norm(answer)
            for i, answer in enumerate(problem.answers)]
