"""Driver Verifier: verifier on|off DRIVER, verifier show (verifier.exe /query)."""

from __future__ import annotations

import re

from rich.text import Text

from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import DRIVER, Arg

DETAILS = ("Like verifier.exe /driver NAME.sys: it writes the VerifyDrivers registry value, and "
           "a driver is verified from its next load. A verified driver gets special pool (an "
           "overrun faults on the write itself: 0xD6) and pool tracking (a double free, pool "
           "at a bad IRQL or pool leaked at unload stop the machine with 0xC4 and the rule in "
           "parameter 1).")


def _name(cmd) -> str:
    name = cmd["driver"].removeprefix("\\Driver\\")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}(\.sys)?", name):
        raise KmsError(f"'{cmd['driver'][:40]}' is not a driver name", col=cmd.col("driver"),
                       hint="a name such as scribbler or scribbler.sys")
    return name


def _listed(session) -> Text:
    names = session.system.mm.verify_drivers()
    return Text("Driver Verifier watches: " + (", ".join(names) if names else "no driver"))


@command("verifier show", "which drivers Driver Verifier watches (verifier /query)",
         when_halted=True, component="Verifier")
def verifier_show(session, cmd):
    return [_listed(session)]


@command("verifier on", "put a driver on Driver Verifier's list (from its next load)",
         args=(Arg("driver", DRIVER, "the driver's name, loaded or not, e.g. scribbler"),),
         details=DETAILS, examples=("verifier on scribbler",), component="Verifier")
def verifier_on(session, cmd):
    session.system.mm.set_verifier(_name(cmd), True)
    return [_listed(session)]


@command("verifier off", "take a driver off Driver Verifier's list",
         args=(Arg("driver", DRIVER, "the driver's name"),), details=DETAILS,
         examples=("verifier off scribbler",), component="Verifier")
def verifier_off(session, cmd):
    session.system.mm.set_verifier(_name(cmd), False)
    return [_listed(session)]
