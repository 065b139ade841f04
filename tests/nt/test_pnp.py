"""Plug and Play rules, one per test: the boot tree, enumeration, AddDevice and START order,
query-remove vetoes, removal children first, surprise removal."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from kmshell.commands import TABLE
from kmshell.drivers import driver_store, new_system
from kmshell.nt import System, SystemHalted
from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.nt.pnp import CM_PROB_FAILED_INSTALL, DevnodeState

JOYSTICK = "USB\\VID_045E&PID_0008"
HUB = "USB\\VID_05E3&PID_0610"
STARTED = DevnodeState.DeviceNodeStarted


def texts(system: System, start: int = 0) -> list[str]:
    return [event.text for event in system.core.log[start:]]


def test_the_default_machine_boots_the_seed_tree_from_the_root_enumerator():
    system = new_system()
    paths = {node.instance_path: node for node in system.pnp.device_root.walk()}
    chain = ["HTREE\\ROOT\\0", "ACPI_HAL\\PNP0C08\\0", "ACPI\\PNP0A08\\0",
             "PCI\\VEN_8086&DEV_A36D&CC_0C0330\\0", "USB\\ROOT_HUB30\\0"]
    for parent, child in pairwise(chain):
        assert paths[child].parent is paths[parent]
    assert "ACPI\\PNP0303\\0" in paths and "SCSI\\DISK&VEN_WDC&PROD_WD10EZEX\\0" in paths
    assert all(node.state is STARTED for node in paths.values())


def test_a_plugged_device_gets_a_pdo_from_its_bus_driver_and_a_stack_from_adddevice():
    system = new_system()
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    assert node.pdo.driver.name == "USBHUB3" and node.pdo.is_pdo
    assert [d.label for d in node.stack()] == ["\\Device\\Joystick0", "\\Device\\USBPDO-1"]
    assert node.state is STARTED
    assert [s for _, s in node.history][:3] == [DevnodeState.DeviceNodeInitialized,
                                                DevnodeState.DeviceNodeDriversAdded,
                                                DevnodeState.DeviceNodeResourcesAssigned]


def test_the_enum_key_records_the_service_the_pnp_manager_loads():
    system = new_system()
    system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    key = system.cm.registry.open("HKLM\\SYSTEM\\CurrentControlSet\\Enum\\" + JOYSTICK + "\\0")
    assert key.values["SERVICE"].data == "HidUsb"


def test_adddevice_runs_lower_filters_then_the_function_driver_then_upper_filters():
    def spec(name, kind, position="upper"):
        return spec_from_dict({"name": name, "type": kind, "position": position,
                               "hardware_ids": ["TEST\\GADGET"], "routines": {
                                   "AddDevice": ["IoCreateDevice",
                                                 "IoAttachDeviceToDeviceStack pdo"],
                                   "IRP_MJ_PNP": ["IoSkipCurrentIrpStackLocation",
                                                  "IoCallDriver lower", "return status"]}},
                              f"{name}.toml")
    store = (spec("upper1", "filter"), spec("func", "function"),
             spec("lower1", "filter", "lower"))
    system = new_system()
    for package in store:
        system.pnp.add_driver_package(package)
    start = len(system.core.log)
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), "TEST\\GADGET")
    added = [t.split()[2] for t in texts(system, start) if t.startswith("AddDevice of")]
    assert added == ["lower1", "func", "upper1"]
    assert [d.driver.name for d in node.stack()] == ["upper1", "func", "lower1", "USBHUB3"]


def test_the_function_driver_finishes_start_only_after_the_pdo_completed_it():
    system = new_system()
    start = len(system.core.log)
    system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    log = texts(system, start)
    pdo_done = log.index("USBHUB3 completes IRP 3 with 0x00000000 STATUS_SUCCESS")
    routine = next(i for i, t in enumerate(log) if "completion routine HidUsb!StartDone" in t)
    fdo_done = log.index("HidUsb completes IRP 3 with 0x00000000 STATUS_SUCCESS")
    assert pdo_done < routine < fdo_done


def test_hardware_no_driver_serves_gets_problem_code_28():
    system = new_system()
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), "USB\\VID_DEAD&PID_BEEF")
    assert node.problem == CM_PROB_FAILED_INSTALL
    assert node.state is DevnodeState.DeviceNodeInitialized


def test_an_open_handle_vetoes_an_orderly_removal():
    system = new_system()
    system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    explorer = next(p for p in system.ps.processes.values() if p.image == "explorer.exe")
    system.files.open_file(explorer, "\\Device\\Joystick0")
    with pytest.raises(NtError) as veto:
        system.pnp.unplug(system.io.find_device("Joystick0"))
    assert veto.value.status == NtStatus.STATUS_PLUGPLAY_QUERY_VETOED
    assert "PNP_VetoOutstandingOpen" in str(veto.value)
    assert system.pnp.devnode_of(system.io.find_device("Joystick0")).state is STARTED


def test_a_driver_that_fails_query_remove_vetoes_it_and_gets_cancel_remove():
    system = new_system()
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), "USB\\VID_0BDA&PID_8153")
    start = len(system.core.log)
    with pytest.raises(NtError, match="PNP_VetoDevice"):
        system.pnp.unplug(node.pdo)
    assert any("IRP_MN_CANCEL_REMOVE_DEVICE" in t for t in texts(system, start))
    assert node.state is STARTED and node.pdo in system.io.devices


def test_orderly_removal_removes_children_first_and_unloads_a_driver_left_without_devices():
    system = new_system()
    hub = system.pnp.plug(system.io.find_device("USBPDO-0"), HUB)
    joystick = system.pnp.plug(hub.pdo, JOYSTICK)
    start = len(system.core.log)
    system.pnp.unplug(hub.pdo)
    removed = [t.split()[0] for t in texts(system, start) if t.endswith("DeviceNodeDeleted")]
    assert removed == [joystick.instance_path, hub.instance_path]
    assert "hidusb" not in system.io.drivers and joystick.pdo not in system.io.devices


def test_drivers_left_without_devices_unload_top_of_the_stack_first():
    """Found by the determinism property test: the order once followed object addresses."""
    system = new_system()
    keyboard = system.pnp.devnode_of(system.io.find_device("KeyboardClass0"))
    start = len(system.core.log)
    system.pnp.unplug(keyboard.pdo)
    unloaded = [e.text.split()[0] for e in system.core.log[start:] if e.kind == "driver-unload"]
    assert unloaded == ["kbdclass", "i8042prt"]


def test_surprise_removal_fails_pending_irps_and_finishes_when_the_last_handle_closes():
    system = new_system()
    system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    explorer = next(p for p in system.ps.processes.values() if p.image == "explorer.exe")
    handle = system.files.open_file(explorer, "\\Device\\Joystick0")
    system.files.file_io(explorer, handle, "IRP_MJ_READ", "NtReadFile")
    node = system.pnp.devnode_of(system.io.find_device("Joystick0"))
    system.pnp.unplug(node.pdo, surprise=True)
    assert not system.io.irps
    assert any("STATUS_NO_SUCH_DEVICE" in t for t in texts(system))
    assert node.state is DevnodeState.DeviceNodeRemovePendingCloses
    system.files.close_handle(explorer, handle)
    assert node.state is DevnodeState.DeviceNodeDeleted and node not in node.parent.children


def test_after_surprise_removal_new_io_fails_at_once_and_no_interrupt_completes_it():
    """The function driver fails a new request with STATUS_NO_SUCH_DEVICE (an open too),
    nothing is left pending below for the controller's interrupt to complete with success,
    and CLEANUP and CLOSE still reach the stack so the removal can finish."""
    system = new_system()
    system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    explorer = next(p for p in system.ps.processes.values() if p.image == "explorer.exe")
    handle = system.files.open_file(explorer, "\\Device\\Joystick0")
    node = system.pnp.devnode_of(system.io.find_device("Joystick0"))
    system.pnp.unplug(node.pdo, surprise=True)
    start = len(system.core.log)
    system.files.file_io(explorer, handle, "IRP_MJ_READ", "NtReadFile")
    read = list(system.io.finished_irps.values())[-1]
    assert read.major == "IRP_MJ_READ" and read.status == NtStatus.STATUS_NO_SUCH_DEVICE
    assert not system.io.irps  # failed at HidUsb: no IRP of its own went down to the controller
    failed = [t for t in texts(system, start) if "fails IRP_MJ_READ" in t]
    assert failed and failed[0].startswith("HidUsb fails IRP_MJ_READ with STATUS_NO_SUCH_DEVICE")
    assert any("NtReadFile returns 0xC000000E STATUS_NO_SUCH_DEVICE" in t
               for t in texts(system, start))
    with pytest.raises(NtError, match="refused IRP_MJ_CREATE") as refused:
        system.files.open_file(explorer, "\\Device\\Joystick0")
    assert refused.value.status == NtStatus.STATUS_NO_SUCH_DEVICE
    start = len(system.core.log)
    system.ke.interrupt(system.io.find_device("USBFDO-0"))
    assert not [e for e in system.core.log[start:] if e.kind in ("irp-done", "irp-up")]
    system.files.close_handle(explorer, handle)
    assert node.state is DevnodeState.DeviceNodeDeleted


def test_every_hardware_id_the_plug_help_suggests_is_served_by_a_catalog_driver():
    suggested = re.findall(r"USB\\VID_\w+&PID_\w+", TABLE.lookup("device plug").details)
    served = {i for spec in driver_store() for i in spec.hardware_ids}
    assert suggested and set(suggested) <= served


def test_the_hubs_pdo_has_a_stack_location_more_than_the_hub_to_pass_irps_on():
    system = new_system()
    hub_fdo = next(d for d in system.io.find_device("USBPDO-0").stack()
                   if d.driver.name == "USBHUB3")
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    assert node.pdo.stack_size == hub_fdo.stack_size + 1
    assert system.io.find_device("Joystick0").stack_size == node.pdo.stack_size + 1


def test_hidusb_serves_a_read_with_its_own_irp_that_waits_at_the_host_controller():
    system = new_system()
    system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    read = system.io.send_irp(system.io.find_device("Joystick0"), "IRP_MJ_READ")
    urb = next(i for i in system.io.irps.values() if i.master is read)
    assert read.location.device.label == "\\Device\\Joystick0" and read.location.pending
    assert urb.stack[-1].major == "IRP_MJ_INTERNAL_DEVICE_CONTROL" and urb.code == 0x220003
    assert [d.label for d in urb.reached] == ["\\Device\\USBPDO-1", "\\Device\\USBPDO-0"]
    assert urb.location.device.driver.name == "USBXHCI"
    start = len(system.core.log)
    system.ke.interrupt(system.io.find_device("USBFDO-0"))
    assert read.completed and read.status == 0 and urb.completed and not system.io.irps
    ups = [e for e in system.core.log[start:] if e.kind == "irp-up"]
    assert "HidUsb!UrbDone" in ups[0].text and ups[0].irql == 2  # in the DPC
    assert system.io.finished_irps[urb.number].status == 0  # freed by HidUsb (IoFreeIrp)


def test_a_driver_built_irp_freed_without_more_processing_required_is_not_finished_twice():
    system = new_system()
    system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    system.io.send_irp(system.io.find_device("Joystick0"), "IRP_MJ_READ")
    system.ke.interrupt(system.io.find_device("USBFDO-0"))
    done = [e.text.split()[1] for e in system.core.log if e.kind == "irp-done"]
    assert len(done) == len(set(done))


def test_surprise_removal_fails_an_irp_held_below_the_removed_stack():
    system = new_system()
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    irp = system.io.send_irp(system.io.find_device("Joystick0"), "IRP_MJ_READ")
    system.pnp.unplug(node.pdo, surprise=True)
    assert irp.completed and irp.status == NtStatus.STATUS_NO_SUCH_DEVICE


def test_surprise_removal_leaves_an_irp_its_allocating_driver_took_back_to_that_driver():
    """The filter's own IRP came back up and its completion routine kept it: at no device's
    stack location, it is the filter's to free, not a pending request to fail."""
    keep = ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower", "return status"]
    keeper = {"name": "keeper", "type": "filter", "position": "upper",
              "hardware_ids": [JOYSTICK], "completion": {
                  "Keep": ["return STATUS_MORE_PROCESSING_REQUIRED"]}, "routines": {
                  "AddDevice": ["IoCreateDevice", "IoAttachDeviceToDeviceStack pdo"],
                  "IRP_MJ_PNP": keep, "IRP_MJ_POWER": keep,
                  "IRP_MN_REMOVE_DEVICE": [*keep[:2], "IoDetachDevice", "IoDeleteDevice",
                                           "return status"],
                  "IRP_MJ_READ": ["IoMarkIrpPending", "IoAllocateIrp IRP_MJ_READ",
                                  "IoSetCompletionRoutine Keep", "IoCallDriver lower",
                                  "return STATUS_PENDING"]}}
    system = new_system()
    system.pnp.add_driver_package(spec_from_dict(keeper, "keeper.toml"))
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    read = system.io.send_irp(node.pdo.top(), "IRP_MJ_READ")
    system.ke.interrupt(system.io.find_device("USBFDO-0"))  # HidUsb finishes keeper's IRP
    own = next(i for i in system.io.irps.values() if i.master is read)
    assert own.location is None and not own.completed
    system.pnp.unplug(node.pdo, surprise=True)
    assert node.state is DevnodeState.DeviceNodeDeleted
    assert not own.completed and not read.completed  # keeper's leak, not the PnP manager's


def test_only_a_pdo_routine_may_pass_an_irp_to_the_parent_stack():
    data = {"name": "bad", "type": "function",
            "routines": {"IRP_MJ_READ": ["IoCallDriver parent", "return status"]}}
    with pytest.raises(SpecError, match="'IoCallDriver parent' is for a bus driver's \\[pdo\\]"):
        spec_from_dict(data, "bad.toml")


def test_completing_an_irp_into_a_driver_that_unloaded_bugchecks_0xce():
    system = new_system()
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    system.io.send_irp(system.io.find_device("Joystick0"), "IRP_MJ_READ")
    system.pnp.unplug(node.pdo)  # HidUsb unloads; its read still pends at the host controller
    assert "hidusb" not in system.io.drivers and system.io.irps
    with pytest.raises(SystemHalted):
        system.ke.interrupt(system.io.find_device("USBFDO-0"))
    info = system.core.bugcheck_info
    assert info.code == 0xCE and info.routine == "UrbDone" and info.parameters[1] == 0


def test_the_same_device_plugged_again_while_its_old_devnode_awaits_closes_gets_a_new_one():
    """Found by the scenario fuzzer: the surprise-removed devnode hid the new arrival."""
    system = new_system()
    old = system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    process = system.ps.create_process("app.exe")
    system.ke.step(3)
    system.files.open_file(process, "\\Device\\Joystick0")
    system.pnp.unplug(old.pdo, surprise=True)
    assert old.state is DevnodeState.DeviceNodeRemovePendingCloses
    new = system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    assert new is not old and new.state is STARTED and new.instance_path.endswith("\\1")


TOASTER = "{b85b7c50-6a01-11d2-b841-00c04fad5171}\\MsToaster"  # the WDK sample's hardware ID


def toaster_bus(system: System):
    """devcon install bus.inf root\\busenum: a root-enumerated toaster bus."""
    return system.pnp.plug(system.io.find_device("HTREE\\ROOT\\0"), "ROOT\\BUSENUM")


def test_a_devnodes_instance_path_names_its_pdo():
    system = new_system()
    assert system.io.find_device("HTREE\\ROOT\\0") is system.pnp.device_root.pdo


def test_the_toaster_bus_is_root_enumerated_and_its_driver_is_a_bus_driver_over_its_pdo():
    system = new_system()
    bus = toaster_bus(system)
    assert bus.parent is system.pnp.device_root and bus.state is STARTED
    assert [d.driver.name for d in bus.stack()] == ["busenum", "PnpManager"]


def test_each_toaster_plugged_into_the_bus_gets_a_pdo_and_the_toaster_family_stack():
    system = new_system()
    bus = toaster_bus(system)
    fdo = bus.stack()[0]
    first, second = (system.pnp.plug(fdo, TOASTER) for _ in range(2))
    assert bus.children == [first, second]
    for node in (first, second):
        assert node.state is STARTED
        assert [d.driver.name for d in node.stack()] == ["toasterupper", "toaster", "busenum"]
        assert node.pdo.is_pdo and node.pdo.driver.name == "busenum"


def test_the_toasters_upper_filter_is_installed_as_upperfilters_under_its_enum_key():
    system = new_system()
    node = system.pnp.plug(toaster_bus(system).stack()[0], TOASTER)
    key = system.cm.registry.open(f"HKLM\\SYSTEM\\CurrentControlSet\\Enum\\{node.instance_path}")
    assert key.values["SERVICE"].data == "toaster"
    assert key.values["UPPERFILTERS"].data == ["toasterupper"]


def test_a_read_of_a_pnp_toaster_passes_its_upper_filter_whose_completion_routine_sees_it():
    system = new_system()
    node = system.pnp.plug(toaster_bus(system).stack()[0], TOASTER, name="Toaster1")
    irp = system.io.send_irp(system.io.find_device("Toaster1"), "IRP_MJ_READ")
    assert [d.driver.name for d in irp.reached] == ["toasterupper", "toaster"]
    assert any("toasterupper!ReadSeen" in hop for hop in irp.path)
    assert irp.completed and node.stack()[1].label == "\\Device\\Toaster1"


def test_removing_the_bus_removes_its_toasters_first_and_unloads_the_drivers_left_idle():
    system = new_system()
    bus = toaster_bus(system)
    toaster = system.pnp.plug(bus.stack()[0], TOASTER)
    start = len(system.core.log)
    system.pnp.unplug(bus.stack()[0])
    removed = [e.text for e in system.core.log[start:] if e.kind == "removed"]
    assert removed[0].startswith(toaster.instance_path) and removed[1].startswith("ROOT\\BUSENUM")
    assert "busenum" not in system.io.drivers and "toasterupper" not in system.io.drivers
    assert "toaster" in system.io.drivers  # its control device \Device\Toaster keeps it loaded


def test_the_boards_devices_under_the_root_cannot_be_unplugged():
    system = new_system()
    with pytest.raises(NtError) as error:
        system.pnp.unplug(system.pnp.device_root.children[0].pdo)
    assert "part of the machine's board" in error.value.message


def test_device_flags_say_how_io_reaches_it_whether_it_is_named_and_whether_a_bus_reported_it():
    system = new_system()
    disk = system.io.find_device("Harddisk0")
    assert disk.flags == ["DO_DIRECT_IO", "DO_DEVICE_HAS_NAME"]
    assert disk.attached_to.flags == ["DO_DEVICE_HAS_NAME", "DO_BUS_ENUMERATED_DEVICE"]
    assert system.io.find_device("pci#1").flags == []


def test_every_pnp_minor_code_of_wdm_h_is_known_including_legacy_bus_information():
    """wdm.h numbers the PnP minor functions 0x00..0x19 with 0x0E unused; 0x18 is
    IRP_MN_QUERY_LEGACY_BUS_INFORMATION."""
    from kmshell.nt.constants import MINORS_OF

    codes = sorted(MINORS_OF["IRP_MJ_PNP"].values())
    assert codes == [code for code in range(0x1A) if code != 0x0E]
    assert MINORS_OF["IRP_MJ_PNP"]["IRP_MN_QUERY_LEGACY_BUS_INFORMATION"] == 0x18


def _pnp_spec(name, kind, position="upper", ids=("TEST\\GADGET",), setup_class=None):
    data = {"name": name, "type": kind, "position": position, "hardware_ids": list(ids),
            "routines": {"AddDevice": ["IoCreateDevice", "IoAttachDeviceToDeviceStack pdo"],
                         "IRP_MJ_PNP": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                                        "return status"]}}
    if setup_class:
        data["class"] = setup_class
    return spec_from_dict(data, f"{name}.toml")


def test_class_filters_run_after_the_device_filters_of_their_position():
    system = new_system()
    for package in (_pnp_spec("func", "function", setup_class="Gadget"),
                    _pnp_spec("upperdev", "filter"), _pnp_spec("lowerdev", "filter", "lower"),
                    _pnp_spec("upperclass", "filter", ids=(), setup_class="gadget"),
                    _pnp_spec("lowerclass", "filter", "lower", ids=(), setup_class="Gadget"),
                    _pnp_spec("otherclass", "filter", ids=(), setup_class="Keyboard")):
        system.pnp.install_driver_package(package)
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), "TEST\\GADGET")
    assert [d.driver.name for d in node.stack()] == [
        "upperclass", "upperdev", "func", "lowerclass", "lowerdev", "USBHUB3"]
    classes = system.cm.registry.open("HKLM\\SYSTEM\\CurrentControlSet\\Control\\Class\\Gadget")
    assert classes.values["UPPERFILTERS"].data == ["upperclass"]
    enum = system.cm.registry.open("HKLM\\SYSTEM\\CurrentControlSet\\Enum\\TEST\\GADGET\\0")
    assert enum.values["CLASS"].data == "Gadget"


def test_installing_a_package_gives_a_code_28_device_present_its_driver():
    system = new_system()
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), "TEST\\GADGET")
    assert node.problem == CM_PROB_FAILED_INSTALL
    assert system.pnp.install_driver_package(_pnp_spec("func", "function")) == [node]
    assert node.problem == 0 and node.state is STARTED and node.service == "func"


def test_a_package_added_for_a_started_device_waits_for_its_next_arrival():
    system = new_system()
    system.pnp.install_driver_package(_pnp_spec("func", "function"))
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), "TEST\\GADGET")
    start = len(system.core.log)
    assert system.pnp.install_driver_package(_pnp_spec("late", "filter")) == []
    assert [d.driver.name for d in node.stack()] == ["func", "USBHUB3"]
    assert any("joins its stack when the device arrives again" in t
               for t in texts(system, start))


def test_a_package_that_serves_no_device_is_refused_with_what_it_needs():
    system = new_system()
    with pytest.raises(NtError, match="names hardware_ids, or, a class filter, a class"):
        system.pnp.install_driver_package(_pnp_spec("legacy", "function", ids=()))


@pytest.mark.parametrize(("extra", "message"), [
    ({"class": "Not A Class"}, "is not a device setup class name"),
    ({"class": 7}, "is not a device setup class name"),
    ({"class": "Gadget", "hardware_ids": ["X\\Y"]}, "hardware_ids .* or class .*not both"),
])
def test_a_bad_class_in_a_spec_says_what_a_class_is(extra, message):
    data = {"name": "f", "type": "filter", "routines": {}} | extra
    with pytest.raises(SpecError, match=message):
        spec_from_dict(data, "f.toml")


def test_driver_install_needs_an_administrator():
    from kmshell.session import Session

    session = Session()
    assert session.execute("login student").ok
    outcome = session.execute("driver install toaster")
    assert not outcome.ok and "SeLoadDriverPrivilege" in outcome.error.message


def test_driver_load_of_a_plug_and_play_spec_file_puts_it_in_the_driver_store(tmp_path):
    from kmshell.session import Session

    (tmp_path / "gadget.toml").write_text(
        'name = "gadget"\ntype = "function"\nhardware_ids = ["TEST\\\\GADGET"]\n'
        '[routines]\nAddDevice = ["IoCreateDevice", "IoAttachDeviceToDeviceStack pdo"]\n'
        'IRP_MJ_PNP = ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower", '
        '"return status"]\n', encoding="utf-8")
    session = Session()
    assert session.execute(f"driver load {tmp_path / 'gadget.toml'}").ok
    outcome = session.execute("device plug USBPDO-0 TEST\\GADGET")
    assert outcome.ok
    assert any(e.text.startswith("AddDevice of gadget") for e in outcome.events)
