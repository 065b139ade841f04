"""WMI: wmi query CLASS (a user-mode query answered by a driver), wmi list."""

from __future__ import annotations

from kmshell.commands.registry import command
from kmshell.language.spec import NAME, Arg
from kmshell.views.wmi import wmi_answer, wmi_table


@command("wmi query", "ask WMI for a class's data: the provider's driver answers an IRP",
         args=(Arg("cls", NAME, "a WMI class a driver registered, e.g. "
                   "ToasterDeviceInformation"),),
         details="The console user's shell asks the WMI service, which calls the kernel's WMI "
                 "component; it sends IRP_MJ_SYSTEM_CONTROL / IRP_MN_QUERY_ALL_DATA to the top "
                 "of the provider's device stack. Filters above must pass it down. `wmi list` "
                 "shows what is registered.",
         examples=("wmi query ToasterDeviceInformation",), component="WMI")
def wmi_query(session, cmd):
    system = session.system
    return [wmi_answer(system.wmi.wmi_query(cmd["cls"], caller=system.ps.console_shell()))]


@command("wmi list", "the WMI data blocks drivers have registered, and their providers",
         when_halted=True, component="WMI")
def wmi_list(session, cmd):
    return [wmi_table(session.system)]
