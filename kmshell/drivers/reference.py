"""docs/drivers.md, generated from the spec checker's tables, the DDI records and the catalog.

Regenerate with: python -m kmshell.drivers.reference > docs/drivers.md
(a test fails when the committed file and the tables disagree).
"""

from __future__ import annotations

from kmshell.drivers import driver_store
from kmshell.nt.constants import irql_name
from kmshell.nt.io.spec import FIXED_ROUTINES, SPEC_KEYS
from kmshell.nt.io.steps import CONDITIONS, DDIS, DIRQL, Ddi


def _ids(spec) -> str:
    return ", ".join(f"`{i}`" for i in spec.hardware_ids) or "(none: loaded with driver load)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a table cell, code spans included (GFM)


def _limit(ddi: Ddi) -> str:
    """The step's highest IRQL, linked to the WDK page it is from."""
    if not ddi.source:
        return "any (no WDK page: not a DDI)"
    limit = "any" if ddi.limit is None else "the device's DIRQL" if ddi.limit == DIRQL \
        else irql_name(ddi.limit)
    return f"[{limit}]({ddi.source})"


def _step_row(ddi: Ddi) -> str:
    synopsis = f" `{_cell(ddi.synopsis)}` " if ddi.synopsis else " "
    return f"| `{ddi.name}` |{synopsis}| {_limit(ddi)} | {_cell(ddi.help)} |"


def reference_markdown() -> str:
    out = [
        "# Driver spec reference",
        "",
        "Generated from the spec checker's tables and the catalog "
        "(`python -m kmshell.drivers.reference`); do not edit by hand.",
        "",
        "A driver is a TOML file: `driver load FILE.toml` loads one, and the catalog below "
        "ships with kmshell. Nothing in it is executed as Python: every routine is a list of "
        "steps, checked when the file is loaded, and a mistake is reported as FILE:LINE:COL "
        "with the routine and the step, and the closest valid name when there is one "
        "(`lab.toml:9:5: routine IRP_MJ_READ, step 2 'IoCompleteRequst STATUS_SUCCESS': "
        "unknown step 'IoCompleteRequst' — did you mean 'IoCompleteRequest'?`). The "
        "catalog's specs (`kmshell/drivers/*.toml`) are the examples.",
        "",
        "`kmshell schema driver -o driver.schema.json` writes this reference as a JSON "
        "Schema, from the same tables, so that an editor checks and completes specs as you "
        "type ([instructors.md](instructors.md#editor-support-for-driver-specs)).",
        "",
        "    name = \"nullsink\"",
        "    type = \"function\"",
        "    description = \"completes reads at once\"",
        "    [routines]",
        "    DriverEntry = [\"IoCreateDevice NullSink\"]",
        "    IRP_MJ_READ = [\"IoCompleteRequest STATUS_END_OF_FILE\", "
        "\"return STATUS_END_OF_FILE\"]",
        "",
        "## Keys",
        "",
        "| key | meaning |",
        "|---|---|",
        *[f"| `{key}` | {_cell(text)} |" for key, text in SPEC_KEYS.items()],
        "",
        "## Routines",
        "",
        "Named routines: " + ", ".join(f"`{name}`" for name in FIXED_ROUTINES) + "; a dispatch "
        "routine per major function (`IRP_MJ_READ`) or, for IRP_MJ_PNP, IRP_MJ_POWER, "
        "IRP_MJ_SYSTEM_CONTROL and IRP_MJ_FILE_SYSTEM_CONTROL, per minor function "
        "(`IRP_MN_START_DEVICE`), which comes first. A dispatch, PDO or completion routine "
        "ends with `return STATUS` or `return status` (what the last call returned).",
        "",
        "## Conditions",
        "",
        "A step may be guarded, as the C code tests before it calls: `if COND: STEP` runs "
        "STEP only when COND holds, and an `else: STEP` right after it runs only when it did "
        "not. A routine may end with `if COND: return X` then `else: return Y`. The trace "
        "shows each test and its answer.",
        "",
        "| condition | true when |",
        "|---|---|",
        *[f"| `{_cell(name)}` | {_cell(text)} |" for name, text in CONDITIONS.items()],
        "",
        "    [completion]",
        "    ReadDone = [\"if PendingReturned: IoMarkIrpPending\", \"return STATUS_SUCCESS\"]",
        "    [ioctl]",
        "    \"0x222003\" = [\"IoCompleteRequest STATUS_SUCCESS\", \"return STATUS_SUCCESS\"]",
        "",
        "## Steps",
        "",
        "Each step is a DDI with its real name and its arguments. Called above its highest "
        "IRQL (from the Requirements of the routine's WDK page, which it links to), a step "
        "stops the machine with 0xA IRQL_NOT_LESS_OR_EQUAL.",
        "",
        "| step | arguments | highest IRQL | what it does |",
        "|---|---|---|---|",
        *[_step_row(ddi) for ddi in DDIS.values()],
        "",
        "## The catalog",
        "",
        "| driver | type | hardware IDs | what it is |",
        "|---|---|---|---|",
        *[f"| `{spec.name}` | {spec.type}"
          + (f" ({spec.position})" if spec.type == "filter" and spec.hardware_ids else "")
          + f" | {_ids(spec)} "
          f"| {_cell(spec.description)} |" for spec in driver_store()],
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(reference_markdown(), end="")
