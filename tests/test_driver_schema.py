"""The JSON Schema for driver specs (`kmshell schema driver`): generated from the checker's
tables, valid, and satisfied by every catalog spec."""

from __future__ import annotations

import json
import re
import tomllib

import jsonschema
import pytest
from click.testing import CliRunner

from kmshell.cli import main
from kmshell.drivers import CATALOG, catalog, load_spec
from kmshell.drivers.schema import driver_schema
from kmshell.nt.constants import IRP_MJ
from kmshell.nt.io.spec import FIXED_ROUTINES, MINORS, SPEC_KEYS
from kmshell.nt.io.steps import DDIS

SCHEMA = driver_schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
STEP_PATTERNS = SCHEMA["definitions"]["steps"]["items"]["anyOf"]


def errors(spec: dict) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(spec)]


def test_the_schema_is_valid_draft_7_and_uses_only_draft_4_keywords_for_taplo():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    draft4 = {key: value for key, value in SCHEMA.items() if key != "$schema"}
    jsonschema.Draft4Validator.check_schema(draft4)
    text = json.dumps(SCHEMA)
    for newer in ('"const"', '"$defs"', '"if"', '"propertyNames"', '"contains"'):
        assert newer not in text


def test_the_schema_lists_every_spec_key_with_its_meaning_and_a_type():
    properties = SCHEMA["properties"]
    assert list(properties) == list(SPEC_KEYS)
    for key, text in SPEC_KEYS.items():
        assert properties[key]["description"] == text
        assert "type" in properties[key], f"give {key} a value schema in kmshell/drivers/schema.py"


def test_the_schema_has_a_step_for_every_ddi_described_by_its_synopsis():
    described = {pattern["description"].split(":")[0].split()[0] for pattern in STEP_PATTERNS}
    assert described == set(DDIS)
    for ddi in DDIS.values():
        pattern = next(p for p in STEP_PATTERNS if p["description"].startswith(ddi.name + " ")
                       or p["description"].startswith(ddi.name + ":"))
        assert f"{ddi.name} {ddi.synopsis}".strip() in pattern["description"]
        assert re.search(pattern["pattern"], f"{ddi.name} {ddi.synopsis}".strip())


def test_the_schema_lists_every_routine_name_the_checker_takes():
    for table in ("routines", "pdo"):
        names = set(SCHEMA["properties"][table]["properties"])
        assert names == {*FIXED_ROUTINES, *IRP_MJ, *MINORS}


@pytest.mark.parametrize("name", catalog())
def test_every_catalog_spec_satisfies_the_schema(name):
    assert errors(tomllib.loads((CATALOG / f"{name}.toml").read_text("utf-8"))) == []


@pytest.mark.parametrize("step", [
    "IoCompleteRequest STATUS_SUCCESS", "if PendingReturned: IoMarkIrpPending",
    "else: return status", "if status == STATUS_PENDING: return status", "IoFreeIrp"])
def test_the_schema_accepts_steps_plain_and_guarded(step):
    assert errors({"name": "x", "type": "function",
                   "routines": {"IRP_MJ_READ": [step, "return STATUS_SUCCESS"]}}) == []


@pytest.mark.parametrize("spec", [
    {"name": "x", "type": "function", "hardware_id": []},
    {"name": "x", "type": "fucntion"},
    {"name": "x"},
    {"name": "x", "type": "function", "routines": {"IRP_MJ_REED": ["return STATUS_SUCCESS"]}},
    {"name": "x", "type": "function", "routines": {"IRP_MJ_READ": ["IoCompleteRequst x"]}},
    {"name": "x", "type": "function", "routines": {"IRP_MJ_READ": ["IoCompleteRequestX"]}},
    {"name": "x", "type": "function", "messages": 0},
])
def test_the_schema_refuses_a_misspelt_key_value_routine_or_step(spec):
    assert errors(spec)


def test_kmshell_schema_driver_prints_the_schema_as_json():
    result = CliRunner().invoke(main, ["schema", "driver"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(json.dumps(SCHEMA))


def test_kmshell_schema_driver_o_writes_the_file_and_refuses_a_directory(tmp_path):
    target = tmp_path / "driver.schema.json"
    assert CliRunner().invoke(main, ["schema", "driver", "-o", str(target)]).exit_code == 0
    assert json.loads(target.read_text("utf-8")) == json.loads(json.dumps(SCHEMA))
    refused = CliRunner().invoke(main, ["schema", "driver", "-o", str(tmp_path)])
    assert refused.exit_code == 2 and "directory" in refused.output
    assert "Traceback" not in refused.output


def test_a_spec_with_a_taplo_schema_directive_still_loads(tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text("#:schema ./driver.schema.json\n"
                    + (CATALOG / "nullsink.toml").read_text("utf-8"), "utf-8")
    assert load_spec(str(path)).name == load_spec("nullsink").name
