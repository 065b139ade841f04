"""The REPL as a student sees it: each command timed from Enter to the next prompt drawn.

    python benchmarks/bench_repl.py [--runs N] [--rss N] [TREE_OR_KMSHELL ...]

Each argument is a kmshell to measure: a source tree (run as `python -m kmshell` with that
tree first on PYTHONPATH) or a `kmshell` executable; none means this tree. With two (e.g. a
tree of the commit before a change, then this one), both shells run side by side and each
command is timed in turn in A, then B, then A... so that a noisy machine slows both alike;
the table gives each median and the median of the pairwise ratios B ÷ A.

Each shell runs in a pseudo-terminal 100 columns wide, with its history file and the save
file in a temporary directory this script removes. It `load`s the big machine of
bench_big_machine.py (1,000 processes, ~10,000 threads waiting for input, ~500 devices,
1,000 reads pended at SlowDisk), saved by `kmshell check` from a generated scenario of
~2,300 lines, which are then the session's history. A command is typed, its echo drained,
then Enter is sent and the clock runs until the bottom toolbar of the next prompt is drawn:
the command, its rendering and prompt_toolkit's redraw (the script answers its cursor
position request, as a terminal does).

--rss N (default 10,000; 0 skips it): a fresh shell on the default machine is sent a cheap
mix of commands (status, step 1, irp send NullSink IRP_MJ_READ, ps); its resident memory
(VmRSS of /proc/PID/status) is read after 100 and after N commands.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

TARGET_MS = 30
PROCESSES, THREADS_EACH, JOYSTICKS, IRPS = 990, 10, 241, 1_000
COMMANDS = ["status", "thread list", "irp list", "power show", "help all", "object tree",
            "history", "ps", "device list", "device tree"]
MIX = ["status", "step 1", "irp send NullSink IRP_MJ_READ", "ps"]
ROWS, COLUMNS = 50, 100
CPR, TOOLBAR = "\x1b[6n", "Tab completes"  # a cursor position request; the toolbar's text
HERE = Path(__file__).resolve().parent.parent


def big_scenario() -> str:
    lines = [f'process create app{n}.exe --threads {THREADS_EACH} --program "wait-input"'
             for n in range(PROCESSES)]
    lines.append("step 100")  # every thread runs to its wait
    lines += ["device plug USBPDO-0 USB\\VID_045E&PID_0008"] * JOYSTICKS
    lines.append("driver load slowdisk")
    lines += ["irp send SlowDisk IRP_MJ_READ"] * IRPS
    lines.append("save big.json")
    return "\n".join(lines) + "\n"


class Shell:
    """One kmshell REPL in a pseudo-terminal."""

    def __init__(self, target: str, scratch: Path):
        self.target = target
        path = Path(target)
        env = dict(os.environ, XDG_STATE_HOME=str(scratch), HOME=str(scratch), TERM="xterm",
                   NO_COLOR="1", KMSHELL_PAGER="off")  # a listing taller than ROWS would page
        if path.is_dir():
            env["PYTHONPATH"] = str(path.resolve())
            self.argv = [sys.executable, "-m", "kmshell"]
        else:
            self.argv = [str(path)]
        self.env, self.cwd = env, scratch
        self.child = pexpect.spawn(self.argv[0], self.argv[1:], cwd=str(scratch), env=env,
                                   timeout=600, dimensions=(ROWS, COLUMNS), encoding="utf-8",
                                   codec_errors="replace")
        self.child.delaybeforesend = None  # pexpect sleeps 50 ms before each send otherwise
        self.prompt()

    def prompt(self) -> None:
        """Wait for a prompt to be drawn. prompt_toolkit draws the bottom toolbar once the
        terminal has answered where the cursor is: answer as a terminal does, the cursor on
        its last row after a command's output."""
        self.child.expect_exact(CPR)
        self.child.send(f"\x1b[{ROWS};1R")
        self.child.expect_exact(TOOLBAR)

    def check(self, *args: str) -> None:
        subprocess.run(self.argv + list(args), cwd=self.cwd, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def run(self, line: str) -> float:
        """Type line, then time Enter → the next prompt drawn (seconds)."""
        child = self.child
        child.send(line)
        child.expect_exact(line[-4:])  # the echo of what was typed
        try:
            child.read_nonblocking(1_000_000, timeout=0.02)  # the rest of the redraw
        except pexpect.TIMEOUT:
            pass
        start = time.perf_counter()
        child.send("\r")
        self.prompt()
        return time.perf_counter() - start

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.child.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def close(self) -> None:
        self.child.sendcontrol("d")
        self.child.expect(pexpect.EOF)
        self.child.close()


def name(target: str) -> str:
    return target if not Path(target).is_dir() else str(Path(target).resolve())


def commands_table(targets: list[str], runs: int, scratch: Path) -> None:
    (scratch / "big.kms").write_text(big_scenario())
    shells = []
    for target in targets:
        shell = Shell(target, scratch)
        start = time.perf_counter()
        shell.check("check", "big.kms", "--allow-writes", ".")
        shell.run("load big.json")
        print(f"{name(target)}: built and loaded the big machine in "
              f"{time.perf_counter() - start:.1f} s")
        shells.append(shell)
    print()
    labels = "ABCDEFGH"[:len(shells)]
    head = " | ".join(f"{label} median (ms)" for label in labels)
    ratios = " | ".join(f"{label} ÷ A" for label in labels[1:])
    print(f"| command | {head} |" + (f" {ratios} (median of pairs) |" if ratios else "")
          + f" ≤ {TARGET_MS} ms ({labels[-1]}) |")
    print("|---|" + "---:|" * (len(shells) + len(shells) - 1) + "---|")
    for line in COMMANDS:
        for shell in shells:
            shell.run(line)  # warm: the first run of a command imports its modules
        times: list[list[float]] = [[] for _ in shells]
        for _ in range(runs):
            for index, shell in enumerate(shells):
                times[index].append(shell.run(line))
        medians = [statistics.median(t) * 1000 for t in times]
        pairs = [statistics.median(b / a for a, b in zip(times[0], t)) for t in times[1:]]
        cells = " | ".join(f"{m:.1f}" for m in medians)
        ratio = "".join(f" {r:.2f} |" for r in pairs)
        met = "yes" if medians[-1] <= TARGET_MS else "**no**"
        print(f"| `{line}` | {cells} |{ratio} {met} |", flush=True)
    for shell in shells:
        shell.close()


def rss_table(targets: list[str], total: int, scratch: Path) -> None:
    print(f"\n| kmshell | RSS after 100 commands (MB) | after {total:,} (MB) | ratio | ≤ 1.5× |")
    print("|---|---:|---:|---:|---|")
    for target in targets:
        shell = Shell(target, scratch)
        shell.run("driver load nullsink")
        early = 0
        for number in range(1, total + 1):
            shell.run(MIX[number % len(MIX)])
            if number == 100:
                early = shell.rss_kb()
        late = shell.rss_kb()
        shell.close()
        ratio = late / early
        print(f"| {name(target)} | {early / 1024:.1f} | {late / 1024:.1f} | {ratio:.2f} | "
              f"{'yes' if ratio <= 1.5 else '**no**'} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="kmshell source trees or executables")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command")
    parser.add_argument("--rss", type=int, default=10_000, metavar="N",
                        help="commands for the memory measure (0: skip it)")
    parser.add_argument("--no-commands", action="store_true", help="only the memory measure")
    args = parser.parse_args()
    targets = args.targets or [str(HERE)]
    scratch = Path(tempfile.mkdtemp(prefix="bench_repl-"))
    try:
        if not args.no_commands:
            commands_table(targets, args.runs, scratch)
        if args.rss:
            rss_table(targets, args.rss, scratch)
    finally:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
