"""A driver spec's mistakes, as the author sees them: FILE:LINE:COL, what is wrong, and the
closest valid name (difflib)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmshell.drivers import load_spec
from kmshell.drivers.locate import locate
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.session import Session

LAB = """\
# a lab driver
name = "lab"
type = "function"

[routines]
DriverEntry = ["IoCreateDevice Lab"]
IRP_MJ_READ = [
    "IoMarkIrpPending",
    "IoCompleteRequst STATUS_SUCCESS",   # the typo
    "return STATUS_SUCCESS",
]
"""


def spec_error(tmp_path, text: str) -> str:
    path = tmp_path / "lab.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(SpecError) as error:
        load_spec(str(path))
    return str(error.value)


def routine_error(routines: dict) -> str:
    with pytest.raises(SpecError) as error:
        spec_from_dict({"name": "x", "type": "function", "routines": routines}, "x.toml")
    return str(error.value)


@pytest.mark.parametrize("typo, meant", [("IoCompleteRequst", "IoCompleteRequest"),
                                         ("KeAquireSpinLock", "KeAcquireSpinLock"),
                                         ("iomarkirppendng", "IoMarkIrpPending")])
def test_a_misspelt_step_suggests_the_closest_ddi(typo, meant):
    message = routine_error({"IRP_MJ_READ": [f"{typo} x", "return STATUS_SUCCESS"]})
    assert f"unknown step '{typo}' — did you mean '{meant}'?" in message


def test_a_step_like_no_ddi_lists_them_all_instead():
    assert "unknown step 'Frobnicate'; known: IoCreateDevice, " in routine_error(
        {"DriverEntry": ["Frobnicate"]})


@pytest.mark.parametrize("routines, suggestion", [
    ({"IRP_MJ_REED": ["return STATUS_SUCCESS"]}, "did you mean 'IRP_MJ_READ'?"),
    ({"IRP_MN_START_DEVIC": ["return STATUS_SUCCESS"]}, "did you mean 'IRP_MN_START_DEVICE'?"),
    ({"DriverEntri": ["IoCreateDevice"]}, "did you mean 'DriverEntry'?"),
    ({"IRP_MJ_READ": ["if PendingReturnd: IoMarkIrpPending", "return STATUS_SUCCESS"]},
     "'PendingReturnd' is not a condition — did you mean 'PendingReturned'?"),
    ({"IRP_MJ_READ": ["if IoStatus.Statu == STATUS_SUCCESS: IoMarkIrpPending",
                      "return STATUS_SUCCESS"]}, "did you mean 'IoStatus.Status'?"),
    ({"IRP_MJ_READ": ["IoCompleteRequest STATUS_SUCESS", "return STATUS_SUCCESS"]},
     "'STATUS_SUCESS' is not an NTSTATUS — did you mean 'STATUS_SUCCESS'?"),
    ({"IRP_MJ_READ": ["return STATUS_PENDNG"]}, "did you mean 'STATUS_PENDING'?"),
])
def test_a_misspelt_routine_condition_or_status_suggests_the_closest_name(routines, suggestion):
    assert suggestion in routine_error(routines)


@pytest.mark.parametrize("data, suggestion", [
    ({"name": "x", "type": "function", "hardware_id": []}, "did you mean 'hardware_ids'?"),
    ({"name": "x", "type": "fucntion"}, "did you mean 'function'?"),
    ({"name": "x", "type": "filter", "position": "uper"}, "did you mean 'upper'?"),
])
def test_a_misspelt_key_or_value_suggests_the_closest_one(data, suggestion):
    with pytest.raises(SpecError) as error:
        spec_from_dict(data, "x.toml")
    assert suggestion in str(error.value)


def test_a_step_error_names_the_line_and_column_of_the_step(tmp_path):
    assert spec_error(tmp_path, LAB) == (
        "lab.toml:9:5: routine IRP_MJ_READ, step 2 'IoCompleteRequst STATUS_SUCCESS': "
        "unknown step 'IoCompleteRequst' — did you mean 'IoCompleteRequest'?")


def test_a_repeated_step_is_placed_at_its_own_occurrence_in_its_own_routine(tmp_path):
    text = ('name = "lab"\ntype = "function"\n[routines]\n'
            'IRP_MJ_READ = ["if Cancel: IoFreeIrp", "else: IoFreeIrp", "return status"]\n'
            '[pdo]\nIRP_MJ_READ = ["if Cancel: IoFreeIrp", "else: IoFreeIrp",\n'
            '               "else: IoFreeIrp", "return status"]\n')
    assert spec_error(tmp_path, text).startswith(
        "lab.toml:7:16: routine IRP_MJ_READ of its PDOs, step 3 'else: IoFreeIrp': an else "
        "step follows")


@pytest.mark.parametrize("text, place", [
    ('name = "lab"\ntype = "function"\n\nhardware_id = []\n', "lab.toml:4:1: unknown key"),
    ('name = "lab"\n  type = "fucntion"\n', "lab.toml:2:3: type = 'fucntion'"),
    ('name = "lab"\ntype = "function"\n[routines]\n"IRP_MJ_REED" = ["return status"]\n',
     "lab.toml:4:1: unknown routine 'IRP_MJ_REED'"),
    ('name = "lab"\ntype = "function"\nroutines.IRP_MJ_READ = ["IoCallDriver lower"]\n',
     "lab.toml:3:1: routine IRP_MJ_READ must end with a return step"),
    ('name = "lab"\ntype = "function"\n[ioctl]\n"0x222003" = [\n  "Nope"]\n',
     "lab.toml:5:3: [ioctl] case 0x222003, step 1 'Nope'"),
    ('name = "lab"\ntype = "function"\n[pdo]\nIRP_MJ_READ = ["return status"]\n'
     '[routines]\nIRP_MJ_READ = ["return statsu"]\n', "lab.toml:6:16: routine IRP_MJ_READ,"),
])
def test_a_key_or_routine_error_is_placed_at_its_key_or_step(tmp_path, text, place):
    assert spec_error(tmp_path, text).startswith(place)


def test_an_error_of_the_whole_spec_keeps_file_colon_message(tmp_path):
    text = ('name = "lab"\ntype = "function"\n[routines]\n'
            'DriverEntry = ["IoWMIRegistrationControl REGISTER"]\n')
    assert spec_error(tmp_path, text).startswith("lab.toml: IoWMIRegistrationControl REGISTER")


@pytest.mark.parametrize("text, place", [
    ('name = "lab"\ntype = \n', "lab.toml:2:8: not valid TOML: Invalid value"),
    ('name = "lab"\n[routines]\nDriverEntry = ["IoCreateDevice"', "lab.toml:3:32: not valid "
                                                                   "TOML: Unclosed array"),
])
def test_a_toml_syntax_error_is_file_line_col_and_what_tomllib_found(tmp_path, text, place):
    assert spec_error(tmp_path, text) == place


def test_driver_load_of_a_bad_spec_shows_the_place_and_no_traceback(tmp_path):
    (tmp_path / "lab.toml").write_text(LAB, "utf-8")
    outcome = Session().execute(f'driver load "{tmp_path / "lab.toml"}"')
    assert outcome.error is not None and "Traceback" not in outcome.error.message
    assert outcome.error.message.startswith("lab.toml:9:5: routine IRP_MJ_READ, step 2")


@given(st.text(max_size=300), st.lists(st.one_of(st.text(max_size=8), st.integers(-2, 5)),
                                        max_size=4))
def test_the_locator_never_fails_and_places_inside_the_text(text, at):
    place = locate(text, {}, tuple(at))
    if place is not None:
        line, column = place
        lines = text.split("\n")
        assert 1 <= line <= len(lines) and 1 <= column <= len(lines[line - 1]) + 1
