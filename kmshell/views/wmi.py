"""WMI: a query's answer as the WMI service returns it, and the registered data blocks."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table

from kmshell.nt.constants import format_status
from kmshell.views.io import irp_path
from kmshell.views.layout import deferred, fields, titled


@deferred
def wmi_answer(answer) -> Group:
    block = answer.block
    rows = fields([("Class", block.name), ("InstanceName", block.instance),
                   ("Provider", f"{block.device.label} ({block.device.driver.image})"),
                   ("Status", format_status(answer.status))])
    parts: list[RenderableType] = [rows]
    if answer.values:
        table = titled("data block", "property", "value")
        for name, value in answer.values.items():
            table.add_row(name, f'"{value}"' if isinstance(value, str) else str(value))
        parts.append(table)
    parts.append(irp_path(answer.irp))
    return Group(*parts)


@deferred
def wmi_table(system) -> Table:
    table = titled("WMI data blocks registered", "class", "instance", "provider", "driver")
    for block in sorted(system.wmi.wmi_blocks.values(), key=lambda b: b.name.lower()):
        table.add_row(block.name, block.instance, block.device.label, block.device.driver.image)
    if not system.wmi.wmi_blocks:
        table.caption = "no driver has registered with IoWMIRegistrationControl"
    return table
