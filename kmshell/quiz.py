"""Seeded exercises, in the spirit of the OSTEP simulators: a random problem from a seed,
answers derived from the model itself (never stored), and grading.

Topics: scheduling, irp-completion, access-check, irql, pnp-order and power-order.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from kmshell.nt.constants import parse_irql, parse_status
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
    # how each answer is compared: "names" (a list, `driver!Routine` or `Routine`), "irql"
    # (`DISPATCH_LEVEL` or `2`), "status" (`STATUS_PENDING` or `0x103`); none given: names
    kinds: list[str] = field(default_factory=list)


def scheduling(seed: int, size: int | None = None, difficulty: str = "medium") -> Problem:
    """Which thread runs at tick T on one processor? Priorities, quanta, sleeps, preemption.
    size: processes; easy: equal priorities, no sleeps; hard: more of both, more ticks."""
    rng = random.Random(seed)
    names = rng.sample(["alpha", "bravo", "carol", "delta", "echo", "foxtrot"], size or 3)
    priorities, sleepy = {"easy": ((8,), 0.0), "medium": ((8, 8, 8, 10, 12), 0.4),
                          "hard": ((8, 9, 10, 12, 13), 0.7)}[difficulty]
    setup = ["boot --cpus 1 --minimal"]
    for name in names:
        priority = rng.choice(priorities)
        work = rng.randint(2, 5)
        program = f"compute {work}; exit"
        if rng.random() < sleepy:
            program = (f"compute {rng.randint(1, 2)}; sleep {rng.randint(1, 3)}; "
                       f"compute {work}; exit")
        setup.append(f"process create {name}.exe --priority {priority} --program \"{program}\"")
    horizon, asked = (14, 6) if difficulty == "hard" else (10, 4)
    ticks = sorted(rng.sample(range(1, horizon + 1), asked))
    session = Session(cpus=1, minimal=True)
    for line in setup:
        outcome = session.execute(line)
        assert outcome.ok, outcome.error
    session.execute(f"step {horizon}")
    system = session.system
    ran = {tick: threads[0] for tick, threads in system.ke.timeline}

    def image(tick: int) -> str:
        thread = ran.get(tick)
        return thread.process.image if thread else "idle"

    answers = [image(tick) for tick in ticks]
    reasons = ["What ran, tick by tick (from the model's own timeline):",
               "  " + "  ".join(f"{tick}:{image(tick).removesuffix('.exe')}"
                                for tick in range(1, horizon + 1)),
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


# How a filter of the irp-completion quiz handles a read. watch: a completion routine that
# lets completion go on; mpr: forward and wait (its routine returns MORE_PROCESSING_REQUIRED,
# its dispatch routine completes the IRP again); keep: it returns MORE_PROCESSING_REQUIRED
# and never completes the IRP again; mark: a watch that passes the pending mark up.
FORWARD = ["IoCopyCurrentIrpStackLocationToNext", "IoSetCompletionRoutine {name}Done",
           "IoCallDriver lower"]
FILTERS = {
    "skip": (["IoSkipCurrentIrpStackLocation", "IoCallDriver lower", "return status"], None),
    "watch": ([*FORWARD, "return status"], ["return STATUS_SUCCESS"]),
    "mark": ([*FORWARD, "return status"],
             ["if PendingReturned: IoMarkIrpPending", "return STATUS_SUCCESS"]),
    "mpr": ([*FORWARD, "IoCompleteRequest status", "return status"],
            ["return STATUS_MORE_PROCESSING_REQUIRED"]),
    "keep": ([*FORWARD, "return status"], ["return STATUS_MORE_PROCESSING_REQUIRED"]),
}


def irp_completion(seed: int, size: int | None = None, difficulty: str = "medium") -> Problem:
    """Which completion routines run, in which order, for a read through a filtered stack?
    size: filters; easy: the device completes at once, filters watch or skip; medium: some
    completion routines return STATUS_MORE_PROCESSING_REQUIRED; hard: the device pends the
    read, and completion routines pass the pending mark up, or do not."""
    from kmshell.drivers import load_spec, new_system
    from kmshell.nt.io.spec import spec_from_dict

    rng = random.Random(seed)
    count = rng.randint(3, 5) if difficulty == "hard" else rng.randint(2, 4)
    names = rng.sample(["audit", "cache", "crypt", "meter", "trace"], size or count)
    kinds = [("watch" if rng.random() < 0.6 else "skip") for _ in names]
    if difficulty == "medium":  # one or two of them take the IRP back
        chosen = sorted(rng.sample(range(len(names)), min(len(names), rng.randint(1, 2))))
        kinds[chosen[0]] = "mpr"
        # Only the upper one may keep it: a forward-and-wait filter above one that keeps the
        # IRP would wait for ever (the model, which has no wait there, would complete an IRP
        # its driver does not own).
        kinds[chosen[-1]] = rng.choice(("mpr", "mpr", "keep"))
    if difficulty == "hard":
        kinds = [rng.choice(("mark", "mark", "watch", "skip")) for _ in names]
    bottom, target = ("slowdisk", "SlowDisk") if difficulty == "hard" else ("toaster", "Toaster")
    system = new_system(minimal=True)
    system.io.load_driver(load_spec(bottom))
    lines = []
    for name, kind in zip(names, kinds, strict=True):
        read, done = FILTERS[kind]
        read = [step.format(name=name) for step in read]
        data = {"name": name, "type": "filter", "routines": {
            "DriverEntry": ["IoCreateDevice", f"IoAttachDeviceToDeviceStack {target}"],
            "IRP_MJ_READ": read}}
        lines.append(f"  {name}: IRP_MJ_READ = {'; '.join(read)}")
        if done is not None:
            data["completion"] = {f"{name}Done": done}
            lines.append(f"  {' ' * len(name)}  {name}Done = {'; '.join(done)}")
        system.io.load_driver(spec_from_dict(data, f"{name}.toml"))
    device = system.io.find_device(target)
    irp = system.io.send_irp(device, "IRP_MJ_READ")
    returned = next(hop for hop in reversed(irp.path) if "←" in hop).rsplit(" returns ", 1)[1]
    if bottom == "slowdisk":  # the device finishes later
        system.io.complete_pending(irp, 0)
    ran, later, pended, completions = [], [], [], 0  # read from the model's path of the IRP
    for hop in irp.path:
        completions += "✓" in hop
        if "↑" in hop:
            routine = hop.split("completion routine ", 1)[1].split()[0]
            ran.append(routine)
            later += [routine] if completions > 1 else []
            pended += [routine] if "(PendingReturned)" in hop else []

    def listed(routines: list[str]) -> str:
        return ", ".join(routines) or "none"

    questions, answers, kinds_asked = ["completion routines"], [listed(ran)], ["names"]
    ask = ["Which completion routines run, in order? (driver!Routine as the trace writes "
           "them, or just the routine; comma-separated, or none)"]
    if {"mpr", "keep"} & set(kinds):
        questions += ["run only after the IRP is completed again", "back to the sender"]
        answers += [listed(later), "no" if irp.number in system.io.irps else "yes"]
        kinds_asked += ["names", "names"]
        ask += ["Which of them run only after a driver completes the IRP a second time "
                "(IoCompleteRequest in its dispatch routine)? (names, or none)",
                "Is the IRP ever completed back to its sender? (yes or no)"]
    if bottom == "slowdisk":
        questions += ["see PendingReturned", "IoCallDriver returns"]
        answers += [listed(pended), returned]
        kinds_asked += ["names", "status"]
        ask += ["Which completion routines see Irp->PendingReturned set? (names, or none)",
                "What status does the sender's IoCallDriver return? (an NTSTATUS)"]
    what = ("The slowdisk marks the read pending (IoMarkIrpPending), returns STATUS_PENDING, "
            "and completes it later, when the device is done." if bottom == "slowdisk" else
            "The toaster completes a read at once.")
    text = [f"IRP completion quiz (seed {seed}). These filters attach above "
            f"\\Device\\{target}, in this order (the last is on top):", "", *lines, "",
            what, *[f"  {number}. {line}" for number, line in enumerate(ask, 1)], ""]
    stack = " → ".join(d.label for d in device.stack())
    reasons = [f"The stack, top first: {stack}.", "The IRP's path in the model:",
               *[f"  {hop}" for hop in irp.path],
               "Completion runs bottom-up, and only for drivers that set a routine "
               "(a skipping filter sets none). A routine that returns "
               "STATUS_MORE_PROCESSING_REQUIRED stops it: the routines above run only when "
               "that driver completes the IRP again. Irp->PendingReturned is set for a "
               "routine when the level below returned STATUS_PENDING and its mark was passed "
               "up (if (Irp->PendingReturned) IoMarkIrpPending(Irp))."]
    return Problem("irp-completion", seed, text, [f"driver load {bottom}"], questions,
                   answers, reasons, kinds_asked)


def access_check_quiz(seed: int, size: int | None = None, difficulty: str = "medium") -> Problem:
    """Granted or denied? A DACL, a user, an access: SeAccessCheck decides.
    size: cases; easy: one ACE per DACL; hard: two to four, deny ACEs among them."""
    from kmshell.nt.se import ACCESS_WORDS, access_check, parse_sddl, token_for

    rng = random.Random(seed)
    text = [f"Access check quiz (seed {seed}). For each case, does SeAccessCheck grant the "
            "access? (granted or denied)", "student is in Users; teacher is in Administrators "
            "and Users; everyone is in Everyone (WD).", ""]
    questions, answers, reasons = [], [], []
    aces_in = {"easy": (1, 1), "medium": (1, 3), "hard": (2, 4)}[difficulty]
    for number in range(1, (size or 3) + 1):
        aces = "".join(f"({rng.choice('AAD')};;{rng.choice(['GA', 'GR', 'GW'])};;;"
                       f"{rng.choice(['BU', 'BA', 'WD', 'SY'])})"
                       for _ in range(rng.randint(*aces_in)))
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


def irql_quiz(seed: int, size: int | None = None, difficulty: str = "medium") -> Problem:
    """May this routine be called here? ok, or the bugcheck the model raises.
    size: cases; easy: no ISRs; hard: spin locks and fast mutexes held too, and each case
    also asks for the DDI's IRQL limit."""
    from kmshell.nt.constants import irql_name
    from kmshell.nt.io.steps import DDIS, DIRQL

    rng = random.Random(seed)
    places = [("DriverEntry", 0), ("a dispatch routine", 0), ("a DPC", 2), ("an ISR", 8)]
    places = {"easy": places[:3], "medium": places,
              "hard": [*places, ("a routine holding a spin lock", 2),
                       ("a routine holding a fast mutex", 1)]}[difficulty]
    # Not those limited to their device's DIRQL: in each of these places that is allowed.
    limits = {ddi.name: ddi.limit for ddi in DDIS.values() if ddi.limit not in (None, DIRQL)}
    limited = list(limits)
    text = [f"IRQL quiz (seed {seed}). Is each call allowed where it is made? Answer ok, or "
            "the bugcheck code the model stops with (e.g. 0xA).", ""]
    if difficulty == "hard":
        text.insert(1, "And at which IRQL at most may it be called? (a name or a number)")
    questions, answers, reasons, kinds = [], [], [], []
    for number in range(1, (size or 3) + 1):
        ddi = rng.choice(limited)
        place, level = rng.choice(places)
        limit = limits[ddi]
        text.append(f"  case {number}: {ddi} called from {place} (IRQL {level})")
        questions.append(f"case {number}")
        answers.append("ok" if level <= limit else "0xA")
        kinds.append("names")
        if difficulty == "hard":
            questions.append(f"case {number} limit")
            answers.append(irql_name(limit))
            kinds.append("irql")
        reasons.append(f"case {number}: {ddi} may be called at IRQL {limit} "
                       f"({irql_name(limit)}) at most; here the IRQL is {level}: "
                       + ("allowed" if level <= limit else "IRQL_NOT_LESS_OR_EQUAL (0xA)"))
    text.append("")
    return Problem("irql", seed, text, [], questions, answers, reasons, kinds)


def pnp_order(seed: int, size: int | None = None, difficulty: str = "medium") -> Problem:
    """In which order does AddDevice run, and what is the stack, for these drivers?
    size: drivers (one function driver, the rest filters); easy: upper filters only; hard:
    six or seven drivers."""
    from kmshell.nt.io.spec import spec_from_dict

    rng = random.Random(seed)
    count = size or (rng.randint(6, 7) if difficulty == "hard" else 5)
    names = rng.sample(["acme", "beacon", "crest", "drift", "ember", "flux", "glint"], count)
    sides = ("upper",) if difficulty == "easy" else ("upper", "lower")
    filters = rng.randint(1, 4) if size is None and difficulty != "hard" else count - 1
    kinds = [("function", "upper")] + [("filter", rng.choice(sides)) for _ in range(filters)]
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


def power_order(seed: int, size: int | None = None, difficulty: str = "medium") -> Problem:
    """In which order do these devices get IRP_MN_SET_POWER going to sleep, and waking?
    size: devices; easy: no hubs among them (a flat tree); hard: more hubs, a deeper tree."""
    rng = random.Random(seed)
    session = Session()
    setup, hubs = ["boot"], ["USBPDO-0"]
    pool = ["Ash", "Birch", "Cedar", "Elm", "Fir", "Oak", "Pine"]
    names = iter(rng.sample(pool, len(pool) if difficulty == "hard" else max(5, size or 0)))
    devices = []
    hubby = {"easy": 0.0, "medium": 0.45, "hard": 0.7}[difficulty]
    count = rng.randint(5, 7) if difficulty == "hard" else rng.randint(3, 5)
    for _ in range(size or count):
        name, parent = next(names), rng.choice(hubs)
        hub = rng.random() < hubby
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
DIFFICULTIES = ("easy", "medium", "hard")
# What --size counts in each topic, and how many the topic has names for.
SIZES = {"scheduling": ("processes", 1, 6), "irp-completion": ("filters", 1, 5),
         "access-check": ("cases", 1, 10), "irql": ("cases", 1, 10),
         "pnp-order": ("drivers", 1, 7), "power-order": ("devices", 1, 7)}


def make(topic: str, seed: int, size: int | None = None, difficulty: str = "medium") -> Problem:
    """The problem for these options; ValueError says which size the topic takes."""
    what, low, high = SIZES[topic]
    if size is not None and not low <= size <= high:
        raise ValueError(f"{topic} takes a size of {low} to {high} ({what}), not {size}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty is one of {', '.join(DIFFICULTIES)}, not {difficulty}")
    return TOPICS[topic](seed, size, difficulty)


def _names(text: str) -> list[str]:
    """An answer list as the trace writes it: commas, arrows or spaces between names; any
    case; `.exe` may be left out; a number in hex or decimal (`0xA` is `10`)."""
    words = [w.lower().removesuffix(".exe") for w in re.split(r"[\s,>→]+|->", text) if w]
    return [str(int(w, 16) if w.startswith("0x") else int(w))
            if re.fullmatch(r"0x[0-9a-f]+|[0-9]+", w) else w for w in words]


def _same_name(given: str, expected: str) -> bool:
    """`meterDone` is `meter!meterDone`: the routine without the trace's driver prefix."""
    return given == expected or ("!" in expected and "!" not in given
                                 and given == expected.split("!", 1)[1])


def _value(parse: Callable[[str], int], text: str) -> int | None:
    try:
        return parse(text)
    except ValueError:
        return None


def right(kind: str, given: str, expected: str) -> bool:
    """One answer against the model's, in the notation the trace uses."""
    if kind in ("irql", "status"):
        parse = parse_irql if kind == "irql" else parse_status
        value = _value(parse, given)
        return value is not None and value == parse(expected)
    said, wanted = _names(given), _names(expected)
    return len(said) == len(wanted) and all(map(_same_name, said, wanted))


def grade(problem: Problem, given: list[str]) -> list[bool]:
    """Compare each answer with the model's, in the trace's own notation (see `right`)."""
    kinds = problem.kinds or ["names"] * len(problem.answers)
    return [i < len(given) and right(kind, given[i], answer)
            for i, (kind, answer) in enumerate(zip(kinds, problem.answers, strict=True))]
