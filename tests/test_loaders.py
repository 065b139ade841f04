"""Fuzzing what users load: scenario files, driver specs, saved sessions. Whatever the damage,
the loader gives clear errors that say where, never a traceback, and a refused file leaves
the running machine exactly as it was."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from commandlines import DAMAGE
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kmshell.commands import TABLE
from kmshell.drivers import CATALOG
from kmshell.nt.invariants import violations
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.scenario import Replay, ScenarioError, parse_scenario
from kmshell.scenario.catalog import curriculum_dir
from kmshell.session import Session

FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SCENARIO_TEXTS = [path.read_text(encoding="utf-8")
                  for path in sorted(curriculum_dir().glob("*.kms"))]
SPEC_TEXTS = {path.name: path.read_text(encoding="utf-8")
              for path in sorted(CATALOG.glob("*.toml"))}
LOCATED = re.compile(r"^lab\.kms:\d+:\d+: \S")

junk = st.one_of(st.sampled_from(DAMAGE), st.text(max_size=30))


@st.composite
def damaged(draw, text: str) -> str:
    """text with one to three cuts, insertions or line swaps."""
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["cut", "insert", "truncate", "swap"]))
        at = draw(st.integers(0, len(text)))
        if how == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif how == "insert":
            text = text[:at] + draw(junk) + text[at:]
        elif how == "truncate":
            text = text[:at]
        else:
            lines = text.splitlines()
            if len(lines) > 1:
                i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
                text = "\n".join(lines)
    return text


def snapshot(session: Session) -> tuple:
    return json.dumps(session.system.to_json()), len(session.system.core.log), session.lines()


@FUZZ
@given(st.data())
def test_a_damaged_scenario_is_refused_with_file_line_and_column_or_runs(data):
    text = data.draw(damaged(data.draw(st.sampled_from(SCENARIO_TEXTS))))
    try:
        scenario = parse_scenario(text, TABLE, "lab.kms")
    except ScenarioError as error:
        assert error.messages
        for message in error.messages:
            assert LOCATED.match(message), message
        return
    Replay(scenario, Session()).run()  # what parses also runs, failing only expectations


@FUZZ
@given(st.data())
def test_a_damaged_driver_spec_is_refused_naming_its_file_and_the_machine_is_untouched(
        tmp_path, data):
    name = data.draw(st.sampled_from(sorted(SPEC_TEXTS)))
    path = tmp_path / f"fuzz-{name}"
    path.write_text(data.draw(damaged(SPEC_TEXTS[name])), encoding="utf-8")
    session = Session()
    before = snapshot(session)
    outcome = session.execute(f'driver load "{path}"')
    message = outcome.error.message if outcome.error else ""
    if re.match(r"\w+!DriverEntry, step \d+ '", message):  # valid, but DriverEntry failed:
        fresh = Session().system                             # the I/O manager unloads it
        assert list(session.system.io.drivers) == list(fresh.drivers)
        assert [d.label for d in session.system.io.devices] == [d.label for d in fresh.devices]
    elif "already loaded" in message:  # NtLoadDriver was called and refused: state unchanged
        assert snapshot(session)[0] == before[0]
    elif message:  # refused by the loader, naming the file, before anything ran
        assert snapshot(session)[:2] == before[:2]
        assert message.startswith((path.name, str(path)))
    for device in list(session.system.io.devices):  # a spec that loads also runs
        session.execute(f"irp send {device.label.rsplit(chr(92), 1)[-1]} IRP_MJ_READ")
    assert violations(session.system) == []


values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12)),
                      lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


@FUZZ
@given(st.sampled_from(sorted(SPEC_TEXTS)), st.data())
def test_a_spec_with_wrongly_typed_values_is_a_spec_error(name, data):
    spec = tomllib.loads(SPEC_TEXTS[name])
    table = spec
    keys = []
    while isinstance(table, dict) and table:
        key = data.draw(st.sampled_from(sorted(table)))
        keys.append(key)
        if not isinstance(table[key], dict) or data.draw(st.booleans()):
            table[key] = data.draw(values)
            break
        table = table[key]
    try:
        spec_from_dict(spec, name)
    except SpecError as error:
        assert str(error).startswith(name), error


def saved(tmp_path: Path) -> tuple[Path, dict]:
    session = Session()
    for line in ("process create notepad.exe", "driver load slowdisk",
                 "irp send SlowDisk IRP_MJ_READ", "step 3"):
        session.execute(line)
    path = tmp_path / "lab.json"
    session.execute(f'save "{path}"')
    return path, json.loads(path.read_text(encoding="utf-8"))


def leaves(data, trail=()):
    """Every (path, value) in a JSON document."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*trail, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from leaves(value, (*trail, index))
    else:
        yield trail, data


@FUZZ
@given(st.data())
def test_a_damaged_save_file_is_refused_and_the_session_kept_or_restores_exactly(tmp_path, data):
    path, document = saved(tmp_path)
    text = path.read_text(encoding="utf-8")
    how = data.draw(st.sampled_from(["truncate", "edit", "version"]))
    if how == "truncate":
        text = text[:data.draw(st.integers(0, len(text) - 1))]
    elif how == "version":
        document["version"] = data.draw(st.one_of(st.integers(2, 10**6), st.text(max_size=4)))
        text = json.dumps(document)
    else:
        trail, old = data.draw(st.sampled_from(list(leaves(document))))
        new = data.draw(values)
        assume(new != old and trail[0] != "kmshell")
        target = document
        for key in trail[:-1]:
            target = target[key]
        target[trail[-1]] = new
        text = json.dumps(document)
    path.write_text(text, encoding="utf-8")
    session = Session()
    session.execute("process create calc.exe")
    before = snapshot(session)
    outcome = session.execute(f'load "{path}"')
    if outcome.error is None:  # an edit that changes nothing the replay reaches, e.g. a blank
        assert how == "edit"   # line: the file still holds exactly the state it restores
        assert session.system.to_json() == document["state"]
        return
    assert str(path) in outcome.error.message
    assert snapshot(session) == before


NASTY = {  # issue 16's kinds of bad file, each as bytes
    "bom": b"\xef\xbb\xbf", "crlf": b"\r\n", "nul": b"\x00", "bad utf-8": b"\xff\xfe\xc3",
    "escape": b"\x1b]0;pwned\x07", "line separator": "\u2028".encode(), "vt": b"\v",
    "superscript": "²".encode(), "huge number": b"9" * 5000, "deep json": b"[" * 50_000,
    "deep toml": b"a = " + b"[" * 5000, "long line": b"x" * 100_000,
}


def loaded(kind: str, path: Path) -> str:
    """Load path as a scenario, a driver spec or a save file; the error text, "" if none."""
    from kmshell.scenario import load_scenario

    if kind == "scenario":
        try:
            Replay(load_scenario(path, TABLE), Session()).run()
        except ScenarioError as error:
            return str(error)
        return ""
    outcome = Session().execute(f'{"driver load" if kind == "spec" else "load"} "{path}"')
    return outcome.error.message if outcome.error else ""


@pytest.mark.parametrize("kind", ["scenario", "spec", "save"])
@pytest.mark.parametrize("nasty", sorted(NASTY))
def test_each_loader_meets_each_kind_of_bad_file_with_a_clear_error(tmp_path, kind, nasty):
    good = {"scenario": SCENARIO_TEXTS[0].encode(), "spec": SPEC_TEXTS["nullsink.toml"].encode()}
    if kind == "save":
        good["save"] = saved(tmp_path)[0].read_bytes()
    text = good[kind]
    for at in (0, len(text) // 2, len(text)):  # at the start, in the middle, at the end
        path = tmp_path / f"lab-{at}.{'toml' if kind == 'spec' else 'kms'}"
        path.write_bytes(text[:at] + NASTY[nasty] + text[at:])
        message = loaded(kind, path)  # no exception escapes
        assert "Traceback" not in message and "\x1b" not in message
        assert not any(c in message for c in "\x00\u2028\v")
