"""The session itself: help, explain, view, history, quit, !analyze."""

from __future__ import annotations

from rich import box
from rich.table import Table

from kmshell.commands.registry import TABLE, command
from kmshell.errors import KmsError
from kmshell.language.spec import COMMAND, Arg, choice
from kmshell.views.help import help_detail, help_overview
from kmshell.views.ke import analyze


@command("help", "list the commands, or explain one: help process create",
         args=(Arg("cmd", COMMAND, "a command or noun", optional=True, rest=True),),
         when_halted=True, examples=("help", "help process", "help process create"))
def help_(session, cmd):
    name = cmd["cmd"]
    if name is None:
        return [help_overview(TABLE)]
    spec = TABLE.lookup(name)
    if spec:
        return [help_detail(spec)]
    verbs = TABLE.nouns().get(name.lower().split()[0])
    if verbs and len(name.split()) == 1:
        return [help_detail(s) for s in verbs]
    guess = TABLE.suggest(name.split()[0])
    raise KmsError(f"no command '{name}'" + (f" — did you mean '{guess}'?" if guess else ""),
                   col=cmd.col("cmd"), hint="type 'help' for the list of commands")


@command("explain", "add a plain-language 'why' line to each event",
         args=(Arg("state", choice("on", "off"), "on or off"),), when_halted=True)
def explain(session, cmd):
    session.settings.explain = cmd["state"] == "on"
    return []


@command("view", "how much to print after a command: full, auto or quiet",
         args=(Arg("mode", choice("full", "auto", "quiet"), "full, auto or quiet"),),
         details="full: every event and the views of what changed. auto (the default): the "
                 "same, with very long traces folded in the middle. quiet: no trace and no "
                 "views after commands that change state; a query such as 'ps' still prints.",
         when_halted=True)
def view(session, cmd):
    session.settings.view = cmd["mode"]
    return []


@command("history", "the commands of this session, with the tick each started at",
         when_halted=True)
def history(session, cmd):
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("#", "tick", "command", ""):
        table.add_column(column)
    for entry in session.history:
        table.add_row(str(entry.number), str(entry.tick), entry.line,
                      "" if entry.ok else "failed")
    return [table]


@command("quit", "leave kmshell", aliases=("exit",), when_halted=True)
def quit_(session, cmd):
    session.quit_requested = True
    return []


@command("!analyze", "explain the last bugcheck: code, parameters, the rule broken, the driver",
         when_halted=True, examples=("!analyze",))
def bang_analyze(session, cmd):
    system = session.system
    info = system.bugcheck_info
    if info is None:
        raise KmsError("no bugcheck has happened since boot",
                       hint="!analyze explains a stopped machine; this one is running")
    trail = [e for e in system.log if e.kind not in ("tick", "boot")][-12:]
    return [analyze(info, trail)]
