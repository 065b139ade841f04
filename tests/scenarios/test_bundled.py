"""Every scenario under scenarios/ passes `kmshell check`, replays byte-identically (also in
another process with another hash seed and terminal width), and prints exactly its golden
transcript, text and JSON (tests/scenarios/golden.py says how to regenerate them)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from golden import FILES, GOLDEN, ROOT, json_run, plain_run

from kmshell.commands import TABLE
from kmshell.scenario import Replay, load_scenario
from kmshell.session import Session

IDS = [p.stem for p in FILES]
REGENERATE = "regenerate with: python tests/scenarios/golden.py, and review the diff"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_bundled_scenario_holds_every_expectation(path):
    scenario = load_scenario(path, TABLE)
    session = Session()
    with session.opening(path, "replay"):  # as kmshell check: its file names from its folder
        result = Replay(scenario, session).run()
    assert result.failures == []
    assert result.expectations >= 5  # a curriculum scenario is a test, not just a demo
    assert scenario.title


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_bundled_scenario_replays_to_an_identical_event_log_and_its_golden_json(path):
    first = json_run(path)
    assert json_run(path) == first
    assert first == (GOLDEN / f"{path.stem}.json").read_text(encoding="utf-8"), REGENERATE


def test_the_golden_json_is_what_the_cli_prints():
    path = FILES[0]
    printed = subprocess.run([sys.executable, "-m", "kmshell", "run",
                              str(path.relative_to(ROOT)), "--json"], cwd=ROOT,
                             capture_output=True, text=True, check=False, timeout=60).stdout
    assert printed == (GOLDEN / f"{path.stem}.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_bundled_scenario_output_is_byte_identical_across_hash_seeds_and_its_golden_text(
        path):
    first = plain_run(path, "1")
    assert b"kmshell>" in first
    assert plain_run(path, "4242") == first
    assert first == (GOLDEN / f"{path.stem}.txt").read_bytes(), REGENERATE
