"""The machine and time: boot, reboot, step, run, status."""

from __future__ import annotations

from kmshell.commands.registry import command
from kmshell.errors import Interrupted, KmsError
from kmshell.language.spec import NUMBER, SEED, TICKS, Arg, Opt
from kmshell.nt.mm import DEFAULT_MEMORY_MB, MAX_MEMORY_MB, MIN_MEMORY_MB
from kmshell.nt.system import MAX_CPUS
from kmshell.state import BootOptions
from kmshell.views.ke import (
    cpu_table,
    irql_table,
    processor_detail,
    status_panel,
    timeline_table,
)
from kmshell.views.ps import process_tree


@command("boot", "restart the simulated machine",
         options=(Opt("cpus", NUMBER, f"number of processors, 1..{MAX_CPUS}", 2),
                  Opt("memory", NUMBER, f"physical memory in MB, {MIN_MEMORY_MB}..{MAX_MEMORY_MB} "
                      "(4 KB page frames)", DEFAULT_MEMORY_MB),
                  Opt("minimal", None, "only the System and Idle processes"),
                  Opt("seed", SEED, "seed for every random choice the model makes")),
         details="The default machine has 2 processors, 64 MB of memory (16,384 page frames) "
                 "and the usual system processes: Idle 0, "
                 "System 4, smss.exe, csrss.exe (one per session), wininit.exe, services.exe, "
                 "lsass.exe, winlogon.exe and explorer.exe.",
         examples=("boot", "boot --cpus 1", "boot --memory 16", "boot --minimal --seed 7"),
         when_halted=True,
         component="Ke")
def boot(session, cmd):
    cpus = cmd["cpus"]
    if not 1 <= cpus <= MAX_CPUS:
        raise KmsError(f"--cpus must be 1..{MAX_CPUS}, not {cpus}", col=cmd.col("cpus"))
    memory = cmd["memory"]
    if not MIN_MEMORY_MB <= memory <= MAX_MEMORY_MB:
        raise KmsError(f"--memory must be {MIN_MEMORY_MB}..{MAX_MEMORY_MB} MB, not {memory}",
                       col=cmd.col("memory"), hint="e.g. boot --memory 64 (16,384 frames)")
    seed = session.boot_options.seed if cmd["seed"] is None else cmd["seed"]
    session.boot(BootOptions(cpus, cmd["minimal"], seed, memory))
    return [process_tree(session.system), cpu_table(session.system)]


@command("reboot", "boot again with the same options (after a bugcheck, for example)",
         when_halted=True, component="Ke")
def reboot(session, cmd):
    session.boot(session.boot_options)
    return [process_tree(session.system), cpu_table(session.system)]


@command("step", "advance the clock N ticks (default 1): clock interrupt, quantum, dispatching",
         args=(Arg("n", TICKS, "ticks to advance", optional=True, default=1),),
         examples=("step", "step 10"), component="Ke")
def step(session, cmd):
    asked = cmd["n"]
    taken = session.system.ke.step(asked, stop=session.ticking(asked))
    if taken < asked:
        raise Interrupted(f"interrupted at tick {session.system.core.tick}: {taken} of {asked} "
                          "ticks ran", f"step {taken}")
    return [cpu_table(session.system)]


@command("run", "step until nothing is running or ready (or --max ticks pass)",
         options=(Opt("until-idle", None, "stop when every processor is idle (the default)"),
                  Opt("max", TICKS, "give up after this many ticks", 1000)),
         examples=("run", "run --max 50"), component="Ke")
def run(session, cmd):
    system = session.system
    taken = system.ke.run_until_idle(cmd["max"], stop=session.ticking(cmd["max"]))
    interrupted = taken < cmd["max"] and not system.ke.idle
    # Interrupted after K ticks, it says what `run --max K` says: that is the line the
    # history keeps, and replaying it must give the same log.
    limit = taken if interrupted else cmd["max"]
    system.core.emit("Ke", "run", f"ran {taken} tick(s); "
                + ("the machine is idle" if system.ke.idle else f"stopped after --max {limit}"))
    if interrupted:
        raise Interrupted(f"interrupted at tick {system.core.tick}: {taken} of at most "
                          f"{cmd['max']} ticks ran", f"run --max {taken}")
    return [cpu_table(system)]


@command("status", "one panel: tick, processors with IRQL and running thread, counts",
         when_halted=True, component="Ke")
def status(session, cmd):
    return [status_panel(session.system)]


@command("timeline", "the schedule as a Gantt table: which thread ran on which CPU, each tick",
         options=(Opt("last", NUMBER, "how many recent ticks to show, in bands below one another "
                      "(default: as many as fit the width in one band)"),),
         details="One CPU gives the illusion of parallelism: threads take turns, one quantum "
                 "each. With two or more, threads really run at the same time.",
         examples=("timeline", "timeline --last 60"), when_halted=True, component="Ke")
def timeline(session, cmd):
    last = cmd["last"]
    return [timeline_table(session.system, None if last is None else max(1, last))]


@command("irql", "the current IRQL of each processor, or of one",
         args=(Arg("cpu", NUMBER, "a processor number", optional=True),), aliases=("!irql",),
         when_halted=True, examples=("irql", "!irql 1"), component="Ke")
def irql(session, cmd):
    return [irql_table(session.system, _cpus(session, cmd))]


@command("cpu show", "a processor's state, in the spirit of !pcr: IRQL, threads, ticks",
         args=(Arg("cpu", NUMBER, "a processor number (default all)", optional=True),),
         aliases=("!pcr",), when_halted=True, examples=("cpu show 0", "!pcr 1"), component="Ke")
def cpu_show(session, cmd):
    return [processor_detail(session.system, cpu) for cpu in _cpus(session, cmd)]


def _cpus(session, cmd):
    processors = session.system.core.processors
    if cmd["cpu"] is None:
        return processors
    if cmd["cpu"] >= len(processors):
        raise KmsError(f"no processor {cmd['cpu']}; this machine has CPUs 0.."
                       f"{len(processors) - 1}", col=cmd.col("cpu"))
    return [processors[cmd["cpu"]]]
