"""undo, goto, save/load and record: every way back gives exactly the state a fresh replay
of the same commands gives."""

from __future__ import annotations

import json
from pathlib import Path

from commandlines import command_line, empty_directory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sessions import session_after as fresh

from kmshell.commands import TABLE
from kmshell.scenario import Replay, load_scenario
from kmshell.session import Session

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

STATE_CHANGERS = [
    "process create a.exe", "process create b.exe --threads 2 --program \"inc x 3; exit\"",
    "step", "step 3", "run --max 20", "process crash a.exe", "thread create explorer.exe",
    "mutex create M", "process create m.exe --program \"acquire M; compute 2; release M\"",
    "process kill b.exe", "boot --cpus 1", "process crash System", "reboot", "ps", "procss",
]


def state(session: Session) -> dict:
    return session.system.to_json()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(STATE_CHANGERS), min_size=1, max_size=10), st.data())
def test_goto_n_equals_typing_only_the_first_n_commands(lines, data):
    session = fresh(lines)
    n = data.draw(st.integers(0, len(lines)))
    session.execute(f"goto {n}")
    assert state(session) == state(fresh(lines[:n]))
    assert session.lines() == lines[:n]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(STATE_CHANGERS), min_size=1, max_size=10))
def test_undo_removes_the_last_state_changing_command_and_the_queries_after_it(lines):
    session = fresh(lines)
    changed = [i for i, entry in enumerate(session.history) if entry.changed]
    outcome = session.execute("undo")
    if not changed:
        assert "nothing to undo" in outcome.error.message
        return
    assert state(session) == state(fresh(lines[:changed[-1]]))


def test_undo_works_after_a_bugcheck():
    session = fresh(["process create a.exe", "process crash System"])
    assert session.system.halted
    assert session.execute("undo").ok
    assert not session.system.halted
    assert any(p.image == "a.exe" for p in session.system.ps.live_processes())


def test_save_then_load_restores_the_same_state(tmp_path):
    session = fresh(["boot --cpus 1", "process create a.exe --threads 2", "step 5"])
    path = tmp_path / "lab.json"
    assert session.execute(f"save {path}").ok
    other = Session()
    assert other.execute(f"load {path}").ok
    assert state(other) == state(session) and other.lines() == session.lines()


def test_save_writes_atomically_leaving_no_temporary_file(tmp_path):
    fresh(["step"]).execute(f"save {tmp_path / 'lab.json'}")
    assert [p.name for p in tmp_path.iterdir()] == ["lab.json"]


def test_load_refuses_a_damaged_file_and_keeps_the_current_session(tmp_path):
    path = tmp_path / "lab.json"
    fresh(["process create a.exe", "step 2"]).execute(f"save {path}")
    data = json.loads(path.read_text())
    data["state"]["tick"] = 99
    path.write_text(json.dumps(data))
    session = fresh(["process create keep.exe"])
    before = state(session)
    outcome = session.execute(f"load {path}")
    assert "is damaged" in outcome.error.message
    assert state(session) == before


def test_load_refuses_a_file_from_a_newer_version(tmp_path):
    path = tmp_path / "lab.json"
    fresh(["step"]).execute(f"save {path}")
    data = json.loads(path.read_text())
    data["version"] = 99
    path.write_text(json.dumps(data))
    outcome = Session().execute(f"load {path}")
    assert "saved by a newer kmshell (format version 99)" in outcome.error.message


def test_load_of_something_else_says_what_is_wrong(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text("[1, 2]")
    assert "not a kmshell save file" in Session().execute(f"load {path}").error.message
    assert "no such file" in Session().execute(f"load {tmp_path / 'x.json'}").error.message


def test_recorded_session_replays_to_the_same_state(tmp_path):
    path = tmp_path / "mine.kms"
    session = Session()
    for line in (f"record {path}", "process create a.exe", "procss list", "step 3",
                 "mutex create M", "record stop", "step 9"):
        session.execute(line)
    text = path.read_text()
    assert "# failed: procss list" in text and "record" not in text.split("\n", 2)[2]
    replayed = Session()
    result = Replay(load_scenario(path, TABLE), replayed).run()
    assert result.failures == []
    assert state(replayed) == state(fresh(["process create a.exe", "step 3", "mutex create M"]))


def test_history_and_meta_commands_are_not_replayed_by_undo(tmp_path):
    session = fresh(["process create a.exe", "history", f"save {tmp_path / 'lab.json'}"])
    assert session.lines() == ["process create a.exe"]


def _scripted(*answers: str):
    queue = list(answers)
    return lambda prompt: queue.pop(0) if queue else "next"


def test_stepping_back_in_a_replay_undoes_the_last_command_and_offers_it_again():
    scenario = load_scenario(SCENARIOS / "02-processes-and-threads.kms", TABLE)
    straight = Session()
    Replay(scenario, straight).run()
    stepped = Session()
    # run two commands, step back over the second, then run the rest
    result = Replay(scenario, stepped, control=_scripted("next", "next", "next", "back",
                                                         "back")).run()
    assert result.failures == []
    assert state(stepped) == state(straight)
    assert stepped.lines() == straight.lines()


def test_quitting_a_replay_stops_before_the_next_command():
    session = Session()
    Replay(load_scenario(SCENARIOS / "01-user-and-kernel-mode.kms", TABLE), session,
           control=_scripted("next", "quit")).run()
    assert session.lines() == ["boot --cpus 2"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_goto_and_save_then_load_after_any_lines_equal_a_fresh_replay(tmp_path, data):
    """Lines drawn from the whole command table (tests/commandlines.py), broken ones too."""
    session = Session()
    with empty_directory(tmp_path):
        for _ in range(data.draw(st.integers(1, 12), label="length")):
            session.execute(data.draw(command_line(session), label="line"))
        lines = session.lines()
        session.execute("save lab.json")
        loaded = Session()
        assert loaded.execute("load lab.json").ok
        assert state(loaded) == state(session) and loaded.lines() == lines
        n = data.draw(st.integers(0, len(lines)), label="goto")
        session.execute(f"goto {n}")
        assert state(session) == state(fresh(lines[:n]))


def test_stepping_back_at_the_first_command_runs_nothing_and_asks_again():
    session = Session()
    Replay(load_scenario(SCENARIOS / "01-user-and-kernel-mode.kms", TABLE), session,
           control=_scripted("back", "quit")).run()
    assert session.lines() == []
