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
from typing import TYPE_CHECKING

import click

from kmshell import __version__

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

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
    from kmshell.scenario import ScenarioError, catalog
    from kmshell.scenario.script import parse_scenario

    try:
        if file == "-":
            return parse_scenario(sys.stdin.read(), TABLE, "<stdin>"), Path("<stdin>")
        return catalog.load(file, TABLE)
    except ScenarioError as error:
        click.echo(error.report(), err=True)
        sys.exit(BAD_INPUT)


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
        sys.exit(BAD_INPUT)


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
OUTPUT_FILE = click.Path(dir_okay=False)  # a file kmshell writes: completes paths in the shell


def _complete_scenario(ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[CompletionItem]:
    """Shell completion of a scenario argument: the bundled names (01-user-and-kernel-mode)
    and the shell's own path completion (`type="file"`). The file item comes first: click's
    bash script empties the list when it meets one, then falls back to file names only if no
    name was added after it."""
    from click.shell_completion import CompletionItem  # only when the shell asks

    from kmshell.scenario.catalog import lessons

    names = [CompletionItem(path.stem) for path in lessons() if path.stem.startswith(incomplete)]
    return [CompletionItem(incomplete, type="file"), *names]


MAX_ANSWER = 1000  # characters of one quiz answer read from a pipe
FAILED = 1  # an expectation failed, or a command no `expect error` follows
BAD_INPUT = 2  # a malformed scenario file, a file that cannot be read or written (click: usage)
INTERNAL_ERROR = 3  # a bug in kmshell
INTERRUPTED = 130  # 128 + SIGINT, as shells report a command Ctrl-C ended


@click.group(invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kmshell")
@click.option("--no-color", is_flag=True,
              help="Plain text: no colour, bold or dim. NO_COLOR=1 drops only the colours, "
                   "as its convention asks.")
@click.option("--cpus", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Processors of the machine the REPL boots.")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
              help="Seed of the model's random generator, 0..2**64-1 (the model makes no "
                   "random choices yet: output is the same whatever the seed).")
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
        from kmshell.views.progress import meter

        console = make_console(no_color=no_color, record=True)
        session = Session(cpus=cpus, seed=seed, checkpoint_every=CHECKPOINT_EVERY)
        session.meter = meter(console)  # a long step's progress, on its own console
        sys.exit(run_repl(session, console))


@main.command()
@click.argument("file", shell_complete=_complete_scenario)
@click.option("--step", is_flag=True,
              help="Before each command wait for a key: Enter or space runs it, b steps back, "
                   "q quits.")
@click.option("--no-color", is_flag=True, help="Plain text: no colour, bold or dim.")
@click.option("--json", "as_json", is_flag=True,
              help="Print only the final state and event log as JSON.")
@click.option("--export-html", "export_html", metavar="OUT", type=OUTPUT_FILE,
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
    from kmshell.views.progress import meter

    scenario, path = _load(file)
    no_color = no_color or ctx.obj.get("no_color", False)
    console = None if as_json else make_console(no_color=no_color,
                                                record=export_html is not None)
    control = None
    if step and _interactive() and not as_json and file != "-":
        control = step_by_key
    elif step:  # said, not silently dropped
        reason = "the scenario comes from standard input" if file == "-" else \
            "--json prints nothing but JSON" if as_json else "this is not a terminal"
        click.echo(f"--step ignored: it waits for keys typed at a terminal, and {reason}",
                   err=True)
    elif delay and not as_json:
        control = delayed(delay)
    session = Session()
    session.console = console
    session.meter = meter(console or make_console(no_color=no_color))
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
    sys.exit(0 if result.ok else FAILED)


@main.command()
@click.argument("files", nargs=-1, required=True, shell_complete=_complete_scenario)
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=1, show_default=True,
              metavar="N",
              help="Check N files at a time, each in a process of its own (0: one per "
                   "processor). Results print as files finish; the summary, --junit and the "
                   "exit status are those of -j 1.")
@click.option("--junit", metavar="FILE", type=OUTPUT_FILE,
              help="Also write the results as JUnit XML.")
@ALLOW_WRITES
@click.pass_context
def check(ctx: click.Context, files: tuple[str, ...], jobs: int, junit: str | None,
          allow_writes: str | None) -> None:
    """Run scenario FILES headless; exit 1 at a failed expectation (FILE:LINE: ...), 2 if a
    file is malformed (FILE:LINE:COL on stderr; it fails, the others still run).

    Each file's result prints as it finishes; on a terminal a progress bar below them counts
    the files. Ctrl-C stops it between two ticks or lines, with exit status 130.
    """
    from kmshell.cancel import catching_ctrl_c
    from kmshell.scenario import Result
    from kmshell.views.console import make_console
    from kmshell.views.progress import FileBar

    _writes(allow_writes)  # a bad DIR is refused before any file runs
    loaded, notes = _load_all(files)
    scenarios = [entry for entry in loaded if not isinstance(entry, Result)]
    jobs = min(jobs or os.cpu_count() or 1, len(scenarios))
    results: list = [None] * len(scenarios)  # in the order the files were given
    stopped: tuple[str, int] | None = None  # what stopped the check early, and its status
    # For JUnit every expectation is a test case of its own (partial credit): a file goes on
    # past a failure. Without it a file stops at its first.
    go_on = junit is not None
    with catching_ctrl_c(), _workers(scenarios, jobs, go_on, allow_writes) as futures, \
            FileBar(make_console(no_color=ctx.obj.get("no_color", False)), len(loaded)) as bar:
        for note in notes:  # done before they could run
            bar.done(note)
        for index, result in _checked(scenarios, futures, go_on, allow_writes, bar):
            if isinstance(result, str):
                stopped = (result, INTERNAL_ERROR)
                break
            if result.interrupted is not None:
                stopped = (str(result.interrupted), INTERRUPTED)
                break
            results[index] = result
            count = result.expectations
            bar.done(f"ok   {result.path} ({count} expectation{'' if count == 1 else 's'})"
                     if result.ok
                     else "\n".join(f"FAIL {failure}" for failure in result.failures))
    if stopped is not None:
        click.echo(stopped[0], err=True)
        sys.exit(stopped[1])
    ran = iter(results)
    results = [entry if isinstance(entry, Result) else next(ran) for entry in loaded]
    if junit is not None:
        _write_junit(junit, results)
    failed = sum(1 for r in results if not r.ok)
    malformed = sum(1 for r in results if r.malformed)
    click.echo(f"{len(results) - failed} passed, {failed} failed"
               + (f" ({malformed} malformed, not run)" if malformed else ""))
    sys.exit(BAD_INPUT if malformed else FAILED if failed else 0)


def _load_all(files: tuple[str, ...]) -> tuple[list, list[str]]:
    """Each file's (scenario, path), or its failed Result when it is malformed (its errors
    printed, FILE:LINE:COL with the line and a caret), with the result line of each malformed
    file: one student's typo fails that file, not the whole check."""
    from kmshell.commands import TABLE
    from kmshell.nt.rtl import printable
    from kmshell.scenario import Result, ScenarioError, catalog

    loaded: list = []
    notes: list[str] = []
    for file in files:
        try:
            loaded.append(catalog.load(file, TABLE))
        except ScenarioError as error:
            click.echo(error.report(), err=True)
            path = printable(str(catalog.resolve(file)))
            count = len(error.errors)  # 0: the file could not be read at all
            notes.append(f"FAIL {path}: not run: {count} malformed line{'' if count == 1 else 's'}"
                         if count else f"FAIL {error.messages[0].splitlines()[0]}; not run")
            loaded.append(Result(path, "", malformed=error.messages))
    return loaded, notes


def _check_file(scenario, path: Path, go_on: bool, allow_writes: str | None):
    """One file of `kmshell check`, in this process or in a worker of -j N: its Result, or
    the one-line report of a bug in kmshell."""
    from kmshell.errors import internal_error
    from kmshell.scenario import Replay
    from kmshell.session import Session

    try:
        session = Session()
        with session.opening(path, "replay", own_writes=_writes(allow_writes)):
            return Replay(scenario, session, stop_at_first_failure=not go_on).run()
    except Exception as error:  # noqa: BLE001 - reported, not hidden: see internal_error
        return internal_error(error)


def _worker_start() -> None:
    """In a worker of check -j N: Ctrl-C (the terminal sends it to the workers too) asks the
    running file to stop, and every later one to stop before its first line."""
    import signal

    from kmshell import cancel

    signal.signal(signal.SIGINT, lambda number, frame: cancel.request())


@contextmanager
def _workers(scenarios: list, jobs: int, go_on: bool,
             allow_writes: str | None) -> Iterator[dict]:
    """check -j N: each file handed to a pool of N processes, which are started here, before
    the progress bar's thread (a process forked while another thread runs may inherit a lock
    that thread held). Left early (Ctrl-C, a bug), it does not wait for the files running."""
    if jobs <= 1:
        yield {}
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(jobs, initializer=_worker_start)
    futures = {}
    try:
        futures = {pool.submit(_check_file, scenario, path, go_on, allow_writes): index
                   for index, (scenario, path) in enumerate(scenarios)}
        yield futures
    finally:
        finished = all(future.done() for future in futures)
        pool.shutdown(wait=finished, cancel_futures=True)
        if not finished:
            for child in multiprocessing.active_children():
                child.terminate()


def _checked(scenarios: list, futures: dict, go_on: bool, allow_writes: str | None, bar):
    """Each file's index and Result (or a bug's report), as the files finish: one after
    another, or as the workers' futures complete."""
    if not futures:
        for index, (scenario, path) in enumerate(scenarios):
            bar.running([str(path)])
            yield index, _check_file(scenario, path, go_on, allow_writes)
        return
    import multiprocessing
    import signal
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    from kmshell import cancel

    pending, forwarded = set(futures), False
    while pending:
        bar.running([str(scenarios[futures[f]][1])
                     for f in sorted(pending, key=futures.__getitem__) if f.running()])
        done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        if cancel.requested() and not forwarded:  # a Ctrl-C sent to this process alone
            forwarded = True
            for child in multiprocessing.active_children():
                if child.pid is not None:
                    os.kill(child.pid, signal.SIGINT)
        for future in sorted(done, key=futures.__getitem__):
            try:
                result = future.result()
            except BrokenProcessPool as error:  # a worker killed (out of memory, kill -9)
                result = f"a worker process of check -j ended abruptly ({error})"
            yield futures[future], result


def _write_junit(path: str, results) -> None:
    """A <testsuite> per scenario file, a <testcase> per expectation (and per failed
    command), so that a grader can give partial credit."""
    from xml.etree import ElementTree

    checks = [check for r in results for check in r.checks]
    failed = sum(1 for check in checks if not check.ok)
    malformed = sum(1 for r in results if r.malformed)
    root = ElementTree.Element("testsuites", name="kmshell scenarios",
                               tests=str(len(checks) + malformed), failures=str(failed),
                               errors=str(malformed))
    for result in results:
        stem = Path(result.path).stem
        suite = ElementTree.SubElement(
            root, "testsuite", name=stem, file=result.path,
            tests=str(len(result.checks) + bool(result.malformed)),
            failures=str(sum(1 for c in result.checks if not c.ok)),
            errors=str(int(bool(result.malformed))))
        if result.malformed:  # an <error>: the file could not be run at all
            case = ElementTree.SubElement(suite, "testcase", classname=f"kmshell.scenarios.{stem}",
                                          name="the file parses", file=result.path)
            error = ElementTree.SubElement(case, "error", type="malformed",
                                           message=result.malformed[0].splitlines()[0])
            error.text = "\n".join(result.malformed)
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
@click.pass_context
def scenarios(ctx: click.Context) -> None:
    """List the bundled curriculum with titles."""
    from kmshell.commands import TABLE
    from kmshell.scenario import catalog
    from kmshell.views.console import make_console
    from kmshell.views.curriculum import scenario_list

    entries = catalog.bundled(TABLE)
    if not entries:
        click.echo("no bundled scenarios found")
        return
    # at the terminal's width, or on a pipe COLUMNS' (views/console.py): titles wrap there
    make_console(no_color=ctx.obj.get("no_color", False)).print(
        scenario_list([(path.stem, title) for path, title in entries]))


@main.command()
@click.argument("kind", type=click.Choice(["driver"]), metavar="KIND")
@click.option("-o", "--output", metavar="FILE", type=OUTPUT_FILE,
              help="Write it to FILE instead of printing it.")
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
    from rich.text import Text

    from kmshell.nt.rtl import printable
    from kmshell.quiz import grade, make
    from kmshell.views.console import make_console
    from kmshell.views.layout import Indented

    try:
        problem = make(topic, seed, size, difficulty)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--size") from None
    def wrapped(lines: list[str]) -> None:
        """Lines wrapped at the width between words, each under its own indent."""
        console.print(Indented(Text("\n".join(lines))), overflow="fold")

    console = make_console()
    wrapped(problem.text)
    if show_answers:
        click.echo("\n".join(f"{question}: {answer}" for question, answer
                             in zip(problem.questions, problem.answers, strict=True)))
        wrapped(problem.reasons)
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
    wrapped([f"✓ {question}: {answer}" if ok else
             f"✗ {question}: expected {answer}, not {printable(said) or '(no answer)'}"
             for question, ok, answer, said in zip(problem.questions, marks, problem.answers,
                                                   given, strict=True)])
    options = f"--seed {seed}" + (f" --size {size}" if size is not None else "") \
        + (f" --difficulty {difficulty}" if difficulty != "medium" else "")
    wrapped([f"{sum(marks)} of {len(marks)} right"
             + ("" if all(marks) else f" — kmshell quiz {topic} {options} --answers "
                "shows why")])
    sys.exit(0 if all(marks) else 1)
