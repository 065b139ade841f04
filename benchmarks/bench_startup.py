"""Start-up benchmark: how long until kmshell is useful, against the bare imports it needs.

    python benchmarks/bench_startup.py

Times, each a fresh process, `kmshell --version`, `kmshell check` and `kmshell run` (plain,
and --json) of scenario 01 with output to /dev/null, and the interactive shell's first
prompt: `kmshell` started in a pseudo-terminal, timed until `kmshell>` appears, then sent
Ctrl-D. Each is run in PAIRS (9) with the bare `python -c "import rich, prompt_toolkit,
click"`, interleaved (bare, kmshell, bare, kmshell ...), so that a slow moment of a shared
machine slows both halves of a pair: the figures are the medians of each and the median of
the pairwise ratios.

Each is timed twice: with kmshell's bytecode cached, as an installed copy runs (the .pyc
files go to a temporary PYTHONPYCACHEPREFIX, warmed by one run first), and with
PYTHONDONTWRITEBYTECODE=1, where kmshell's sources are compiled at every start (the
libraries keep their installed .pyc files). Prints a Markdown table with each time relative
to the bare imports, then whether `check` and `run` import prompt_toolkit (they must not).
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PAIRS = 9
PYTHON = sys.executable
SCRIPT = os.path.join(os.path.dirname(PYTHON), "kmshell")
KMSHELL = [SCRIPT] if os.path.exists(SCRIPT) else [PYTHON, "-m", "kmshell"]
SCENARIO = "scenarios/01-user-and-kernel-mode.kms"
BARE = "bare `import rich, prompt_toolkit, click`"
CASES = {
    BARE: [PYTHON, "-c", "import rich, prompt_toolkit, click"],
    "`kmshell --version`": [*KMSHELL, "--version"],
    "`kmshell check` (scenario 01)": [*KMSHELL, "check", SCENARIO],
    "`kmshell run --no-color` (scenario 01)": [*KMSHELL, "run", SCENARIO, "--no-color"],
    "`kmshell run --json` (scenario 01)": [*KMSHELL, "run", SCENARIO, "--json"],
}
PROBE = ("import sys; from kmshell.cli import main\n"
         "try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
         "print('prompt_toolkit' in sys.modules, file=sys.stderr)")


def environment(scratch: str, cached: bool) -> dict[str, str]:
    """The children's environment; the REPL's history file goes to scratch too."""
    env = dict(os.environ, XDG_STATE_HOME=scratch, PYTHONPYCACHEPREFIX=scratch)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not cached:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        del env["PYTHONPYCACHEPREFIX"]
    return env


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=True)
    return time.perf_counter() - start


def first_prompt(env: dict[str, str]) -> float:
    """Start the REPL in a pseudo-terminal; seconds until its prompt is drawn."""
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(KMSHELL[0], KMSHELL, env)
    seen = b""
    try:
        while b"kmshell>" not in seen:
            ready, _, _ = select.select([fd], [], [], 10)
            if not ready:
                raise TimeoutError("no prompt within 10 s")
            seen += os.read(fd, 4096)
        return time.perf_counter() - start
    finally:
        os.write(fd, b"\x04")  # Ctrl-D: quit
        os.waitpid(pid, 0)
        os.close(fd)


def paired(run, env: dict[str, str]) -> tuple[float, float, float]:
    """Median seconds of the bare imports and of run(), and the median of their pairwise
    ratios, from PAIRS interleaved runs."""
    bare, timed_runs = [], []
    for _ in range(PAIRS):
        bare.append(timed(CASES[BARE], env))
        timed_runs.append(run())
    ratios = [t / b for t, b in zip(timed_runs, bare, strict=True)]
    return statistics.median(bare), statistics.median(timed_runs), statistics.median(ratios)


def measure(env: dict[str, str]) -> dict[str, tuple[float, float, float]]:
    results = {name: paired(lambda command=command: timed(command, env), env)
               for name, command in CASES.items() if name != BARE}
    results["the shell's first prompt (pty)"] = paired(lambda: first_prompt(env), env)
    return results


def imports_prompt_toolkit(args: list[str], env: dict[str, str]) -> bool:
    probe = subprocess.run([PYTHON, "-c", PROBE.format(args=args)], capture_output=True,
                           text=True, env=env, check=True)
    return probe.stderr.strip().splitlines()[-1] == "True"


def main() -> None:
    scratch = tempfile.mkdtemp(prefix="kmshell-bench-")
    try:
        cached = environment(scratch, cached=True)
        for command in CASES.values():  # fill the bytecode cache
            timed(command, cached)
        first_prompt(cached)
        warm, cold = measure(cached), measure(environment(scratch, cached=False))
        probes = [(args, imports_prompt_toolkit(args, cached))
                  for args in (["check", SCENARIO], ["run", SCENARIO, "--json"],
                               ["run", SCENARIO, "--no-color"])]
    finally:
        shutil.rmtree(scratch)
    print(f"| what | .pyc cached (s) | bare (s) | × bare, median of {PAIRS} pairs | "
          "kmshell compiled (s) | bare (s) | × bare |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in warm:
        (wb, wt, wr), (cb, ct, cr) = warm[name], cold[name]
        print(f"| {name} | {wt:.3f} | {wb:.3f} | {wr:.2f} | {ct:.3f} | {cb:.3f} | {cr:.2f} |")
    print()
    print("| command | imports prompt_toolkit |")
    print("|---|---|")
    for args, imported in probes:
        print(f"| `kmshell {' '.join(args)}` | {'yes' if imported else 'no'} |")


if __name__ == "__main__":
    main()
