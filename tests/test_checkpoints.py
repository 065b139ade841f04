"""Checkpoints for undo and goto (kmshell/session.py): going back starts from a snapshot of
the machine instead of the first line, gives exactly what a fresh replay gives, and the
checkpoints kept stay few however long the session."""

from __future__ import annotations

from functools import partial
from itertools import pairwise
from pathlib import Path

import pytest
from commandlines import command_line, empty_directory, scenario_prefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sessions import printed
from sessions import session_after as fresh

from kmshell.commands import TABLE
from kmshell.nt.system import System
from kmshell.scenario import Replay, load_scenario
from kmshell.session import CHECKPOINT_EVERY, CHECKPOINT_LEVELS, Session, checkpoints_kept

shown = partial(printed, width=100)

QUERIES = ["status", "ps", "thread list", "device tree", "irp list", "handles", "trace",
           "timeline", "history", "pool", "!analyze"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_goto_from_a_checkpoint_gives_what_a_fresh_replay_gives_then_and_after(tmp_path, data):
    """Checkpoints every 2 lines, so that lines drawn from the whole command table (a
    bundled scenario's start, then random lines, broken ones too) are snapshotted in every
    kind of state the model reaches, and restored; the restored machine then runs more
    lines exactly as the replayed one does."""
    session = Session(checkpoint_every=2)
    with empty_directory(tmp_path):
        for line in data.draw(scenario_prefix(), label="prefix"):
            session.execute(line)
        for _ in range(data.draw(st.integers(1, 12), label="length")):
            session.execute(data.draw(command_line(session), label="line"))
        lines = session.lines()
        n = data.draw(st.integers(0, len(lines)), label="goto")
        assert session.execute(f"goto {n}").ok
        replayed = fresh(lines[:n])
        assert session.lines() == lines[:n]
        assert session.system.to_json() == replayed.system.to_json()
        assert session.system.core.log == replayed.system.core.log
        for query in QUERIES:
            assert shown(session, query) == shown(replayed, query), query
        for _ in range(data.draw(st.integers(1, 8), label="after")):
            line = data.draw(command_line(session), label="line after")
            assert shown(session, line) == shown(replayed, line), line
        assert session.system.to_json() == replayed.system.to_json()


def test_undo_after_many_lines_replays_only_the_lines_since_the_last_checkpoint(monkeypatch):
    session = Session(checkpoint_every=50)
    session.execute("driver load nullsink")
    for n in range(1, 400):
        session.execute("irp send NullSink IRP_MJ_READ" if n % 2 else "step 1")
    replayed = []
    run = Session.execute
    monkeypatch.setattr(Session, "execute",
                        lambda self, line, folder=None: replayed.append(line) or
                        run(self, line, folder))
    session.execute("undo 1")  # back to 399 lines: the checkpoint at 350 is the start
    assert len(replayed) == 1 + 399 - 350
    assert session.system.to_json() == fresh(session.lines()).system.to_json()


def test_the_checkpoints_kept_never_number_more_than_twice_the_levels_at_any_length():
    kept: set[int] = set()
    most = 0
    for length in range(CHECKPOINT_EVERY, 3_000 * CHECKPOINT_EVERY, CHECKPOINT_EVERY):
        kept = {n for n in kept | {length} if n in checkpoints_kept(length)}
        most = max(most, len(kept))
        # going back one line replays at most CHECKPOINT_EVERY lines (0: the fresh machine)
        assert (length - 1) - max((n for n in kept if n < length), default=0) \
            <= CHECKPOINT_EVERY
    assert most <= 2 * CHECKPOINT_LEVELS
    assert kept == checkpoints_kept(3_000 * CHECKPOINT_EVERY - CHECKPOINT_EVERY)


def test_the_checkpoints_thin_out_with_age():
    positions = sorted(checkpoints_kept(100 * CHECKPOINT_EVERY))
    gaps = [b - a for a, b in pairwise(positions)]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] == CHECKPOINT_EVERY


def test_a_session_without_checkpoints_takes_none_and_still_goes_back():
    session = Session()
    for _ in range(5):
        session.execute("step 1")
    assert session.execute("undo 2").ok and not session.checkpoints
    assert session.system.core.tick == fresh(["step 1"] * 3).system.core.tick


def test_undo_keeps_the_checkpoints_before_the_point_it_returns_to():
    session = Session(checkpoint_every=3)
    for _ in range(12):
        session.execute("step 1")
    assert set(session.checkpoints) == {6, 9, 12}  # 3 thinned out: spacing 3, then 6
    session.execute("goto 7")
    assert set(session.checkpoints) == {6}
    session.execute("step 1")
    session.execute("step 1")
    assert set(session.checkpoints) == {6, 9}


SCENARIO_FILES = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.kms"))


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_a_lesson_gone_back_to_a_checkpoint_goes_on_as_a_fresh_replay_does(path):
    """Every lesson's machine (drivers that wait, pended IRPs, queued APCs and DPCs, dead
    processes) survives a snapshot: gone back to its oldest checkpoint kept, and the rest
    typed again, it prints what a fresh replay of the same lines prints."""
    session = Session(checkpoint_every=2)
    with session.opening(path, "replay"):
        Replay(load_scenario(path, TABLE), session).run()
    entries = list(session.history)
    back = min(session.checkpoints)  # every lesson has a few lines
    assert session.execute(f"goto {back}").ok and set(session.checkpoints) == {back}
    again = Session()
    for entry in entries[:back]:
        again.execute(entry.line, entry.folder)
    for entry in entries[back:]:
        assert shown(session, entry.line) == shown(again, entry.line), entry.line
    assert session.system.to_json() == again.system.to_json()


def test_going_far_back_takes_only_the_snapshots_the_shorter_journal_keeps(monkeypatch):
    session = Session(checkpoint_every=2)
    for _ in range(64):
        session.execute("step 1")
    taken = []
    snapshot = System.snapshot
    monkeypatch.setattr(System, "snapshot", lambda self: taken.append(1) or snapshot(self))
    session.execute("goto 24")  # none at or before 24 is kept at 64 lines (32 is)
    assert set(session.checkpoints) == checkpoints_kept(24, 2)
    assert len(taken) == len(checkpoints_kept(24, 2)) < 12  # not one every 2 lines
