"""The command line: `kmshell` (the REPL), `kmshell run`, `kmshell check`, `kmshell scenarios`,
`kmshell quiz`, `kmshell schema`."""

from __future__ import annotations

import atexit
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from kmshell import __version__

# The model, the command table and rich are imported by the subcommands that use them, so
# that `kmshell --version` and `--help` cost little more than click (docs/performance.md).

# At exit nothing is left to collect: freezing every object spares the interpreter's last
# garbage collections, which would take the machine's object graph apart (10% of `check`).
# Registered at import, so a process that calls main() many times (the tests) freezes once.
atexit.register(gc.freeze)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _load(file: str):
    """The scenario FILE names (a path, a bundled name, or - for standard input), and the
    path it was read from (for -, `<stdin>` in the working directory, where its relative
    file names are taken from)."""
    from kmshell.commands import TABLE
    from kmshell.scenario import ScenarioError, catalog, load_scenario
    from kmshell.scenario.script import parse_scenario

    path = Path("<stdin>") if file == "-" else catalog.resolve(file)
    try:
        if file == "-":
            return parse_scenario(sys.stdin.read(), TABLE, "<stdin>"), path
        return load_scenario(path, TABLE), path
    except ScenarioError as error:
        click.echo(str(error), err=True)
        sys.exit(2)


def _writes(allow_writes: str | None):
    """What a scenario's own lines (save, record, export) may write: nothing, unless the user
    named a directory with --allow-writes; then only below it."""
    from kmshell.files import WriteRule

    if allow_writes is None:
        return WriteRule(False, why="a scenario writes files only with --allow-writes DIR")
    if not os.path.isdir(allow_writes):  # click's dir_okay lets a FIFO or a device through
        raise click.BadParameter(f"{allow_writes} is not a directory", param_hint="--allow-writes")
    return WriteRule.below(allow_writes)


def _write(path: str, text: str) -> None:
    """A file the user named on the command line (--export-html, --junit)."""
    from kmshell.files import FileError, write_text

    try:
        write_text(path, text)
    except FileError as error:
        click.echo(str(error), err=True)
        sys.exit(2)


@contextmanager
def _no_traceback() -> Iterator[None]:
    """A bug in kmshell ends `run` or `check` with one line and status 3, not a traceback."""
    from kmshell.errors import internal_error

    try:
        yield
    except Exception as error:  # noqa: BLE001 - reported, not hidden: see internal_error
        click.echo(internal_error(error), err=True)
        sys.exit(INTERNAL_ERROR)


ALLOW_WRITES = click.option(
    "--allow-writes", "allow_writes", metavar="DIR",
    type=click.Path(exists=True, file_okay=False, dir_okay=True),
    help="Let the scenario's own save, record and export lines write files, only below DIR. "
         "Without it they are refused.")
MAX_ANSWER = 1000  # characters of one quiz answer read from a pipe
INTERNAL_ERROR = 3  # a bug in kmshell (1: an expectation failed, 2: bad input)
INTERRUPTED = 130  # 128 + SIGINT, as shells report a command Ctrl-C ended


@click.group(invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kmshell")
@click.option("--no-color", is_flag=True, help="Plain text, no colours (NO_COLOR works too).")
@click.option("--cpus", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Processors of the machine the REPL boots.")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
              help="Seed for the model, 0..2**64-1.")
@click.pass_context
def main(ctx: click.Context, no_color: bool, cpus: int, seed: int) -> None:
    """kmshell: watch a model of the Windows kernel react to what you type.

    With no command, starts the interactive shell; with its input from a pipe or a file
    (kmshell < lab.txt), runs each line as if typed and exits 1 if any failed.
    """
    ctx.ensure_object(dict)
    ctx.obj["no_color"] = no_color
    if ctx.invoked_subcommand is None:
        from kmshell.session import CHECKPOINT_EVERY, Session
        from kmshell.views.console import make_console

        if not sys.stdin.isatty():  # `kmshell < lab.txt`, `echo ... | kmshell`: plain lines
            from kmshell.commands import TABLE
            from kmshell.scenario.runner import run_piped

            sys.exit(run_piped(Session(cpus=cpus, seed=seed), sys.stdin,
                               make_console(no_color=no_color), TABLE))
        from kmshell.shell import run_repl

        console = make_console(no_color=no_color, record=True)
        sys.exit(run_repl(Session(cpus=cpus, seed=seed, checkpoint_every=CHECKPOINT_EVERY),
                          console))


def _scenarios(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """Shell completion of a scenario (`_KMSHELL_COMPLETE=bash_source kmshell`): the bundled
    names, then the shell's own file names."""
    from click.shell_completion import CompletionItem

    from kmshell.scenario import catalog

    names = [path.stem for path in sorted(catalog.curriculum_dir().glob("*.kms"))]
    return [CompletionItem(name) for name in names if name.startswith(incomplete)] + \
        [CompletionItem(incomplete, type="file")]


@main.command()
@click.argument("file", shell_complete=_scenarios)
@click.option("--step", is_flag=True,
              help="Before each command wait for a key: Enter or space runs it, b steps back, "
                   "q quits.")
@click.option("--no-color", is_flag=True, help="Plain text, no colours.")
@click.option("--json", "as_json", is_flag=True,
              help="Print only the final state and event log as JSON.")
@click.option("--export-html", "export_html", metavar="OUT",
              help="Also save the transcript, with colours, as HTML.")
@click.option("--delay", type=click.FloatRange(0, 60), default=0, metavar="SECONDS",
              help="Play unattended, waiting this long before each command.")
@ALLOW_WRITES
@click.pass_context
def run(ctx: click.Context, file: str, step: bool, no_color: bool, as_json: bool,
        export_html: str | None, delay: float, allow_writes: str | None) -> None:
    """Replay a scenario FILE (a path, a bundled name such as 01, or - for standard input).

    Ctrl-C stops it between two ticks or lines: exit status 130, and --export-html still
    writes what ran.
    """
    from kmshell.cancel import catching_ctrl_c
    from kmshell.scenario import Replay
    from kmshell.scenario.control import delayed, step_by_key
    from kmshell.scenario.runner import write_json_report
    from kmshell.session import Session
    from kmshell.views.console import make_console

    scenario, path = _load(file)
    no_color = no_color or ctx.obj.get("no_color", False)
    console = None if as_json else make_console(no_color=no_color,
                                                record=export_html is not None)
    control = None
    if step and _interactive() and not as_json:
        control = step_by_key
    elif delay and not as_json:
        control = delayed(delay)
    session = Session()
    session.console = console
    with catching_ctrl_c(), session.opening(path, "replay", own_writes=_writes(allow_writes)), \
            _no_traceback():
        result = Replay(scenario, session, console=console, control=control).run()
    if export_html is not None and console is not None:
        _write(export_html, console.export_html(clear=False))
    if result.interrupted is not None:
        click.echo(f"{result.interrupted}", err=True)
        sys.exit(INTERRUPTED)
    if as_json:
        write_json_report(scenario, result, session, sys.stdout)
    else:
        click.echo(result.summary())
    sys.exit(0 if result.ok else 1)


@main.command()
@click.argument("files", nargs=-1, required=True, shell_complete=_scenarios)
@click.option("--junit", metavar="FILE", help="Also write the results as JUnit XML.")
@ALLOW_WRITES
def check(files: tuple[str, ...], junit: str | None, allow_writes: str | None) -> None:
    """Run scenario FILES headless; exit 1 at a failed expectation (FILE:LINE: ...).

    Ctrl-C stops it between two ticks or lines, with exit status 130.
    """
    from kmshell.cancel import catching_ctrl_c
    from kmshell.commands import TABLE
    from kmshell.scenario import Replay, ScenarioError, catalog, load_scenario
    from kmshell.session import Session

    scenarios = []
    malformed = False
    for file in files:
        path = catalog.resolve(file)
        try:
            scenarios.append((load_scenario(path, TABLE), path))
        except ScenarioError as error:
            click.echo(str(error), err=True)
            malformed = True
    if malformed:
        sys.exit(2)
    results = []
    with catching_ctrl_c():
        for scenario, path in scenarios:
            session = Session()
            with session.opening(path, "replay", own_writes=_writes(allow_writes)), \
                    _no_traceback():
                # For JUnit every expectation is a test case of its own (partial credit):
                # the file goes on past a failure. Without it a file stops at its first.
                results.append(Replay(scenario, session,
                                      stop_at_first_failure=junit is None).run())
            result = results[-1]
            if result.interrupted is not None:
                click.echo(f"{result.interrupted}", err=True)
                sys.exit(INTERRUPTED)
            # each file's result as it finishes (click.echo flushes): a curriculum takes
            # tens of seconds
            if result.ok:
                click.echo(f"ok   {result.path} ({result.expectations} expectations)")
            else:
                click.echo("\n".join(f"FAIL {failure}" for failure in result.failures))
    if junit is not None:
        _write_junit(junit, results)
    failed = sum(1 for r in results if not r.ok)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


def _write_junit(path: str, results) -> None:
    """A <testsuite> per scenario file, a <testcase> per expectation (and per failed
    command), so that a grader can give partial credit."""
    from xml.etree import ElementTree

    checks = [check for r in results for check in r.checks]
    failed = sum(1 for check in checks if not check.ok)
    root = ElementTree.Element("testsuites", name="kmshell scenarios", tests=str(len(checks)),
                               failures=str(failed), errors="0")
    for result in results:
        stem = Path(result.path).stem
        suite = ElementTree.SubElement(
            root, "testsuite", name=stem, file=result.path, tests=str(len(result.checks)),
            failures=str(sum(1 for c in result.checks if not c.ok)), errors="0")
        for check in result.checks:
            case = ElementTree.SubElement(suite, "testcase", classname=f"kmshell.scenarios.{stem}",
                                          name=f"line {check.line}: {check.name}",
                                          file=result.path, line=str(check.line))
            if not check.ok:
                failure = ElementTree.SubElement(case, "failure",
                                                 message=check.failure.split("\n")[0])
                failure.text = f"{result.path}:{check.line}: {check.failure}"
    _write(path, ElementTree.tostring(root, encoding="unicode", xml_declaration=True))


@main.command()
def scenarios() -> None:
    """List the bundled curriculum with titles."""
    from kmshell.commands import TABLE
    from kmshell.scenario import catalog

    entries = catalog.bundled(TABLE)
    if not entries:
        click.echo("no bundled scenarios found")
        return
    width = max(len(path.stem) for path, _ in entries)
    for path, title in entries:
        click.echo(f"{path.stem:<{width}}  {title}")
    click.echo("\nreplay one with: kmshell run NAME (e.g. kmshell run 01)")


@main.command()
@click.argument("kind", type=click.Choice(["driver"]), metavar="KIND")
@click.option("-o", "--output", metavar="FILE", help="Write it to FILE instead of printing it.")
def schema(kind: str, output: str | None) -> None:
    """Print the JSON Schema of a KIND of file (driver: a driver spec, FILE.toml).

    An editor with a TOML language server (Taplo, Even Better TOML) then checks and
    completes specs: put `#:schema ./driver.schema.json` on a spec's first line
    (docs/instructors.md).
    """
    import json

    from kmshell.drivers.schema import driver_schema

    text = json.dumps(driver_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        _write(output, text)


@main.command()
@click.argument("topic", type=click.Choice(["scheduling", "irp-completion", "access-check",
                                            "irql", "pnp-order", "power-order"]))
@click.option("--seed", "-s", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
              help="Which problem.")
@click.option("--size", "-n", type=int, default=None, metavar="N",
              help="How big: processes (scheduling, 1-6), filters (irp-completion, 1-5), "
                   "cases (access-check, irql, 1-10), drivers (pnp-order, 1-7), devices "
                   "(power-order, 1-7). Default: the topic's own, picked by the seed.")
@click.option("--difficulty", "-d", type=click.Choice(["easy", "medium", "hard"]),
              default="medium", show_default=True,
              help="Which features appear. irp-completion: easy, the device completes at "
                   "once; medium, completion routines that return "
                   "STATUS_MORE_PROCESSING_REQUIRED; hard, a pended read and the pending "
                   "mark. Elsewhere: fewer or more priorities and sleeps, ACEs, places, "
                   "filter kinds, hubs.")
@click.option("--answers", "-c", "show_answers", is_flag=True,
              help="Show the answers and the worked solution, derived from the model.")
def quiz(topic: str, seed: int, size: int | None, difficulty: str, show_answers: bool) -> None:
    """A generated exercise on TOPIC: answer each `?`; the model grades it.

    Answers are read one per line from the terminal, or from standard input when it is a
    pipe (for auto-grading). Write them as the trace does: `meter!meterDone` (or just
    `meterDone`), `DISPATCH_LEVEL` or `2`, `STATUS_PENDING` or `0x103`; lists separated by
    commas; any case. The same seed, size and difficulty give the same problem on every
    machine.
    """
    from kmshell.nt.rtl import printable
    from kmshell.quiz import grade, make

    try:
        problem = make(topic, seed, size, difficulty)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--size") from None
    click.echo("\n".join(problem.text))
    if show_answers:
        click.echo("\n".join(f"{question}: {answer}" for question, answer
                             in zip(problem.questions, problem.answers, strict=True)))
        click.echo("\n".join(problem.reasons))
        return
    given = []
    for question in problem.questions:
        if sys.stdin.isatty():
            given.append(click.prompt(f"{question}: ?", prompt_suffix=" "))
        else:  # a line at most: an answers file must not fill memory or drive the terminal
            line = sys.stdin.readline(MAX_ANSWER).strip()
            given.append(line)
            click.echo(f"{question}: ? {printable(line) or '(no answer)'}")
    marks = grade(problem, given)
    for question, ok, answer, said in zip(problem.questions, marks, problem.answers, given,
                                          strict=True):
        click.echo(f"✓ {question}: {answer}" if ok else
                   f"✗ {question}: expected {answer}, not {printable(said) or '(no answer)'}")
    options = f"--seed {seed}" + (f" --size {size}" if size is not None else "") \
        + (f" --difficulty {difficulty}" if difficulty != "medium" else "")
    click.echo(f"{sum(marks)} of {len(marks)} right"
               + ("" if all(marks) else f" — kmshell quiz {topic} {options} --answers "
                  "shows why"))
    sys.exit(0 if all(marks) else 1)
