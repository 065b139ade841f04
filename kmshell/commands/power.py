"""The power manager: power show|sleep|hibernate|shutdown|wake, power device DEV Dx, and
power arm DEV (wait-wake)."""

from __future__ import annotations

from kmshell.commands.names import resolve_device
from kmshell.commands.registry import command
from kmshell.language.spec import DEVICE, Arg, Opt, choice
from kmshell.nt.po import DevicePowerState, SystemPowerState
from kmshell.views.pnp import power_table

D_STATE = choice("D0", "D1", "D2", "D3", metavar="D0|D1|D2|D3")
TRANSITIONS = {"sleep": SystemPowerState.PowerSystemSleeping3,
               "hibernate": SystemPowerState.PowerSystemHibernate,
               "shutdown": SystemPowerState.PowerSystemShutdown}


@command("power show", "the system power state, and each device's D state", when_halted=True,
         component="Po")
def power_show(session, cmd):
    return [power_table(session.system)]


def _transition(verb: str, target: SystemPowerState) -> None:
    @command(f"power {verb}", f"go to {target.short} ({target.name}): query every device, "
             "then set, leaves first",
             details="IRP_MN_QUERY_POWER to every stack, children before parents (any "
                     "driver may veto), then IRP_MN_SET_POWER; each power policy owner "
                     "requests the D state the device's capabilities map the S state to "
                     "(PoRequestPowerIrp).", component="Po")
    def handler(session, cmd):
        session.system.po.set_system_power(target)
        return [power_table(session.system)]


for _verb, _target in TRANSITIONS.items():
    _transition(_verb, _target)


@command("power wake", "back to S0: parents first, every device to D0",
         options=(Opt("by", DEVICE, "an armed device signals wake: its bus driver completes "
                      "the IRP_MN_WAIT_WAKE it held (the power button when left out)"),),
         examples=("power wake", "power wake --by Joystick0"), component="Po")
def power_wake(session, cmd):
    system = session.system
    system.po.wake(resolve_device(system, cmd["by"], cmd.col("by")) if cmd["by"] else None)
    return [power_table(system)]


@command("power arm", "let a device wake the machine from sleep (wait-wake), or not",
         args=(Arg("dev", DEVICE, "any device of its stack"),),
         options=(Opt("off", None, "no longer let it wake the machine"),),
         details="Device Manager's 'Allow this device to wake the computer'. Before each "
                 "sleep the power policy owner sends IRP_MN_WAIT_WAKE, which the bus driver "
                 "holds until the device signals; the device sleeps in D2 (DeviceWake), not "
                 "D3, so that it still can.",
         examples=("power arm Joystick0", "power arm Joystick0 --off"), component="Po")
def power_arm(session, cmd):
    system = session.system
    system.po.arm_wake(resolve_device(system, cmd["dev"], cmd.col("dev")), armed=not cmd["off"])
    return [power_table(system)]


@command("power device", "the power policy owner puts one device in a D state (idle)",
         args=(Arg("dev", DEVICE, "any device of its stack"),
               Arg("state", D_STATE, "D0 on; D1, D2 light sleep; D3 off")),
         details="The device power states (DEVICE_POWER_STATE, wdm.h; WDK \"Device Power "
                 "States\"): D0, working, fully on. D1 and D2, intermediate sleeping states: "
                 "less power than D0, D2 less than D1, the device keeps more of its context "
                 "in D1 and comes back to D0 sooner; many devices define neither. D3, off: the "
                 "lowest power, the device's context is lost and its driver restores it on "
                 "the way back to D0. The function driver, the stack's power policy owner, "
                 "requests the state (PoRequestPowerIrp), and an IRP_MN_SET_POWER goes down "
                 "the stack.",
         examples=("power device Joystick0 D3", "power device Joystick0 D0"),
         component="Po")
def power_device(session, cmd):
    system = session.system
    state = DevicePowerState[f"PowerDevice{cmd['state']}"]
    system.po.set_device_power(resolve_device(system, cmd["dev"], cmd.col("dev")), state)
    return [power_table(system)]
