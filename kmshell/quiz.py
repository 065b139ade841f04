"""Seeded exercises, in the spirit of the OSTEP simulators: a random problem from a seed,
answers derived from the model itself (never stored), and grading.

Topics: scheduling, irp-completion, access-check, irql, pnp-order and power-order.
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
            program = (f"compute {rng.randint(1, 2)}; sleep {rng.randint(1, 3)}; "
                       f"compute {work}; exit")
        setup.append(f"process create {name}.exe --priority {priority} --program \"{program}\"")
    ticks = sorted(rng.sample(range(1, 11), 4))
    session = Session(cpus=1, minimal=True)
    for line in setup:
        outcome = session.execute(line)
        assert outcome.ok, outcome.error
    session.execute("step 10")
    system = session.system
    ran = {tick: threads[0] for tick, threads in system.ke.timeline}

    def image(tick: int) -> str:
        thread = ran.get(tick)
        return thread.process.image if thread else "idle"

    answers = [image(tick) for tick in ticks]
    reasons = ["What ran, tick by tick (from the model's own timeline):",
               "  " + "  ".join(f"{tick}:{image(tick).removesuffix('.exe')}"
                                for tick in range(1, 11)),
               "Why — the dispatcher's decisions, in order:"]
    reasons += [f"  tick {e.tick}: {e.text}" for e in system.core.log
                if e.kind in ("context-switch", "quantum-end", "wait", "wake", "thread-exit")]
    text = [f"Scheduling quiz (seed {seed}). One processor; a quantum is 2 clock ticks; a",
            "higher-priority ready thread preempts at once; equal priorities take turns. The",
            "processes below are created at tick 0, in this order:", ""]
    text += [f"  {line}" for line in setup[1:]]
    text += ["", "Which image's thread runs during each tick? (idle if none)", ""]
    questions = [f"tick {tick}" for tick in ticks]
    return Problem("scheduling", seed, text, setup, questions, answers, reasons)


def irp_completion(seed: int) -> Problem:
    """Which completion routines run, in which order, for a read through a filtered stack?"""
    from kmshell.drivers import load_spec, new_system
    from kmshell.nt.io.spec import spec_from_dict

    rng = random.Random(seed)
    names = rng.sample(["audit", "cache", "crypt", "meter", "trace"], rng.randint(2, 4))
    system = new_system(minimal=True)
    system.io.load_driver(load_spec("toaster"))
    setup, lines = ["driver load toaster"], []
    for name in names:
        watch = rng.random() < 0.6
        read = (["IoCopyCurrentIrpStackLocationToNext", f"IoSetCompletionRoutine {name}Done",
                 "IoCallDriver lower", "return status"] if watch else
                ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower", "return status"])
        data = {"name": name, "type": "filter", "routines": {
            "DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack Toaster"],
            "IRP_MJ_READ": read}}
        if watch:
            data["completion"] = {f"{name}Done": ["return STATUS_SUCCESS"]}
        system.io.load_driver(spec_from_dict(data, f"{name}.toml"))
        lines.append(f"  {name}: IRP_MJ_READ = {'; '.join(read)}")
    irp = system.io.send_irp(system.io.find_device("Toaster"), "IRP_MJ_READ")
    ran = [hop.rsplit("!", 1)[1].split()[0] for hop in irp.path if "↑" in hop]
    text = [f"IRP completion quiz (seed {seed}). These filters attach above \\Device\\Toaster, "
            "in this order (the last is on top):", "", *lines, "",
            "The toaster completes a read at once. Which completion routines run, in order?",
            "(answer with their names separated by commas, or none)", ""]
    stack = " → ".join(d.label for d in system.io.find_device("Toaster").stack())
    reasons = [f"The stack, top first: {stack}.", "The IRP's path in the model:",
               *[f"  {hop}" for hop in irp.path],
               "Completion runs bottom-up, and only for drivers that set a routine "
               "(a skipping filter sets none)."]
    return Problem("irp-completion", seed, text, setup, ["completion routines"],
                   [", ".join(ran) or "none"], reasons)


def access_check_quiz(seed: int) -> Problem:
    """Granted or denied? A DACL, a user, an access: SeAccessCheck decides."""
    from kmshell.nt.se import ACCESS_WORDS, access_check, parse_sddl, token_for

    rng = random.Random(seed)
    text = [f"Access check quiz (seed {seed}). For each case, does SeAccessCheck grant the "
            "access? (granted or denied)", "student is in Users; teacher is in Administrators "
            "and Users; everyone is in Everyone (WD).", ""]
    questions, answers, reasons = [], [], []
    for number in range(1, 4):
        aces = "".join(f"({rng.choice('AAD')};;{rng.choice(['GA', 'GR', 'GW'])};;;"
                       f"{rng.choice(['BU', 'BA', 'WD', 'SY'])})"
                       for _ in range(rng.randint(1, 3)))
        sddl = f"D:{aces}"
        user = rng.choice(["student", "teacher"])
        wanted = rng.choice(["read", "write"])
        granted, _, why = access_check(parse_sddl(sddl), token_for(user), ACCESS_WORDS[wanted],
                                       "Event")
        text.append(f"  case {number}: object DACL {sddl}; {user} asks for {wanted} access")
        questions.append(f"case {number}")
        answers.append("granted" if granted else "denied")
        reasons.append(f"case {number}: {answers[-1]} — {why}")
    text.append("")
    return Problem("access-check", seed, text, [], questions, answers, reasons)


def irql_quiz(seed: int) -> Problem:
    """May this routine be called here? ok, or the bugcheck the model raises."""
    from kmshell.nt.constants import irql_name
    from kmshell.nt.io.steps import DDIS, DIRQL

    rng = random.Random(seed)
    places = [("DriverEntry", 0), ("a dispatch routine", 0), ("a DPC", 2), ("an ISR", 8)]
    # Not those limited to their device's DIRQL: in each of these places that is allowed.
    limits = {ddi.name: ddi.limit for ddi in DDIS.values() if ddi.limit not in (None, DIRQL)}
    limited = list(limits)
    text = [f"IRQL quiz (seed {seed}). Is each call allowed where it is made? Answer ok, or "
            "the bugcheck code the model stops with (e.g. 0xA).", ""]
    questions, answers, reasons = [], [], []
    for number in range(1, 4):
        ddi = rng.choice(limited)
        place, level = rng.choice(places)
        limit = limits[ddi]
        text.append(f"  case {number}: {ddi} called from {place} (IRQL {level})")
        questions.append(f"case {number}")
        answers.append("ok" if level <= limit else "0xA")
        reasons.append(f"case {number}: {ddi} may be called at IRQL {limit} "
                       f"({irql_name(limit)}) at most; here the IRQL is {level}: "
                       + ("allowed" if level <= limit else "IRQL_NOT_LESS_OR_EQUAL (0xA)"))
    text.append("")
    return Problem("irql", seed, text, [], questions, answers, reasons)


def pnp_order(seed: int) -> Problem:
    """In which order does AddDevice run, and what is the stack, for these drivers?"""
    from kmshell.nt.io.spec import spec_from_dict

    rng = random.Random(seed)
    names = rng.sample(["acme", "beacon", "crest", "drift", "ember", "flux", "glint"], 5)
    kinds = [("function", "upper")] + [("filter", rng.choice(("upper", "lower")))
                                       for _ in range(rng.randint(1, 4))]
    rng.shuffle(kinds)
    hwid = f"USB\\VID_{rng.randint(0x1000, 0xFFFF):04X}&PID_{rng.randint(0x1000, 0xFFFF):04X}"
    specs = [spec_from_dict({"name": name, "type": kind, "position": position,
                             "hardware_ids": [hwid], "routines": {
                                 "AddDevice": ["IoCreateDevice", "IoAttachDeviceToDeviceStack pdo"],
                                 "IRP_MJ_PNP": ["IoSkipCurrentIrpStackLocation",
                                                "IoCallDriver lower", "return status"]}},
                            f"{name}.toml")
             for name, (kind, position) in zip(names, kinds, strict=False)]
    system = Session().system
    for spec in specs:
        system.pnp.add_driver_package(spec)
    start = len(system.core.log)
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), hwid)
    added = [e.text.split()[2] for e in system.core.log[start:] if e.kind == "add-device"]
    stack = [d.driver.name for d in node.stack()]
    lines = [f"  {s.name}: " + (f"{s.position} filter" if s.type == "filter" else "function driver")
             for s in specs]
    text = [f"PnP order quiz (seed {seed}). A device {hwid} is plugged into the USB root hub",
            "(USBHUB3 is its bus driver). These drivers serve it, in the order their INFs",
            "registered them (the order they are listed in under the Enum key):",
            "", *lines, "",
            "In which order is their AddDevice called? And what is the device stack, top first",
            "(driver names, the bus driver's PDO last)? Answer with names separated by commas.", ""]
    reasons = ["The PnP manager calls AddDevice bottom-up: lower filters, the function driver, "
               "upper filters (each group in registry order), and each attaches to the top of "
               "the stack so far — so the stack is that order reversed, above the PDO.",
               "The model's trace:",
               *[f"  {e.text}" for e in system.core.log[start:]
                 if e.kind in ("install", "add-device")]]
    return Problem("pnp-order", seed, text, [], ["AddDevice order", "stack, top first"],
                   [", ".join(added), ", ".join(stack)], reasons)


def power_order(seed: int) -> Problem:
    """In which order do these devices get IRP_MN_SET_POWER going to sleep, and waking?"""
    rng = random.Random(seed)
    session = Session()
    setup, hubs = ["boot"], ["USBPDO-0"]
    names = iter(rng.sample(["Ash", "Birch", "Cedar", "Elm", "Fir", "Oak", "Pine"], 5))
    devices = []
    for _ in range(rng.randint(3, 5)):
        name, parent = next(names), rng.choice(hubs)
        hub = rng.random() < 0.45
        hwid = "USB\\VID_05E3&PID_0610" if hub else "USB\\VID_045E&PID_0008"
        setup.append(f"device plug {parent} {hwid} --name {name}")
        (hubs if hub else []).append(name)
        devices.append((name, "hub" if hub else "joystick", parent))
    for line in setup:
        outcome = session.execute(line)
        assert outcome.ok, outcome.error
    system = session.system
    label = {n.instance_path: n.stack()[0].label.rsplit("\\", 1)[-1]
             for n in system.pnp.device_root.walk() if n.pdo is not None}
    named = {name for name, _, _ in devices}

    def order(line: str, state: str) -> list[str]:
        start = len(system.core.log)
        session.execute(line)
        hits = [label.get(e.text.rsplit(" to ", 1)[1]) for e in system.core.log[start:]
                if e.kind == "power-irp" and f"IRP_MN_SET_POWER ({state})" in e.text]
        return [h for h in hits if h in named]

    sleep, wake = order("power sleep", "PowerSystemSleeping3"), order("power wake",
                                                                      "PowerSystemWorking")
    lines = [f"  {name}: a {kind}, plugged into "
             + ("the root hub" if parent == "USBPDO-0" else parent)
             for name, kind, parent in devices]
    text = [f"Power order quiz (seed {seed}). Plugged in, in this order:", "", *lines, "",
            "The power manager keeps the device tree in enumeration order (a parent before its",
            "children, siblings in the order they arrived). Going to sleep it takes that list",
            "backwards, so every device powers down before the hub it hangs on; waking, forwards.",
            "Which of them gets IRP_MN_SET_POWER (system state) first, and so on: when the",
            "machine goes to sleep (S3), and when it wakes (S0)? Names, separated by commas.", ""]
    reasons = ["Going to sleep the power manager works leaves first: a device before the hub "
               "it is plugged into. Waking, parents first. The model's order:",
               f"  sleep: {', '.join(sleep)}", f"  wake:  {', '.join(wake)}"]
    return Problem("power-order", seed, text, setup, ["sleep (S3)", "wake (S0)"],
                   [", ".join(sleep), ", ".join(wake)], reasons)


TOPICS = {"scheduling": scheduling, "irp-completion": irp_completion,
          "access-check": access_check_quiz, "irql": irql_quiz, "pnp-order": pnp_order,
          "power-order": power_order}


def grade(problem: Problem, given: list[str]) -> list[bool]:
    """Compare answers case-insensitively; `.exe` may be left out."""
    def norm(text: str) -> str:
        words = [w.strip().lower().removesuffix(".exe") for w in text.split(",")]
        return ",".join(w for w in words if w)

    return [i < len(given) and norm(given[i]) == norm(answer)
            for i, answer in enumerate(problem.answers)]
