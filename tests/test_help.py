"""`help`: the commands grouped by the NT component each names in the table, one screen at
80 columns; `help all`, `help Ps`; every fixed choice of a field shown whole."""

from __future__ import annotations

import pytest
import sessions

from kmshell.commands import TABLE
from kmshell.language.spec import COMPONENTS, CommandSpec, CommandTable
from kmshell.nt.ps import STEPS
from kmshell.session import Session
from kmshell.views.help import group_words, help_groups


def printed(line: str, width: int = 80) -> str:
    return sessions.printed(Session(), line, width)


def group_lines(out: str) -> dict[str, str]:
    """`help`'s lines by the component that begins them (a wrapped line joins its group)."""
    groups: dict[str, str] = {}
    current = None
    for line in out.splitlines()[1:]:
        label = line.split(" ", 1)[0]
        if label in COMPONENTS:
            current = label
            groups[current] = line[len(label):]
        elif line.startswith(" ") and current is not None:
            groups[current] += " " + line
        else:
            current = None
    return groups


def test_every_command_is_in_exactly_one_group_and_named_on_that_groups_line():
    groups = help_groups(TABLE)
    members = [spec.name for specs in groups.values() for spec in specs]
    assert sorted(members) == sorted(spec.name for spec in TABLE.specs)  # each once
    lines = group_lines(printed("help"))
    assert list(lines) == list(groups)
    for name, specs in groups.items():
        words = lines[name].split()
        for spec in specs:
            assert spec.noun in words, (spec.name, name)
        for other, line in lines.items():
            if other != name:
                # a noun shows in another group only with the verbs it has there
                assert not {s.name for s in specs if " " not in s.name} & set(line.split())


def test_a_noun_split_between_components_names_its_verbs_in_each():
    groups = help_groups(TABLE)
    assert "device tree|plug|unplug" in group_words(TABLE, groups["PnP"])
    assert "device list|stack|show" in group_words(TABLE, groups["Io"])
    assert "process" in group_words(TABLE, groups["Ps"])  # all its verbs are Ps's


def test_help_fits_one_24_line_screen_at_80_columns_and_points_to_help_all():
    out = printed("help")
    lines = out.splitlines()
    assert len(lines) <= 22  # the typed line and the prompt take the other two
    assert all(len(line) <= 80 for line in lines)
    assert "help all: every command" in " ".join(lines)


def test_the_table_refuses_a_command_whose_component_is_not_one_of_nts():
    table = CommandTable()
    with pytest.raises(ValueError, match="component 'Kernel' is not one of Ps, Ke"):
        table.add(CommandSpec("nap", lambda session, cmd: [], "sleep", component="Kernel"))


def test_help_all_gives_every_command_with_what_it_does():
    out = printed("help all", width=200)
    for spec in TABLE.specs:
        assert spec.name in out and spec.help in out


def test_help_with_a_component_lists_its_commands_and_only_those():
    out = printed("help PnP")
    assert out.startswith("PnP — Plug and Play manager")
    assert "device plug" in out and "driver install" in out
    assert "irp send" not in out and "device stack" not in out


def test_help_ps_as_written_is_the_component_and_in_lower_case_the_ps_alias():
    assert "process create" in printed("help Ps") and "thread create" in printed("help Ps")
    assert printed("help ps").startswith("usage: process list")


def test_help_reg_set_at_80_columns_shows_every_registry_type_whole():
    out = printed("help reg set")
    assert "usage: reg set KEY VALUE DATA [--type TYPE]" in out
    flat = " ".join(out.split())
    assert ("one of: REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD, REG_MULTI_SZ, REG_QWORD"
            in flat)


def test_help_does_not_repeat_choices_its_text_already_names():
    assert "one of" not in printed("help view")  # "full, auto or quiet"


def test_help_of_a_command_wraps_its_usage_under_its_first_field_and_lists_program_steps():
    out = printed("help process create").splitlines()
    assert out[0].startswith("usage: process create IMAGE")
    assert out[1].startswith("       [--")  # under IMAGE, a whole field first
    steps = [line for line in out if line.startswith("  ") and " — " in line]
    assert [line.split()[0] for line in steps][:3] == ["compute", "sleep", "sleepex"]
    assert len(steps) == len(STEPS)  # one line each
