"""The session itself: help, explain, view, history, quit, !analyze, and the scenario
directives (title, say, pause, expect, seed)."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text

from kmshell import files
from kmshell.commands.registry import TABLE, command
from kmshell.errors import KmsError
from kmshell.language.spec import (
    COMMAND,
    COMPONENTS,
    NUMBER,
    SCENARIO,
    SEED,
    TEXT,
    Arg,
    Kind,
    Opt,
    choice,
)
from kmshell.recorder import Recorder
from kmshell.state import Settings
from kmshell.views.help import (
    HelpOverview,
    help_by_component,
    help_component,
    help_detail,
    history_table,
)
from kmshell.views.ke import analyze
from kmshell.views.layout import LIST_LIMIT
from kmshell.views.outcome import AUTO_TRACE_LIMIT
from kmshell.views.ps import process_tree


@command("help", "list the commands by component, or explain one: help process create",
         args=(Arg("cmd", COMMAND, "a command, a noun, a component such as Ps, or all",
                   optional=True, rest=True),),
         details="Alone, it lists the commands' words by the NT component they belong to "
                 "(Ps, Ke, Io, PnP, ...) and the session's own; help all lists every command "
                 "with what it does.",
         when_halted=True,
         examples=("help", "help all", "help Ps", "help process", "help process create"),
         component="session")
def help_(session, cmd):
    name = cmd["cmd"]
    if name is None:
        return [help_by_component(TABLE)]
    if name.lower() == "all":
        return [HelpOverview(TABLE)]
    if name in COMPONENTS:  # as written (Ps, not ps: the alias of process list)
        return [help_component(TABLE, name)]
    spec = TABLE.lookup(name)
    if spec:
        return [help_detail(spec)]
    verbs = TABLE.nouns().get(name.lower().split()[0])
    if verbs and len(name.split()) == 1:
        return [help_detail(s) for s in verbs]
    component = next((c for c in COMPONENTS if c.lower() == name.lower()), None)
    if component:
        return [help_component(TABLE, component)]
    guess = TABLE.suggest(name.split()[0])
    raise KmsError(f"no command '{name}'" + (f" — did you mean '{guess}'?" if guess else ""),
                   col=cmd.col("cmd"), hint="type 'help' for the list of commands")


@command("explain", "add a plain-language 'why' line to each event",
         args=(Arg("state", choice("on", "off"), "on or off"),), when_halted=True,
         component="session")
def explain(session, cmd):
    session.settings.explain = cmd["state"] == "on"
    return [Text("explain on: each event gets a plain-language 'why' line"
                 if session.settings.explain else
                 "explain off: events print without their 'why' lines", style="dim")]


VIEW_MODES = {"full": "every event and the views of what changed, no trace folded",
              "auto": f"every event and view, traces over {AUTO_TRACE_LIMIT} events folded in "
                      "the middle",
              "quiet": "only the last event of a command that changes state, and no views; "
                       "queries print"}


@command("view", "how much to print after a command: full, auto or quiet",
         args=(Arg("mode", choice("full", "auto", "quiet"), "full, auto or quiet"),),
         details="full: every event and the views of what changed. auto (the default): the "
                 "same, with very long traces folded in the middle. quiet: after a command that "
                 "changes state, only its last event, on one line, and no views; a query such "
                 "as 'ps' still prints.",
         when_halted=True, component="session")
def view(session, cmd):
    session.settings.view = cmd["mode"]
    return [Text(f"view {cmd['mode']}: {VIEW_MODES[cmd['mode']]}", style="dim")]


@command("history", "the commands of this session, with the tick each started at",
         args=(Arg("text", TEXT, "only the commands that contain TEXT (any case)",
                   optional=True, rest=True),),
         options=(Opt("from", NUMBER, "list from command N on, instead of the latest"),),
         details=f"It lists at most {LIST_LIMIT} commands, the latest unless --from says where "
                 "to start; its last line says how many it left out and where the next ones "
                 "start.",
         when_halted=True, meta=True,
         examples=("history", "history irp send", "history --from 200"), component="session")
def history(session, cmd):
    return [history_table(session.history, cmd["text"], cmd["from"])]


@command("quit", "leave kmshell", aliases=("exit",), when_halted=True, meta=True,
         component="session")
def quit_(session, cmd):
    session.quit_requested = True
    return []


@command("clear", "clear the terminal (Ctrl-L does the same at the prompt)", when_halted=True,
         meta=True, details="Only a terminal is cleared: a pipe, a file or an export keeps "
                            "everything printed.", component="session")
def clear(session, cmd):
    if session.console is not None:
        session.console.clear()  # rich does nothing unless the console is a terminal
    return []


@command("!analyze", "explain the last bugcheck: code, parameters, the rule broken, the driver",
         args=(Arg("-v", choice("-v", metavar="-v"), "verbose, as WinDbg's !analyze -v: "
                   "kmshell's analysis is always the full one", optional=True),),
         when_halted=True, examples=("!analyze", "!analyze -v"),
         component="Ke")
def bang_analyze(session, cmd):
    system = session.system
    info = system.core.bugcheck_info
    if info is None:
        raise KmsError("no bugcheck has happened since boot",
                       hint="!analyze explains a stopped machine; this one is running")
    trail = [e for e in system.core.log if e.kind not in ("tick", "boot")][-12:]
    return [analyze(info, trail)]


@command("undo", "go back N commands that changed the machine (default 1), even after a crash",
         args=(Arg("n", NUMBER, "how many", optional=True, default=1),),
         details="The machine is rebuilt by replaying the commands before them into a fresh "
                 "machine: the result is exactly what typing only those commands gives. "
                 "Right after a goto, undo undoes the goto: the commands it dropped come back.",
         when_halted=True, meta=True, examples=("undo", "undo 3"),
         component="session")
def undo(session, cmd):
    if cmd["n"] < 1:
        raise KmsError("undo needs N >= 1", col=cmd.col("n"), usage=cmd.spec.usage)
    before = replace(session.settings)
    if session.goto_undoable():
        restored = session.undo_goto()
        text = f"goto undone: {restored} command(s) back, the state after command " \
               f"{len(session.history)} (tick {session.system.core.tick})"
        if cmd["n"] > 1:
            kept = session.undo(cmd["n"] - 1)
            text += f"; then back to the state after command {kept} " \
                    f"(tick {session.system.core.tick})"
    else:
        kept = session.undo(cmd["n"])
        text = f"back to the state after command {kept} (tick {session.system.core.tick})"
    return _travelled(session, text + _settings_note(before, session.settings))


def _travelled(session, text: str) -> list:
    """What undo, goto and load print: where the session is now, and the processes there,
    unless `view quiet` asked for no views after a change of state."""
    tree = [] if session.settings.view == "quiet" else [process_tree(session.system)]
    return [Text(text), *tree]


def _settings_note(before: Settings, after: Settings) -> str:
    """`view` and `explain` are lines of the history too, so going back in it can change
    them: say so, rather than let the next command print differently without a word."""
    changed = [f"view {after.view}"] if after.view != before.view else []
    if after.explain != before.explain:
        changed.append(f"explain {'on' if after.explain else 'off'}")
    return f"; {' and '.join(changed)} again, as then" if changed else ""


@command("goto", "jump to the state right after command N of history (0: the fresh machine)",
         args=(Arg("n", NUMBER, "a command number from history"),),
         details="The commands after N are dropped from history; undo, typed before any "
                 "command changes the machine, brings them back. view and explain lines are "
                 "history too: when going back changes one of those settings, goto says so.",
         when_halted=True, meta=True, examples=("goto 3", "goto 0"),
         component="session")
def goto(session, cmd):
    if cmd["n"] > len(session.history):
        raise KmsError(f"history has {len(session.history)} command(s); no command {cmd['n']}",
                       col=cmd.col("n"), hint="type history to see the numbers")
    before = replace(session.settings)
    dropped = session.goto(cmd["n"])
    text = f"the state after command {cmd['n']} (tick {session.system.core.tick})"
    if dropped:
        text += f"; {dropped} later command(s) dropped: undo brings them back"
    return _travelled(session, text + _settings_note(before, session.settings))


@command("save", "save this session (the commands and the state) as versioned JSON",
         args=(Arg("file", TEXT, "where to write it, e.g. lab1.json"),),
         when_halted=True, meta=True, examples=("save lab1.json",), component="session")
def save(session, cmd):
    path = session.save(cmd["file"])
    return [Text(f"saved {len(session.history)} command(s) to {path}")]


@command("load", "load a saved session: the machine exactly as it was saved",
         args=(Arg("file", TEXT, "a file written by save"),),
         details="A file from a newer kmshell, or one whose commands no longer give the state "
                 "it recorded, is refused and the current session is kept.",
         when_halted=True, meta=True, examples=("load lab1.json",), component="session")
def load(session, cmd):
    count = session.load(cmd["file"])
    return _travelled(session, f"loaded {cmd['file']}: {count} command(s), "
                               f"tick {session.system.core.tick}")


@command("record", "write what you type from now on to FILE as a scenario",
         args=(Arg("file", TEXT, "the scenario to write, e.g. mine.kms"),),
         details="Failed commands are written commented out. 'record stop' ends it; "
                 "'kmshell run FILE' replays it.", when_halted=True, meta=True,
         examples=("record mine.kms", "record stop"), component="session")
def record(session, cmd):
    if session.recorder is not None:
        raise KmsError(f"already recording to {session.recorder.path}",
                       hint="type 'record stop' first")
    try:
        session.recorder = Recorder(session.writes.check(cmd["file"], session.folder),
                                    session.boot_line(),
                                    session.history)
    except files.FileError as error:
        raise KmsError(str(error), col=cmd.col("file")) from None
    earlier = f" (with the {len(session.history)} command(s) before it)" if session.history \
        else ""
    return [Text(f"recording to {cmd['file']}{earlier}; 'record stop' ends it")]


@command("record stop", "stop recording", when_halted=True, meta=True, component="session")
def record_stop(session, cmd):
    if session.recorder is None:
        raise KmsError("not recording", hint="start with: record FILE")
    recorder, session.recorder = session.recorder, None
    return [Text(f"recorded {recorder.lines} line(s) to {recorder.path}")]


@command("export", "save this session's transcript, with colours, as HTML or SVG",
         args=(Arg("format", choice("html", "svg"), "html or svg"),
               Arg("file", TEXT, "where to write it")),
         details="The transcript is the latest output, a few hundred commands at most: a "
                 "session keeps no more, however long it runs.",
         when_halted=True, meta=True, examples=("export html lab1.html", "export svg slide.svg"),
         component="session")
def export(session, cmd):
    console = session.console
    if console is None or not console.record:
        raise KmsError("there is no transcript to export here",
                       hint="export works in the interactive shell; for a scenario use "
                       "kmshell run FILE --export-html OUT")
    try:
        path = session.writes.check(cmd["file"], session.folder)
        files.write_text(path, console.export_html(clear=False) if cmd["format"] == "html"
                         else console.export_svg(clear=False, title="kmshell"))
    except files.FileError as error:
        raise KmsError(str(error), col=cmd.col("file")) from None
    return [Text(f"transcript written to {cmd['file']}")]


# The scenario directives. A scenario file, and the prompt, take these lines before any
# command (kmshell.scenario.script, run_directive); they are in the table too, so that help,
# completion, the did-you-mean of a typo and docs/commands.md know them.

DIRECTIVE = ("A scenario directive: it works in a .kms file and at the kmshell prompt. "
             "Directives: title, say, pause, seed, expect (help expect).")
WORDS = Kind("TEXT", description="the rest of the line, as written")
QUERY = Kind("QUERY", description="a noun, a selector and a field: cpu 0 irql")
OP = Kind("OP", complete=("==", "!=", "contains", "<", ">"), description="== != contains < >")


@command("title", "a scenario's title: shown first, and listed by kmshell scenarios",
         args=(Arg("text", WORDS, "the title", rest=True),), details=DIRECTIVE, meta=True,
         when_halted=True, examples=("title Waiting uses no processor",), component="session")
def title(session, cmd):
    return [Text(cmd["text"], style="bold")]


@command("say", "narration: printed as a panel, the rest of the line taken as written",
         args=(Arg("text", WORDS, "what to say; apostrophes and # are fine", rest=True),),
         details=DIRECTIVE, meta=True, when_halted=True,
         examples=("say The thread waits on Go: it is Waiting, and the processor is idle.",),
         component="session")
def say(session, cmd):
    return [Text(cmd["text"])]


@command("pause", "with kmshell run --step, wait for a key; kmshell check goes straight on",
         details=DIRECTIVE, meta=True, when_halted=True, examples=("pause",), component="session")
def pause(session, cmd):
    return []


@command("expect", "check the state, or what the previous command did: a scenario's test",
         args=(Arg("query", QUERY, "what to look at, e.g. cpu 0 irql, irp 3 status"),
               Arg("op", OP, "==, !=, contains, < or >"),
               Arg("value", WORDS, "a number (decimal or hex), a name or a word; fields that "
                   "hold codes take names: DISPATCH_LEVEL, STATUS_PENDING", rest=True)),
         details=DIRECTIVE + " Its forms: `expect QUERY OP VALUE` checks the state; `expect "
                 "error TEXT`: the previous command failed with TEXT in its message; `expect "
                 "output TEXT`: its whole output (every event and view, whatever the view "
                 "mode; case and spacing ignored) contains TEXT; `expect order \"A\" before "
                 "\"B\" [before \"C\" ...]`: in its trace, B appears after A (and C after "
                 "B), e.g. completion routines running bottom-up. A failure prints FILE:LINE: "
                 "expected ..., got ...; codes print with their names (got 0x103 "
                 "STATUS_PENDING). The queries are listed in docs/commands.md (Queries).",
         meta=True, when_halted=True,
         examples=("expect cpu 0 irql == DISPATCH_LEVEL", "expect irp 2 status == STATUS_SUCCESS",
                   "expect bugcheck arg2 == DISPATCH_LEVEL", "expect error no such process",
                   "expect output IRP 2 completed",
                   'expect order "slowdisk completes IRP 2" before "watchfilter!ReadDone"'),
         component="session")
def expect(session, cmd):
    raise KmsError("'expect' checks what the command before it did; it runs in a scenario "
                   "file or at the kmshell prompt", col=1, hint="help expect shows its forms")


@command("seed", "seed the model: kept for this machine and every later boot",
         args=(Arg("n", SEED, "the seed"),), examples=("seed 7",),
         details=DIRECTIVE + " The model makes no random choices: PIDs, addresses, which "
                 "processor runs what and the order of events follow from the commands alone, "
                 "so a scenario gives the same output under every seed. The seed is kept "
                 "(status, --json's state.seed, later boots) for random choices to come; "
                 "kmshell quiz TOPIC --seed N is where a seed picks a problem.",
         component="session")
def seed(session, cmd):
    session.reseed(cmd["n"])
    return [Text(f"seed {cmd['n']}: kept for this boot and later ones; the model makes no "
                 "random choices", style="dim")]


@command("replay", "play a scenario into this session, as kmshell run does",
         args=(Arg("file", SCENARIO, "a .kms file, or a bundled name such as 03"),),
         options=(Opt("step", None, "wait for a key before each command (b: back, q: quit)"),),
         details="Its commands join this session's history, so undo and goto reach them.",
         meta=True, examples=("replay 03", "replay mine.kms --step"), component="session")
def replay(session, cmd):
    return [Text(session.replay(cmd["file"], cmd["step"], cmd.col("file")))]
