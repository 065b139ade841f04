"""I/O manager rules, one per test: specs, stacks, IoCallDriver, completion."""

from __future__ import annotations

import pickle

import pytest

from kmshell.drivers import catalog, load_spec, new_system
from kmshell.nt import System, SystemHalted
from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.nt.ob import ObjectPathError
from kmshell.nt.ps import parse_program
from kmshell.session import Session


def loaded(*names: str) -> System:
    system = new_system()
    for name in names:
        system.io.load_driver(load_spec(name))
    return system


def test_every_catalog_spec_is_valid():
    assert {load_spec(name).name.lower() for name in catalog()} == set(catalog())


@pytest.mark.parametrize("routines, message", [
    ({"IRP_MJ_READ": ["IoCompleteRequst STATUS_SUCCESS", "return STATUS_SUCCESS"]},
     "routine IRP_MJ_READ, step 1 'IoCompleteRequst STATUS_SUCCESS': unknown step"),
    ({"IRP_MJ_REED": ["return STATUS_SUCCESS"]}, "unknown routine 'IRP_MJ_REED'"),
    ({"IRP_MJ_READ": ["IoCompleteRequest STATUS_NOPE", "return STATUS_SUCCESS"]},
     "step 1 'IoCompleteRequest STATUS_NOPE': 'STATUS_NOPE' is not an NTSTATUS"),
    ({"IRP_MJ_READ": ["IoCallDriver lower"]}, "must end with a return step"),
    ({"IRP_MJ_READ": ["IoSetCompletionRoutine Nope", "return STATUS_SUCCESS"]},
     "no completion routine 'Nope'"),
    ({"IRP_MJ_READ": ["IoSetCancelRoutine Nope", "return STATUS_PENDING"]},
     "no cancel routine 'Nope' in [cancel] (or NULL to clear it)"),
])
def test_a_spec_mistake_names_the_file_the_routine_and_the_step(routines, message):
    data = {"name": "bad", "type": "function", "routines": routines}
    with pytest.raises(SpecError) as error:
        spec_from_dict(data, "bad.toml")
    assert str(error.value).startswith("bad.toml: ") and message in str(error.value)


def test_attaching_raises_the_stack_size_by_one():
    system = loaded("slowdisk", "watchfilter")
    disk = system.io.find_device("SlowDisk")
    assert [d.label for d in disk.stack()] == ["watchfilter#1", "\\Device\\SlowDisk"]
    assert disk.top().stack_size == disk.stack_size + 1


def test_an_irp_is_sent_to_the_top_of_the_stack_and_goes_down_one_location_per_device():
    system = loaded("slowdisk", "watchfilter")
    irp = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    assert [hop for hop in irp.path if "↓" in hop] == [
        "IRP 1 ↓ watchfilter#1 (watchfilter.sys IRP_MJ_READ) at PASSIVE_LEVEL",
        "IRP 1 ↓ \\Device\\SlowDisk (slowdisk.sys IRP_MJ_READ) at PASSIVE_LEVEL"]
    assert irp.current == 0 and irp.stack[1].device.label == "watchfilter#1"


def test_the_path_shows_each_dispatch_routines_return_one_call_deeper_for_each_hop_down():
    system = loaded("slowdisk", "watchfilter")
    irp = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    assert [(depth, hop.split(" (")[0].split(": ")[0])
            for depth, hop in zip(irp.depths, irp.path)] == [
        (0, "IRP 1 ↓ watchfilter#1"), (1, "IRP 1 ↓ \\Device\\SlowDisk"),
        (1, "IRP 1 ← \\Device\\SlowDisk"), (0, "IRP 1 ← watchfilter#1")]
    assert irp.path[-1].endswith("watchfilter returns STATUS_PENDING")


def test_a_completion_inside_the_lowest_dispatch_routine_happens_before_the_calls_return():
    system = loaded("nullsink")
    irp = system.io.send_irp(system.io.find_device("NullSink"), "IRP_MJ_READ")
    kinds = [hop.split()[2] for hop in irp.path]
    assert kinds == ["↓", "✓", "done:", "←"] and irp.depths == [0, 1, 1, 0]


def test_completion_routines_run_bottom_up_and_the_irp_is_then_freed():
    system = loaded("slowdisk", "watchfilter")
    irp = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    system.io.complete_pending(irp, 0)
    assert irp.completed and irp.number not in system.io.irps
    assert irp.path[-3].startswith("IRP 1 ✓ slowdisk completes it with STATUS_SUCCESS")
    assert irp.path[-2].startswith("IRP 1 ↑ watchfilter#1: completion routine watchfilter!ReadDone")
    assert irp.path[-1] == "IRP 1 done: STATUS_SUCCESS back to the requester"


def test_pending_returned_reaches_the_completion_routine_of_the_driver_above():
    system = loaded("slowdisk", "watchfilter")
    irp = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    system.io.complete_pending(irp, 0)
    assert "(PendingReturned)" in irp.path[-2]


def test_skip_gives_the_lower_driver_the_same_stack_location():
    system = loaded("slowdisk", "watchfilter")
    irp = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_WRITE")
    assert irp.current == 1 and irp.stack[1].device.label == "\\Device\\SlowDisk"


def test_a_major_without_a_routine_is_completed_with_invalid_device_request():
    system = loaded("nullsink")
    irp = system.io.send_irp(system.io.find_device("NullSink"), "IRP_MJ_DEVICE_CONTROL")
    assert irp.completed and irp.status == 0xC0000010


def test_completing_an_irp_twice_bugchecks_0x44_with_the_irp_address():
    system = loaded("nullsink", "doublecomplete")
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("NullSink"), "IRP_MJ_READ")
    info = system.core.bugcheck_info
    assert info.code == 0x44 and info.driver == "doublecomplete.sys"
    assert info.parameters[0] >= 0xFFFF800000000000  # a kernel address: the IRP


def test_more_stack_locations_needed_than_allocated_bugchecks_0x35():
    system = loaded("nullsink")
    irp = system.io.send_irp(system.io.find_device("NullSink"), "IRP_MJ_DEVICE_CONTROL")
    irp.completed, irp.current = False, 0  # pretend a driver forwards a finished IRP
    with pytest.raises(SystemHalted):
        system.io.call_driver(system.io.find_device("NullSink"), irp)
    assert system.core.bugcheck_info.code == 0x35


def test_the_model_keeps_no_completed_irp():
    system = loaded("nullsink")
    for _ in range(100):
        system.io.send_irp(system.io.find_device("NullSink"), "IRP_MJ_READ")
    assert system.io.irps == {}


def test_an_irps_events_and_path_read_as_when_they_happened_after_the_irp_is_freed():
    system = loaded("nullsink")
    mark = system.core.events_emitted
    irp = system.io.send_irp(system.io.find_device("NullSink"), "IRP_MJ_READ")
    system.io.send_irp(system.io.find_device("NullSink"), "IRP_MJ_READ")  # IRP 2, after
    events = system.core.events_since(mark)
    assert [event.text for event in events[:3]] == [
        "IRP 1 allocated: IRP_MJ_READ, 1 stack location(s)",
        "IRP 1 ↓ \\Device\\NullSink (nullsink.sys IRP_MJ_READ)",
        "nullsink completes IRP 1 with 0xC0000011 STATUS_END_OF_FILE"]
    assert events[1].to_json()["text"] == events[1].text
    assert irp.path == ["IRP 1 ↓ \\Device\\NullSink (nullsink.sys IRP_MJ_READ) at PASSIVE_LEVEL",
                        "IRP 1 ✓ nullsink completes it with STATUS_END_OF_FILE at PASSIVE_LEVEL",
                        "IRP 1 done: STATUS_END_OF_FILE back to the requester",
                        "IRP 1 ← \\Device\\NullSink: nullsink returns STATUS_END_OF_FILE"]


def test_the_trace_and_an_irp_survive_pickling_with_the_same_texts():
    system = loaded("nullsink")
    irp = system.io.send_irp(system.io.find_device("NullSink"), "IRP_MJ_READ")
    copy, irp_copy = pickle.loads(pickle.dumps((system, irp)))
    assert [e.to_json() for e in copy.core.log] == [e.to_json() for e in system.core.log]
    assert irp_copy.path == irp.path and irp_copy.depths == irp.depths


def _app(system: System):
    process = system.ps.create_process("app.exe")
    system.ke.step(3)
    return process


def test_open_sends_irp_mj_create_and_gives_a_handle_to_a_file_object():
    system = loaded("slowdisk", "watchfilter")
    process = _app(system)
    handle = system.files.open_file(process, "\\Device\\SlowDisk", "all")
    entry = process.handle_table.entries[handle]
    assert entry.object.header.type_name == "File"
    assert entry.object.device.label == "\\Device\\SlowDisk"


def test_a_pended_read_makes_the_calling_thread_wait_until_completion():
    system = loaded("slowdisk", "watchfilter")
    process = _app(system)
    thread = process.threads[0]
    handle = system.files.open_file(process, "\\Device\\SlowDisk", "all")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")
    irp = next(iter(system.io.irps.values()))
    assert thread.wait_reason.name == "Executive" and thread.io_wait[0] is irp
    system.io.complete_pending(irp, 0)
    assert thread.io_wait is None and thread.wait_reason.name == "UserRequest"


def test_opening_a_device_its_dacl_does_not_allow_is_access_denied():
    from kmshell.nt.se import parse_sddl
    from kmshell.nt.system import NtError

    system = loaded("nullsink")
    system.io.find_device("NullSink").header.security = parse_sddl("D:P(A;;GA;;;SY)(A;;GR;;;BU)")
    process = _app(system)
    assert system.files.open_file(process, "\\Device\\NullSink", "read")
    with pytest.raises(NtError) as error:
        system.files.open_file(process, "\\Device\\NullSink", "write")
    assert error.value.status == 0xC0000022


def test_closing_a_handle_sends_cleanup_then_close():
    system = loaded("nullsink")
    process = _app(system)
    handle = system.files.open_file(process, "\\Device\\NullSink")
    start = len(system.core.log)
    system.files.close_handle(process, handle)
    majors = [e.text.split()[-1].rstrip(")") for e in system.core.log[start:]
              if e.kind == "irp-down"]
    assert majors == ["IRP_MJ_CLEANUP", "IRP_MJ_CLOSE"]
    assert handle not in process.handle_table.entries


def test_calling_down_from_the_bottom_of_a_stack_bugchecks_0x1e_reading_null_plus_8():
    system = loaded("lonely")
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("Lonely"), "IRP_MJ_READ")
    info = system.core.bugcheck_info
    code, arg1, _, arg3, arg4 = (info.code, *info.parameters)
    assert (code, arg1, arg3, arg4) == (0x1E, 0xC0000005, 0, 0x8)


def test_returning_pending_without_marking_the_irp_is_flagged():
    system = loaded("forgetful")
    start = len(system.core.log)
    system.io.send_irp(system.io.find_device("Forgetful"), "IRP_MJ_READ")
    assert any(e.kind == "rule" and "without IoMarkIrpPending" in e.text
               for e in system.core.log[start:])


def test_an_interrupts_irql_is_its_vector_divided_by_16():
    system = loaded("irqdisk", "hastyisr")
    for label in ("IrqDisk", "HastyDisk"):
        device = system.io.find_device(label)
        assert device.dirql == device.vector >> 4 and 3 <= device.dirql <= 12


def test_the_dpc_runs_at_dispatch_level_after_the_isr_and_completes_the_irp():
    system = loaded("irqdisk")
    disk = system.io.find_device("IrqDisk")
    irp = system.io.send_irp(disk, "IRP_MJ_READ")
    start = len(system.core.log)
    system.ke.interrupt(disk, 1)
    kinds = [(e.kind, e.irql) for e in system.core.log[start:]]
    assert kinds.index(("dpc", 2)) > kinds.index(("interrupt", disk.dirql))
    assert ("irp-complete", 2) in kinds and irp.completed
    assert system.core.processors[1].irql == 0 and not system.core.processors[1].dpc_queue


def test_a_ddi_called_above_its_irql_limit_bugchecks_0xa_with_the_irql():
    system = loaded("hastyisr")
    system.io.send_irp(system.io.find_device("HastyDisk"), "IRP_MJ_READ")
    hasty = system.io.find_device("HastyDisk")
    with pytest.raises(SystemHalted):
        system.ke.interrupt(hasty)
    info = system.core.bugcheck_info
    assert info.code == 0x0A and info.parameters[1] == hasty.dirql


def test_dpcs_wait_while_the_processor_is_at_dispatch_level():
    system = loaded("irqdisk")
    cpu = system.core.processors[0]
    cpu.irql = 2  # e.g. a spin lock is held
    system.ke.request_dpc(system.io.find_device("IrqDisk"))
    system.ke.drain_dpcs(cpu)
    assert len(cpu.dpc_queue) == 1
    cpu.irql = 0
    system.ke.drain_dpcs(cpu)
    assert cpu.dpc_queue == []


def test_skip_then_set_completion_overwrites_the_routine_of_the_driver_above():
    system = loaded("toaster", "sloppyfilter", "toasterfilter")
    irp = system.io.send_irp(system.io.find_device("Toaster"), "IRP_MJ_READ")
    ran = [hop.split(" at ")[0] for hop in irp.path if "↑" in hop]
    assert ran == [f"IRP {irp.number} ↑ sloppyfilter#1: completion routine sloppyfilter!Mine"]


def test_a_driver_whose_driverentry_fails_is_unloaded_with_its_devices():
    system = new_system()
    devices = list(system.io.devices)
    spec = spec_from_dict({"name": "orphan", "type": "filter", "routines": {
        "DriverEntry": ["IoCreateDevice Orphan", "IoAttachDeviceToDeviceStack NullSink"]}},
        "orphan.toml")
    with pytest.raises(NtError, match=r"orphan!DriverEntry, step 2 'IoAttachDeviceToDeviceStack"
                       r" NullSink': no device 'NullSink'"):
        system.io.load_driver(spec)
    assert "orphan" not in system.io.drivers and system.io.devices == devices
    with pytest.raises(ObjectPathError):
        system.ob.lookup("\\Device\\Orphan")
    assert system.core.log[-1].kind == "driver-unload"
    system.io.load_driver(load_spec("nullsink"))
    assert system.io.load_driver(spec).devices[0].attached_to is system.io.find_device("NullSink")


# ------------------------------------------------------------------ cancel


def _pended(*drivers: str, major: str = "IRP_MJ_READ", device: str = "SlowDisk"):
    system = loaded(*drivers)
    irp = system.io.send_irp(system.io.find_device(device), major)
    return system, irp


def test_cancel_runs_the_cancel_routine_which_completes_with_status_cancelled():
    system, irp = _pended("slowdisk")
    assert system.io.cancel_irp(irp) is True
    assert irp.completed and irp.status == 0xC0000120 and irp.cancel
    assert system.core.processors[0].irql == 0  # the routine released the cancel spin lock
    assert system.io.irps == {}


def test_cancel_without_a_cancel_routine_returns_false_and_the_irp_stays_pending():
    system, irp = _pended("slowdisk", major="IRP_MJ_WRITE")  # slowdisk's writes: no routine
    assert system.io.cancel_irp(irp) is False
    assert not irp.completed and irp.cancel and irp.number in system.io.irps
    assert system.core.processors[0].irql == 0


def _filter(flags: str) -> dict:
    return {"name": "cancelwatch", "type": "filter", "routines": {
        "DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack SlowDisk"],
        "IRP_MJ_READ": ["IoCopyCurrentIrpStackLocationToNext",
                        f"IoSetCompletionRoutine Done {flags}", "IoCallDriver lower",
                        "return status"]},
        "completion": {"Done": ["return STATUS_SUCCESS"]}}


@pytest.mark.parametrize("flags, runs", [("Success Cancel", True), ("Success", False)])
def test_a_completion_routine_sees_a_cancelled_irp_only_if_set_to_invoke_on_cancel(flags, runs):
    system = loaded("slowdisk")
    system.io.load_driver(spec_from_dict(_filter(flags), "cancelwatch.toml"))
    irp = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    start = len(system.core.log)
    system.io.cancel_irp(irp)
    ran = [e for e in system.core.log[start:] if "completion routine cancelwatch!Done" in e.text]
    assert bool(ran) is runs and irp.completed


def test_a_cancel_routine_that_keeps_the_cancel_lock_bugchecks_0x11b():
    system, irp = _pended("cancelbug", device="CancelBug")
    with pytest.raises(SystemHalted):
        system.io.cancel_irp(irp)
    info = system.core.bugcheck_info
    assert info.code == 0x11B and info.parameters[0] == irp.address
    assert info.parameters[1] != 0 and info.driver == "cancelbug.sys"


def test_completing_an_irp_whose_cancel_routine_is_still_set_bugchecks_0x48():
    system = loaded("cancelbug")
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("CancelBug"), "IRP_MJ_WRITE")
    info = system.core.bugcheck_info
    assert info.code == 0x48 and info.parameters[2:] == (0, 0)


def test_the_device_finishing_a_cancelable_irp_clears_the_routine_and_completes_it():
    system, irp = _pended("slowdisk")
    system.io.complete_pending(irp, 0)
    assert irp.completed and irp.status == 0 and not system.halted


def test_a_process_that_exits_cancels_its_pending_irps_then_closes_its_files():
    system = loaded("slowdisk")
    process = _app(system)
    handle = system.files.open_file(process, "\\Device\\SlowDisk", "all")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")
    read = next(iter(system.io.irps.values()))
    start = len(system.core.log)
    system.ps.terminate_process(process, 0)
    assert read.completed and read.status == 0xC0000120
    majors = [e.text.split()[-1].rstrip(")") for e in system.core.log[start:]
              if e.kind == "irp-down"]
    assert majors == ["IRP_MJ_CLEANUP", "IRP_MJ_CLOSE"]


# ------------------------------------------------------------------ buffers and overlapped I/O


def _read(system: System, path: str, length: int = 64, overlapped: bool = False, code=None):
    process = _app(system)
    handle = system.files.open_file(process, path, "all", overlapped=overlapped)
    start = len(system.core.log)
    if code is None:
        system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", length)
    else:
        system.files.file_io(process, handle, "IRP_MJ_DEVICE_CONTROL", "NtDeviceIoControlFile",
                       length, code)
    return process, [e for e in system.core.log[start:] if e.kind == "buffer"]


def test_a_buffered_device_gets_a_system_buffer_copied_to_the_caller_on_completion():
    system = loaded("nullsink")  # io = "buffered": DO_BUFFERED_IO
    _, events = _read(system, "\\Device\\NullSink", 64)
    assert "allocates a 64-byte system buffer in nonpaged pool" in events[0].text
    assert "frees the system buffer" in events[-1].text


def test_a_direct_device_gets_an_mdl_locking_the_callers_pages():
    system = loaded("slowdisk")  # io = "direct": DO_DIRECT_IO
    process, events = _read(system, "\\Device\\SlowDisk", 8192)
    assert "MmProbeAndLockPages locks its 2 page(s)" in events[0].text
    irp = next(iter(system.io.irps.values()))
    assert irp.buffer.startswith("MdlAddress") and f"{process.io_buffer[0]:#x}" in irp.buffer


def test_a_filter_takes_the_transfer_method_of_the_device_it_attaches_to():
    system = loaded("slowdisk", "watchfilter")
    assert system.io.find_device("SlowDisk").top().io == "direct"


@pytest.mark.parametrize("code, method", [(0x222000, "buffered"), (0x222001, "direct"),
                                          (0x222002, "direct"), (0x222003, "neither")])
def test_an_ioctls_transfer_method_is_the_low_two_bits_of_its_code(code, method):
    system = loaded("nullsink")
    _, events = _read(system, "\\Device\\NullSink", 16, code=code)
    assert events[0].text.startswith(f"{method} I/O")


def test_an_overlapped_read_returns_pending_at_once_and_the_thread_does_not_wait():
    system = loaded("slowdisk")
    process, _ = _read(system, "\\Device\\SlowDisk", overlapped=True)
    irp = next(iter(system.io.irps.values()))
    assert process.threads[0].io_wait is None
    assert any("returns 0x00000103 STATUS_PENDING" in e.text for e in system.core.log[-3:])
    start = len(system.core.log)
    system.io.complete_pending(irp, 0)
    assert any("sets its OVERLAPPED event" in e.text for e in system.core.log[start:])


def test_a_transfer_longer_than_a_ulong_is_an_invalid_parameter():
    system = loaded("nullsink")
    process = _app(system)
    handle = system.files.open_file(process, "\\Device\\NullSink")
    with pytest.raises(NtError) as error:
        system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 1 << 40)
    assert error.value.status == 0xC000000D


# ------------------------------------------------------------------ StartIo and priority boosts


def test_iostartpacket_runs_startio_for_one_irp_and_queues_the_rest():
    system = loaded("queuedisk")
    disk = system.io.find_device("QueueDisk")
    first = system.io.send_irp(disk, "IRP_MJ_READ")
    second = system.io.send_irp(disk, "IRP_MJ_READ")
    assert disk.current_irp is first and disk.queue == [second]
    system.ke.interrupt(disk)  # the DPC completes the current one and starts the next
    assert first.completed and disk.current_irp is second and disk.queue == []
    system.ke.interrupt(disk)
    assert second.completed and disk.current_irp is None


def test_startio_runs_at_dispatch_level():
    system = loaded("queuedisk")
    system.io.send_irp(system.io.find_device("QueueDisk"), "IRP_MJ_READ")
    start = next(e for e in system.core.log if e.kind == "start-io")
    assert start.irql == 2 and system.core.processors[0].irql == 0


def test_a_thread_woken_by_io_gets_the_drivers_boost_which_decays_at_quantum_end():
    system = loaded("queuedisk")
    process = system.ps.create_process("busy.exe", program=parse_program("compute 50"))
    thread = process.threads[0]
    handle = system.files.open_file(process, "\\Device\\QueueDisk", "all")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")
    assert thread.io_wait is not None
    system.ke.interrupt(system.io.find_device("QueueDisk"))  # queuedisk completes with boost 1
    assert thread.priority == thread.base_priority + 1
    assert "boost of 1" in next(e for e in system.core.log if e.kind == "boost").text
    system.ke.step(6)  # a few quantum ends
    assert thread.priority == thread.base_priority


# ------------------------------------------------------------------ DPC rules


def test_a_dpc_that_waits_on_an_unsignaled_event_bugchecks_0xb8():
    session = Session()
    for line in ("event create Ready", "driver load sleepydpc", "interrupt SleepyDpc"):
        session.execute(line)
    info = session.system.core.bugcheck_info
    assert info.code == 0xB8 and info.driver == "sleepydpc.sys"
    idle = session.system.core.processors[0].idle_thread
    assert info.parameters[0] == idle.header.address  # the thread the DPC interrupted


def test_a_dpc_that_spins_past_the_watchdog_bugchecks_0x133_with_its_ticks():
    session = Session()
    for line in ("event create Ready", "event set Ready", "driver load sleepydpc",
                 "interrupt SleepyDpc"):
        session.execute(line)
    # 25 s of 15.625 ms clock ticks = 1,600 = 0x640, over the 0x500 allotment
    assert session.system.core.bugcheck_info.parameters == (0, 0x640, 0x500, 0)


def test_stalling_below_dispatch_level_is_not_watched():
    system = loaded("nullsink")
    system.ke.stall_execution_processor(system.io.drivers["nullsink"], "test", 60_000_000)
    assert not system.halted and system.ke.dpc_time_us == 0


# ------------------------------------------------------------------ MSI, pending interrupts


def test_an_msix_device_gets_one_vector_per_message_each_on_its_own_processor():
    system = new_system(cpus=4, minimal=True)
    system.io.load_driver(load_spec("msixnic"))
    nic = system.io.find_device("MsixNic")
    assert nic.vectors == [nic.vector + n for n in range(4)]
    assert {v >> 4 for v in nic.vectors} == {nic.dirql}
    start = len(system.core.log)
    system.ke.interrupt(nic, message=3)
    first = next(e for e in system.core.log[start:] if e.kind == "interrupt")
    assert first.cpu == 3 and "MessageID 3" in first.text


def test_a_message_the_device_does_not_have_is_refused():
    system = new_system(minimal=True)
    system.io.load_driver(load_spec("msixnic"))
    with pytest.raises(NtError, match="has 4 message"):
        system.ke.interrupt(system.io.find_device("MsixNic"), message=4)


def test_an_interrupt_at_or_below_the_irql_waits_until_the_irql_drops():
    system = loaded("irqdisk")
    disk = system.io.find_device("IrqDisk")
    irp = system.io.send_irp(disk, "IRP_MJ_READ")
    cpu = system.core.processors[0]
    cpu.irql = disk.dirql  # e.g. a higher or equal interrupt is being served
    system.ke.interrupt(disk, 0)
    assert cpu.pending_interrupts and not irp.completed
    cpu.irql = 0
    system.ke.drain_dpcs(cpu)  # the IRQL has dropped: the held interrupt arrives, then its DPC
    assert irp.completed and not cpu.pending_interrupts


def test_kesynchronizeexecution_raises_to_the_devices_dirql_around_synchcritsection():
    system = new_system(minimal=True)
    system.io.load_driver(load_spec("msixnic"))
    nic = system.io.find_device("MsixNic")
    system.io.send_irp(nic, "IRP_MJ_READ")
    system.ke.interrupt(nic)
    sync = [e for e in system.core.log if e.kind == "sync"]
    assert sync[0].irql == nic.dirql and sync[1].irql == 2


def test_iorequestdpc_in_driverentry_is_an_error_it_has_no_device_whose_dpc_to_queue():
    system = new_system(minimal=True)
    spec = spec_from_dict({"name": "early", "type": "function", "routines": {
        "DriverEntry": ["IoRequestDpc", "return STATUS_SUCCESS"]}}, "early.toml")
    with pytest.raises(NtError, match="IoRequestDpc': this step needs a device, and DriverEntry"):
        system.io.load_driver(spec)
    assert all(not cpu.dpc_queue for cpu in system.core.processors)


@pytest.mark.parametrize("kind, messages", [("msi", 3), ("msi-x", 17), ("line", 2)])
def test_a_message_count_the_interrupt_kind_cannot_have_is_a_load_time_error(kind, messages):
    with pytest.raises(SpecError, match="messages ="):
        spec_from_dict({"name": "bad", "type": "function", "interrupt": kind,
                        "messages": messages}, "bad.toml")


# ------------------------------------------------------------------ IRQL bookkeeping


def careless(verify: bool) -> Session:
    session = Session()
    for line in (["verifier on careless"] if verify else []) + [
            "spinlock create CarelessLock", "driver load careless"]:
        session.execute(line)
    return session


@pytest.mark.parametrize("line, code, fourth", [
    ("irp send Careless IRP_MJ_READ", 0x32, 0),  # KeReleaseSpinLock of a lock not held
    ("irp send Careless IRP_MJ_DEVICE_CONTROL", 0x30, 0),  # KeRaiseIrql to a lower IRQL
    ("interrupt Careless", 0x31, 1),  # KeLowerIrql below the DPC's DISPATCH_LEVEL
])
def test_verifier_stops_irql_bookkeeping_mistakes_with_0xc4(line, code, fourth):
    session = careless(verify=True)
    session.execute(line)
    info = session.system.core.bugcheck_info
    assert info.code == 0xC4 and info.parameters[0] == code and info.parameters[3] == fourth


def test_without_verifier_a_double_release_is_flagged_and_the_irql_falls():
    session = careless(verify=False)
    outcome = session.execute("irp send Careless IRP_MJ_READ")
    assert not session.system.halted
    assert any("which it does not hold" in e.text for e in outcome.events)
    assert session.system.core.processors[0].irql == 0


def test_a_balanced_raise_and_lower_leaves_the_irql_where_it_was():
    session = careless(verify=True)
    session.execute("irp send Careless IRP_MJ_WRITE")
    assert not session.system.halted and session.system.core.processors[0].irql == 0


# ------------------------------------------------------------------ driver unload


def test_driver_unload_runs_unload_deletes_its_devices_and_forgets_the_driver():
    system = loaded("nullsink")
    system.io.stop_driver(system.io.drivers["nullsink"])
    assert "nullsink" not in system.io.drivers
    assert not any(d.label == "\\Device\\NullSink" for d in system.io.devices)


def test_a_driver_with_a_filter_above_it_cannot_unload_first():
    system = loaded("slowdisk", "watchfilter")
    with pytest.raises(NtError, match="unload watchfilter first"):
        system.io.stop_driver(system.io.drivers["slowdisk"])


def test_a_plug_and_play_driver_does_not_unload_on_request():
    system = new_system()
    with pytest.raises(NtError, match="unloads when its last device is removed"):
        system.io.stop_driver(system.io.drivers["usbhub3"])


def test_an_irp_left_in_an_unloaded_driver_bugchecks_0xce_when_it_finishes():
    system = loaded("slowdisk")
    irp = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    system.io.stop_driver(system.io.drivers["slowdisk"])
    with pytest.raises(SystemHalted):
        system.io.complete_pending(irp, 0)
    info = system.core.bugcheck_info
    assert info.code == 0xCE and info.driver == "slowdisk.sys"


def own_irp_driver(completion: list[str], stack_size: str = "") -> dict:
    """A filter over SlowDisk (and watchfilter) that serves reads with an IRP of its own."""
    allocate = f"IoAllocateIrp IRP_MJ_READ {stack_size}".strip()
    return {"name": "packeter", "type": "filter",
            "routines": {"DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack SlowDisk"],
                         "IRP_MJ_READ": ["IoMarkIrpPending", allocate,
                                         "IoSetCompletionRoutine Done", "IoCallDriver lower",
                                         "return STATUS_PENDING"]},
            "completion": {"Done": completion}}


TAKE_BACK = ["IoCompleteRequest master", "IoFreeIrp", "return STATUS_MORE_PROCESSING_REQUIRED"]


def test_ioallocateirp_sends_a_new_irp_down_and_marks_the_original_pending_not_the_new_one():
    system = loaded("slowdisk", "watchfilter")
    system.io.load_driver(spec_from_dict(own_irp_driver(TAKE_BACK), "packeter.toml"))
    read = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    own = system.io.irps[read.number + 1]
    assert own.master is read and own.owner is system.io.drivers["packeter"]
    assert len(own.stack) == system.io.find_device("watchfilter#1").stack_size == 2
    assert read.location.pending  # packeter's IoMarkIrpPending is for the IRP it was given
    assert [loc.device.label for loc in own.stack if loc.pending] == ["\\Device\\SlowDisk"]
    assert [d.label for d in own.reached] == ["watchfilter#1", "\\Device\\SlowDisk"]


def test_the_allocating_drivers_completion_routine_completes_the_original_and_frees_its_irp():
    system = loaded("slowdisk", "watchfilter")
    system.io.load_driver(spec_from_dict(own_irp_driver(TAKE_BACK), "packeter.toml"))
    read = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    own = system.io.irps[read.number + 1]
    system.io.complete_pending(own, NtStatus.STATUS_SUCCESS)
    assert system.io.irps == {} and read.completed and read.status == NtStatus.STATUS_SUCCESS
    assert system.io.finished_irps[own.number].status == NtStatus.STATUS_SUCCESS
    assert not any(e.kind == "rule" for e in system.core.log)


def test_an_irp_allocated_with_too_few_stack_locations_bugchecks_0x35_going_down():
    system = loaded("slowdisk", "watchfilter")
    system.io.load_driver(spec_from_dict(own_irp_driver(TAKE_BACK, "1"), "packeter.toml"))
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    assert system.core.bugcheck_info.code == 0x35
    assert system.core.bugcheck_info.parameters[0] == system.io.irps[2].address


def test_an_allocated_irp_its_driver_does_not_take_back_is_flagged_at_the_top():
    system = loaded("slowdisk", "watchfilter")
    lets_go = ["IoCompleteRequest master", "return STATUS_SUCCESS"]
    system.io.load_driver(spec_from_dict(own_irp_driver(lets_go), "packeter.toml"))
    read = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    system.io.complete_pending(system.io.irps[read.number + 1], NtStatus.STATUS_SUCCESS)
    rules = [e.text for e in system.core.log if e.kind == "rule"]
    assert any("allocated it (IoAllocateIrp)" in text for text in rules)


def test_irp_complete_refuses_a_request_that_waits_for_an_irp_its_driver_sent_down():
    system = loaded("slowdisk", "watchfilter")
    system.io.load_driver(spec_from_dict(own_irp_driver(TAKE_BACK), "packeter.toml"))
    read = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    with pytest.raises(NtError) as error:
        system.io.complete_pending(read, NtStatus.STATUS_SUCCESS)
    assert f"irp complete {read.number + 1}" in error.value.message and not read.completed


@pytest.mark.parametrize("sent", [False, True])
def test_irp_complete_refuses_an_irp_at_no_device_never_sent_or_taken_back(sent):
    data = own_irp_driver(["return STATUS_MORE_PROCESSING_REQUIRED"])  # keeps it, never frees
    if not sent:
        data["routines"]["IRP_MJ_READ"] = ["IoMarkIrpPending", "IoAllocateIrp IRP_MJ_READ",
                                           "return STATUS_PENDING"]
    system = loaded("slowdisk", "watchfilter")
    system.io.load_driver(spec_from_dict(data, "packeter.toml"))
    read = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    own = system.io.irps[read.number + 1]
    if sent:  # SlowDisk finishes it; packeter's completion routine takes it back
        system.io.complete_pending(own, NtStatus.STATUS_SUCCESS)
    assert own.location is None and not own.completed
    with pytest.raises(NtError, match="at no device's stack location"):
        system.io.complete_pending(own, NtStatus.STATUS_SUCCESS)


@pytest.mark.parametrize("step, message", [
    ("IoAllocateIrp IRP_MJ_REED", "not an IRP major function"),
    ("IoAllocateIrp IRP_MJ_READ 0", "1 to 127"),
])
def test_ioallocateirp_arguments_are_checked_at_load_time(step, message):
    data = own_irp_driver(TAKE_BACK)
    data["routines"]["IRP_MJ_READ"][1] = step
    with pytest.raises(SpecError) as error:
        spec_from_dict(data, "packeter.toml")
    assert message in str(error.value) and "routine IRP_MJ_READ, step 2" in str(error.value)


def test_every_ddi_a_spec_may_name_is_one_whole_record():
    from kmshell.nt.constants import Irql
    from kmshell.nt.io.steps import DDIS, DIRQL
    from kmshell.nt.pool import STRING_ROUTINES
    for name, ddi in DDIS.items():
        assert ddi.name == name and ddi.help and callable(ddi.run), name
        assert ddi.check is None or callable(ddi.check), name
        assert ddi.limit in (None, DIRQL, *Irql), name
    assert set(STRING_ROUTINES) <= set(DDIS)  # Mm's string routines, each a step


@pytest.mark.parametrize("step", ["ExAllocatePool2 NONPAGED 16 Tidy", "IoGetDmaAdapter 32 4096",
                                  "IoCreateController"])
def test_a_step_that_returns_a_pointer_leaves_return_status_as_it_was(step):
    system = new_system()
    system.io.load_driver(spec_from_dict({"name": "keeper", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Keeper"],
        "IRP_MJ_READ": [step, "IoCompleteRequest STATUS_SUCCESS", "return status"]}},
        "keeper.toml"))
    system.io.send_irp(system.io.find_device("Keeper"), "IRP_MJ_READ")
    assert system.core.log[-1].text == "IoCallDriver returns 0x00000000 STATUS_SUCCESS to the " \
        "client"


@pytest.mark.parametrize("step", ["IoRequestDpc", "IoStartNextPacket", "GetScatterGatherList",
                                  "PutScatterGatherList"])
def test_a_step_that_works_on_the_device_is_refused_in_a_routine_without_one(step):
    spec = spec_from_dict({"name": "early", "type": "function",
                           "routines": {"DriverEntry": [step]}}, "early.toml")
    with pytest.raises(NtError, match="this step needs a device, and DriverEntry has none"):
        new_system().io.load_driver(spec)


@pytest.mark.parametrize("step, what", [("IoCopyCurrentIrpStackLocationToNext", "to copy"),
                                        ("IoGetCurrentIrpStackLocation", "to look at")])
def test_a_step_on_the_current_location_after_skipping_past_the_top_is_refused(step, what):
    system = new_system()
    system.io.load_driver(spec_from_dict({"name": "skipper", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Skipper"],
        "IRP_MJ_READ": ["IoSkipCurrentIrpStackLocation", step, "return STATUS_SUCCESS"]}},
        "skipper.toml"))
    with pytest.raises(NtError, match=f"IRP 1 has no current stack location {what}: "
                       "IoSkipCurrentIrpStackLocation moved it past the top"):
        system.io.send_irp(system.io.find_device("Skipper"), "IRP_MJ_READ")


@pytest.mark.parametrize("major, status", [("IRP_MJ_PNP", NtStatus.STATUS_NOT_SUPPORTED),
                                           ("IRP_MJ_POWER", NtStatus.STATUS_NOT_SUPPORTED),
                                           ("IRP_MJ_READ", NtStatus.STATUS_PENDING)])
def test_a_pnp_or_power_irp_starts_as_status_not_supported_whoever_builds_it(major, status):
    system = new_system()
    assert system.io.build_irp(system.io.find_device("Harddisk0"), major).status == status


def _filter_over_nullsink(name: str, flags: str, completion: list[str]):
    return spec_from_dict({"name": name, "type": "filter", "routines": {
        "DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink"],
        "IRP_MJ_WRITE": ["IoCopyCurrentIrpStackLocationToNext",
                         f"IoSetCompletionRoutine Done {flags}", "IoCallDriver lower",
                         "return status"]},
        "completion": {"Done": completion}}, f"{name}.toml")


def test_completion_rereads_the_status_a_lower_completion_routine_changed_at_every_level():
    """IofCompleteRequest tests InvokeOnSuccess / InvokeOnError against Irp->IoStatus.Status
    as it is at each level (ReactOS ntoskrnl/io/iomgr/irp.c, IofCompleteRequest): nullsink
    completes the write with success, the filter above it turns that into an error, so the
    on-success routine above does not run, the on-error one does, and the requester gets
    the error."""
    system = new_system(minimal=True)
    system.io.load_driver(load_spec("nullsink"))
    system.io.load_driver(_filter_over_nullsink(
        "changer", "Success", ["IoStatus STATUS_DEVICE_NOT_READY", "return STATUS_SUCCESS"]))
    system.io.load_driver(_filter_over_nullsink("onsuccess", "Success",
                                                ["return STATUS_SUCCESS"]))
    system.io.load_driver(_filter_over_nullsink("onerror", "Error", ["return STATUS_SUCCESS"]))
    start = system.core.events_emitted
    irp = system.io.send_irp(system.io.find_device("NullSink"), "IRP_MJ_WRITE")
    ran = [e.text.split("completion routine ")[1] for e in system.core.events_since(start)
           if e.kind == "irp-up"]
    assert ran == ["changer!Done", "onerror!Done"]
    assert any(e.kind == "irp-status" and "STATUS_DEVICE_NOT_READY" in e.text
               for e in system.core.events_since(start))
    assert system.io.finished_irps[irp.number].status == NtStatus.STATUS_DEVICE_NOT_READY


def test_x64_device_irqls_are_3_to_11_and_12_is_synch_level():
    """wdm.h (_AMD64_): SYNCH_LEVEL is IPI_LEVEL - 2 = 12, so device interrupts use 3..11;
    however many devices connect, none gets a DIRQL of 12 or above."""
    from kmshell.nt.constants import irql_name, parse_irql

    assert parse_irql("SYNCH") == parse_irql("SYNCH_LEVEL") == 12
    assert irql_name(12) == "SYNCH_LEVEL" and irql_name(11) == "DIRQL 11"
    system = new_system(minimal=True)
    for number in range(8):
        system.io.load_driver(spec_from_dict({"name": f"dev{number}", "type": "function",
                                              "routines": {"DriverEntry": [
                                                  "IoCreateDevice", "IoConnectInterruptEx"]}},
                                             f"dev{number}.toml"))
    dirqls = [d.dirql for d in system.io.devices if d.dirql is not None]
    assert len(dirqls) == 8 and max(dirqls) == 11 and min(dirqls) == 8
