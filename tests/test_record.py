"""`record FILE` writes a scenario that reproduces the session: what undo and goto take back
leaves the recording, what load brings in joins it, and every line parses back as one."""

from __future__ import annotations

import json

import pytest

from kmshell.commands import TABLE
from kmshell.scenario import Replay, load_scenario
from kmshell.session import Session


def state(session: Session) -> str:
    return json.dumps(session.system.to_json(), sort_keys=True)


def replay(path) -> Session:
    session = Session()
    result = Replay(load_scenario(path, TABLE), session).run()
    assert result.failures == [], result.failures
    return session


def test_record_drops_the_commands_undo_and_goto_take_back(tmp_path):
    path = tmp_path / "mine.kms"
    session = Session()
    for line in (f"record {path}", "process create a.exe", "step 2", "process create b.exe",
                 "undo", "mutex create M", "step 1", "goto 2", "event create E"):
        assert session.execute(line).ok, line
    text = path.read_text()
    assert "b.exe" not in text and "mutex create M" not in text
    assert text.splitlines()[2:] == ["process create a.exe", "step 2", "event create E"]
    assert state(replay(path)) == state(session)


@pytest.mark.parametrize("separator", ["\v", "\f", "\u2028", "\x85", "\r", "\x1c"])
def test_a_line_separator_in_a_quoted_argument_is_recorded_so_the_file_parses(tmp_path,
                                                                             separator):
    path = tmp_path / "mine.kms"
    session = Session()
    for line in (f"record {path}", "log create J", f'log append J "a{separator}b"', "step 1"):
        session.execute(line)
    text = path.read_text()
    assert separator not in text and "# failed: log append J" in text
    assert state(replay(path)) == state(session)


def test_a_recording_started_mid_session_reproduces_the_whole_session(tmp_path):
    path = tmp_path / "mine.kms"
    session = Session(cpus=1, seed=7)
    for line in ("process create a.exe", "step 3", f"record {path}", "step 2"):
        assert session.execute(line).ok
    lines = path.read_text().splitlines()
    assert lines[2:] == ["boot --cpus 1 --seed 7", "process create a.exe", "step 3", "step 2"]
    replayed = replay(path)
    assert [p.image for p in replayed.system.ps.processes.values()] == \
        [p.image for p in session.system.ps.processes.values()]
    assert replayed.system.core.tick == session.system.core.tick


def test_load_while_recording_puts_the_loaded_commands_in_the_recording(tmp_path):
    saved = Session()
    for line in ("process create a.exe", "step 4"):
        saved.execute(line)
    saved.execute(f"save {tmp_path / 'lab.json'}")
    path = tmp_path / "mine.kms"
    session = Session()
    for line in (f"record {path}", "process create z.exe", f"load {tmp_path / 'lab.json'}"):
        assert session.execute(line).ok
    assert path.read_text().splitlines()[2:] == ["process create a.exe", "step 4"]
    assert state(replay(path)) == state(session)


def test_recording_appends_each_line_and_rewrites_the_file_only_when_the_journal_rewinds(
        tmp_path, monkeypatch):
    from kmshell import files

    rewrites = []
    real = files.write_text
    monkeypatch.setattr(files, "write_text", lambda path, text: rewrites.append(path) or
                        real(path, text))
    path = tmp_path / "mine.kms"
    session = Session()
    session.execute(f"record {path}")
    for number in range(200):
        session.execute(f"step {number}")
    assert len(rewrites) == 1  # the start; 200 lines were appended, not 200 rewrites
    assert session.execute("undo").ok
    assert len(rewrites) == 2 and path.read_text().splitlines()[-1] == "step 198"
