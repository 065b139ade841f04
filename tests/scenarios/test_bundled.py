"""Every scenario under scenarios/ passes `kmshell check`, and replays byte-identically, also
in another process with another hash seed and terminal width."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmshell.scenario import Replay, load_scenario
from kmshell.session import Session

FILES = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.kms"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_bundled_scenario_holds_every_expectation(path):
    scenario = load_scenario(path)
    result = Replay(scenario, Session()).run()
    assert result.failures == []
    assert result.expectations >= 5  # a curriculum scenario is a test, not just a demo
    assert scenario.title


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_bundled_scenario_replays_to_an_identical_event_log(path):
    logs = []
    for _ in range(2):
        session = Session()
        Replay(load_scenario(path), session).run()
        logs.append([e.to_json() for e in session.system.log])
    assert logs[0] == logs[1]


def plain_run(path: Path, hash_seed: str, columns: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "COLUMNS": columns, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "kmshell", "run", str(path)], env=env,
                          capture_output=True, check=False, timeout=60).stdout


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_bundled_scenario_output_is_byte_identical_across_hash_seeds_and_terminal_widths(path):
    first = plain_run(path, "1", "60")
    assert b"kmshell>" in first
    assert plain_run(path, "4242", "200") == first
