"""Every scenario under scenarios/ passes `kmshell check`, and replays byte-identically."""

from __future__ import annotations

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
