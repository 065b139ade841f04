"""`undo` and `goto` after long sessions: with the shell's checkpoints and without them.

    python benchmarks/bench_undo.py [--largest 100000]

A session replays N lines of bench_replay's mix (processes, clock steps, reads pended and
completed, registry writes, events) as the shell runs them: with checkpoints every
CHECKPOINT_EVERY lines (kmshell/session.py), and without, as `kmshell check` and the code
before checkpoints did. Then `undo 1` and `goto N-600` are timed (best of 3, the lines
taken back typed again after each) and `goto N/2` (once), with the memory tracemalloc sees the
undo allocate at its peak and what the checkpoints hold. Timing is never asserted in tests;
tests/test_checkpoints.py checks the bounds.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

from bench_replay import MIX, SETUP, lines

from kmshell.session import CHECKPOINT_EVERY, Session


def session_after(count: int, every: int | None) -> Session:
    session = Session(checkpoint_every=every)
    for line in SETUP:
        session.execute(line)
    for line in lines(MIX, count, session.system.io.irp_count + 1):
        assert session.execute(line).ok, line
    return session


def timed(session: Session, line: str, traced: bool = False) -> float:
    """Seconds the line takes, or with `traced` the MB it allocates at its peak (tracemalloc
    slows it down); the session is put back (the lines it took back typed again)."""
    journal = list(session.history)
    gc.collect()
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    outcome = session.execute(line)
    seconds = time.perf_counter() - start
    if traced:
        seconds = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    assert outcome.ok, outcome.error
    for entry in journal[len(session.history):]:
        session.execute(entry.line)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--largest", type=int, default=100_000)
    largest = parser.parse_args().largest
    print("| lines | checkpoints | kept (MB) | `undo 1` (s) | its peak (MB) | `goto N-600` (s) "
          "| `goto N/2` (s) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for count in (n for n in (1_000, 10_000, 100_000) if n <= largest):
        for every in (CHECKPOINT_EVERY, None):
            session = session_after(count, every)
            kept = sum(len(c.machine.machine) for c in session.checkpoints.values()) / 1e6
            end = len(session.history)
            undo = min(timed(session, "undo 1") for _ in range(3))
            peak = timed(session, "undo 1", traced=True)
            near = min(timed(session, f"goto {end - 600}") for _ in range(3))
            half = timed(session, f"goto {end // 2}")
            shown = f"every {every}: {len(session.checkpoints)}" if every else "none"
            print(f"| {count:,} | {shown} | {kept:.1f} | {undo:.3f} | {peak:.1f} | "
                  f"{near:.3f} | {half:.3f} |")


if __name__ == "__main__":
    main()
