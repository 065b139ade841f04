"""Scenario files (.kms): parse every line first, then replay them through the session."""

from kmshell.scenario.runner import Failure, Replay, Result
from kmshell.scenario.script import Scenario, ScenarioError, load_scenario, parse_scenario

__all__ = ["Failure", "Replay", "Result", "Scenario", "ScenarioError", "load_scenario",
           "parse_scenario"]
