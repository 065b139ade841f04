"""Interrupts and DPCs: interrupt DEV, dpc list (!dpcs)."""

from __future__ import annotations

from kmshell.commands.names import resolve_device
from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import DEVICE, NUMBER, Arg, Opt
from kmshell.views.ke import cpu_table, dpc_table


@command("interrupt", "a device asserts its interrupt: ISR at its DIRQL, then its DPC",
         args=(Arg("dev", DEVICE, "a device whose driver connected an interrupt"),),
         options=(Opt("cpu", NUMBER, "the processor that takes it (default: 0; an MSI-X "
                      "message goes to its own processor)"),
                  Opt("message", NUMBER, "for a message-signaled interrupt: which message", 0)),
         details="The ISR preempts whatever runs on that processor; the DPC it queues runs at "
                 "DISPATCH_LEVEL once the IRQL falls below it, before any thread resumes. An "
                 "interrupt at or below the processor's IRQL is held until the IRQL drops.",
         examples=("interrupt IrqDisk", "interrupt IrqDisk --cpu 1",
                   "interrupt MsixNic --message 1"), component="Ke")
def interrupt(session, cmd):
    system = session.system
    if cmd["cpu"] is not None and cmd["cpu"] >= len(system.core.processors):
        raise KmsError(f"no processor {cmd['cpu']}; this machine has CPUs 0.."
                       f"{len(system.core.processors) - 1}", col=cmd.col("cpu"))
    system.ke.interrupt(resolve_device(system, cmd["dev"], cmd.col("dev")), cmd["cpu"],
                     cmd["message"])
    return [cpu_table(system)]


@command("dpc list", "each processor's queue of DPCs waiting to run", aliases=("!dpcs",),
         when_halted=True, component="Ke")
def dpc_list(session, cmd):
    return [dpc_table(session.system)]
