"""Bad input gets a clear error that says what was wrong, where and what would be valid:
numbers in their documented ranges, ASCII digits only, no empty names, no control
characters, and never Python's own wording."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from kmshell.commands import TABLE
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.nt.rtl import control_character, parse_number, printable
from kmshell.scenario import ScenarioError, parse_scenario
from kmshell.session import Session
from kmshell.views.console import make_console
from kmshell.views.outcome import render_outcome

PYTHON_WORDING = ("invalid literal", "base 10", "Exceeds the limit", "int()", "Traceback",
                  "object has no attribute", "NoneType")


def error_of(line: str, session: Session | None = None) -> str:
    outcome = (session or Session()).execute(line)
    assert not outcome.ok, f"{line!r} was accepted"
    text = outcome.error.describe()
    assert not any(words in text for words in PYTHON_WORDING), text
    return text


@pytest.mark.parametrize(("line", "expected"), [
    (f"step {10**23}", "out of range: 0..1,000,000"),
    (f"run --max {10**8}", "out of range: 0..1,000,000"),
    (f"seed {2**64}", "out of range: 0..2**64-1"),
    (f"touch explorer.exe {2**200}", "a number here is 0..2**64-1"),
    ("ioctl explorer.exe 0x10 0x1ffffffff", "does not fit in 32 bits"),
    ("cpu show 0x" + "f" * 5000, "5002 characters long"),
    ("step ²", "'²' is not a number (decimal digits 0-9, or hex as 0x1F)"),
    ("step ١٢", "'١٢' is not a number"),
    ("thread create explorer.exe --program \"compute ¹⁷⁶\"", "'¹⁷⁶' is not a number"),
])
def test_every_count_has_a_range_and_only_ascii_digits_are_digits(line, expected):
    assert expected in error_of(line)


def test_a_scenarios_seed_takes_ascii_digits_in_range():
    for value, expected in (("²", "'²' is not a number"), (str(2**64), "out of range")):
        with pytest.raises(ScenarioError, match=expected):
            parse_scenario(f"seed {value}\n", TABLE, "lab.kms")


def test_a_spec_step_argument_takes_ascii_digits_only():
    spec = {"name": "digits", "type": "function",
            "routines": {"DriverEntry": ["IoCreateDevice Digits",
                                         "ExAllocatePool2 NONPAGED ¹⁷⁶ Tag1"]}}
    with pytest.raises(SpecError, match="ExAllocatePool2 takes NONPAGED or PAGED, a size"):
        spec_from_dict(spec, "digits.toml")


def test_parse_number_refuses_long_text_before_converting_it():
    with pytest.raises(ValueError, match="100000 characters long"):
        parse_number("9" * 100_000)


@pytest.mark.parametrize("line", ['step ""', 'quit ""', "help ''"])
def test_an_empty_quoted_word_is_an_error_not_swallowed(line):
    assert "is empty" in error_of(line) or "unexpected argument ''" in error_of(line)


@pytest.mark.parametrize(("line", "expected"), [
    ('process create ""', "IMAGE is empty"),
    ('log create ""', "NAME is empty"),
    ('device plug HTREE\\ROOT\\0 ""', "HWID is empty"),
    ('event create ""', "NAME is empty"),
    ('driver load ""', "NAME is empty"),
])
def test_empty_names_are_refused(line, expected):
    assert expected in error_of(line)


def test_device_tree_refuses_arguments_it_cannot_honour():
    assert "'foo' is not a number" in error_of("device tree foo bar")
    assert "only the whole tree" in error_of("!devnode 5")
    assert Session().execute("!devnode 0 1").ok


@pytest.mark.parametrize("name", ["..\\..\\evil", "a/b", "", ".", "..", "x" * 65, "a b"])
def test_a_spec_name_must_be_one_plain_path_component(name):
    spec = {"name": name, "type": "function", "routines": {"DriverEntry": []}}
    with pytest.raises(SpecError, match="is not a driver name|must be a string"):
        spec_from_dict(spec, "evil.toml")


ESCAPES = ["\x1b]0;pwned\x07", "\x1b[2J", "\x9b2J", "a\u2028b", "\x00"]


@pytest.mark.parametrize("bad", ESCAPES)
def test_control_characters_in_a_line_are_refused_and_shown_escaped(bad):
    session = Session()
    line = f'process create "{bad}.exe"'
    outcome = session.execute(line)
    assert not outcome.ok and "control character U+" in outcome.error.message
    screen = io.StringIO()
    console = make_console(file=screen, no_color=True)
    for part in render_outcome(outcome, session.settings):
        console.print(part)
    controls = [c for c in bad if control_character(c) is not None]
    assert controls and not any(c in screen.getvalue() for c in controls)
    assert printable(bad) in screen.getvalue()


@pytest.mark.parametrize("bad", ESCAPES)
def test_control_characters_in_scenario_lines_are_located_errors(bad):
    with pytest.raises(ScenarioError, match=r"lab\.kms:2:[56]: control character U\+"):
        parse_scenario(f"title ok\nsay {bad} here\n", TABLE, "lab.kms")


def test_a_spec_string_with_an_escape_sequence_is_refused():
    spec = {"name": "ansi", "type": "function", "description": "\x1b]0;pwned\x07",
            "routines": {"DriverEntry": []}}
    with pytest.raises(SpecError, match=r"holds control character U\+001B") as error:
        spec_from_dict(spec, "ansi.toml")
    assert "\x1b" not in str(error.value)


def test_a_file_name_with_escapes_is_shown_escaped_by_the_cli(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kmshell", "run", "\x1b[2Jgone.kms"],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "\\x1b[2Jgone.kms: no such file" in result.stderr
    assert "\x1b" not in result.stderr + result.stdout


INVISIBLE = [0x061C, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF]


def test_control_characters_are_cc_zl_zp_cs_and_the_invisible_bidi_marks_but_not_tab():
    import unicodedata

    expected = sorted({code for code in range(0x110000) if chr(code) != "\t"
                       and unicodedata.category(chr(code)) in ("Cc", "Zl", "Zp", "Cs")}
                      | set(INVISIBLE))
    found = [code for code in range(0x110000) if control_character(chr(code)) is not None]
    assert found == expected


@pytest.mark.parametrize("query", ["cpu ² irql == 0", "irp ² status == STATUS_SUCCESS",
                                   "thread ² state == Ready", "thread 0x" + "f" * 5000 +
                                   " state == Ready", "cpu " + "9" * 5000 + " irql == 0"])
def test_an_expectation_with_a_bad_number_fails_with_a_message(query):
    from kmshell.scenario import Replay

    result = Replay(parse_scenario(f"step\nexpect {query}\n", TABLE, "lab.kms"),
                    Session()).run()
    assert len(result.failures) == 1
    assert not any(words in str(result.failures[0]) for words in PYTHON_WORDING)


@pytest.mark.parametrize("value", ["0x" + "f" * 5000, "²", "NOT_A_STOP_CODE"])
def test_an_expected_value_a_field_cannot_hold_is_a_located_error_before_anything_runs(value):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(f"step\nexpect bugcheck code == {value}\n", TABLE, "lab.kms")
    message = str(caught.value)
    assert message.startswith("lab.kms:2:25: bugcheck code: ") and "use hex (0xEF)" in message
    assert len(message) < 300 and not any(words in message for words in PYTHON_WORDING)


@pytest.mark.parametrize("line", ['help " "', 'event create " "', 'mutex create "\t"',
                                  'semaphore create " "', 'timer create " "',
                                  'spinlock create " "', 'event create " x"'])
def test_a_blank_or_space_padded_name_is_an_error(line):
    assert "is blank" in error_of(line) or "no spaces at either end" in error_of(line)


@pytest.mark.parametrize("name", ["a\\b", "..\\..\\evil", "x\\", ".", ".."])
def test_a_device_name_in_a_spec_is_one_name_in_one_directory(name):
    spec = {"name": "devname", "type": "function",
            "routines": {"DriverEntry": [f"IoCreateDevice {name}"]}}
    with pytest.raises(SpecError, match="is not a device name"):
        spec_from_dict(spec, "devname.toml")


@pytest.mark.parametrize(("line", "expected"), [
    ('sd set \\BaseNamedObjects\\Go "D:P(A;;0x' + "F" * 5000 + ';;;WD)"', "5002 characters"),
    ('sd set \\BaseNamedObjects\\Go "D:P(A;;0xFFFFFFFFFFFF;;;WD)"', "out of range: 0..2**32-1"),
    ('sd set \\BaseNamedObjects\\Go "D:P(A;;GA;;;S-1-5-' + "9" * 5000 + ')"', "is not a SID"),
    ("process kill explorer.exe --exit-code 0x" + "0" * 5000 + "5", "--exit-code"),
])
def test_access_masks_sids_and_exit_codes_have_their_windows_widths(line, expected):
    session = Session()
    session.execute("event create Go")
    message = error_of(line, session)
    assert expected in message and len(message) < 400


def test_a_registry_tree_is_at_most_512_levels_deep():
    deep = "HKLM\\SOFTWARE\\" + "\\".join(["a"] * 1000)
    assert "a registry tree can be 512 levels deep" in error_of(f"reg set {deep} V x")
    assert "512 levels deep" in error_of(f"reg ls {deep}")
    ok = "HKLM\\SOFTWARE\\" + "\\".join(["a"] * 509)  # HKLM, SOFTWARE and 509: 511 names
    session = Session()
    assert session.execute(f"reg set {ok} V x").ok
    assert session.system.cm.registry.open(ok).path.count("\\") == 510
