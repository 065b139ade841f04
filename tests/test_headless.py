"""A line run headless (`kmshell check`, `--json`, undo's replay, `load`) pays for no view:
commands hand back views that rich builds only when it prints them."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text

from kmshell.commands import TABLE
from kmshell.scenario import Replay, load_scenario
from kmshell.session import Session
from kmshell.views.layout import Deferred

FILES = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.kms"))


class Watched(Session):
    """A session that keeps every outcome it gave."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes = []

    def execute(self, line, folder=None):
        outcome = super().execute(line, folder)
        self.outcomes.append(outcome)
        return outcome


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_view_a_bundled_scenario_returns_is_built_only_when_printed(path):
    session = Watched()
    with session.opening(path, "replay"):
        Replay(load_scenario(path, TABLE), session).run()
    built = {(o.line.strip(), type(view).__name__) for o in session.outcomes
             for view in o.views if not isinstance(view, Deferred | Text)}
    assert built == set()
