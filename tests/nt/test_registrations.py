"""Driver steps that register with other components and name devices (issue 19, item 3):
notify and registry callbacks registered from DriverEntry and removed in Unload, Ob
pre-operation callbacks, symbolic links, and device security. Each test names the rule; the
WDK page is the step's `source` in nt/io/steps.py."""

from __future__ import annotations

import pytest

from kmshell.drivers import new_system
from kmshell.nt import System, SystemHalted
from kmshell.nt.cm import RegistryOperation, RegValue
from kmshell.nt.constants import BugCheck, NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.nt.io.steps import DDIS
from kmshell.nt.mm import routine_address
from kmshell.nt.ps import CALLERS

CREATE = ["IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"]


def _spec(entry: list[str], unload: list[str] | None = None, name: str = "guard",
          notify: dict | None = None) -> dict:
    routines = {"DriverEntry": entry, "IRP_MJ_CREATE": CREATE} | \
        ({"Unload": unload} if unload is not None else {})
    return {"name": name, "type": "function", "routines": routines,
            "notify": notify if notify is not None else {"OnProcess": ["compute 1"]}}


def _load(spec: dict) -> System:
    system = new_system()
    system.io.load_driver(spec_from_dict(spec, "<test>"))
    return system


def _texts(system: System, kind: str) -> list[str]:
    return [e.text for e in system.core.log if e.kind == kind]


def test_a_routine_registered_in_driverentry_runs_at_each_process_creation():
    system = _load(_spec(["PsSetCreateProcessNotifyRoutineEx OnProcess FALSE"]))
    system.ps.create_process("notepad.exe")
    assert any("guard's process notify routine" in t for t in _texts(system, "notify"))
    assert "OnProcess (PsSetCreateProcessNotifyRoutineEx)" in _texts(system, "callback")[-1]


def test_a_creationstatus_in_a_spec_routine_refuses_the_process():
    system = _load(_spec(["PsSetCreateProcessNotifyRoutineEx OnProcess"],
                         notify={"OnProcess": ["CreationStatus STATUS_ACCESS_DENIED"]}))
    with pytest.raises(NtError) as error:
        system.ps.create_process("malware.exe")
    assert error.value.status == NtStatus.STATUS_ACCESS_DENIED


def test_a_routine_removed_in_unload_is_not_called_again():
    system = _load(_spec(["PsSetCreateThreadNotifyRoutine OnProcess"],
                         ["PsRemoveCreateThreadNotifyRoutine OnProcess"]))
    system.io.stop_driver(system.io.drivers["guard"])
    system.ps.create_process("notepad.exe")
    assert not any("guard" in t for t in _texts(system, "notify"))
    assert system.ps.notify_routines("thread") == []


@pytest.mark.parametrize(("register", "kind"), [
    ("PsSetCreateProcessNotifyRoutineEx OnProcess", "process"),
    ("PsSetCreateThreadNotifyRoutine OnProcess", "thread"),
    ("PsSetLoadImageNotifyRoutine OnProcess", "image")])
def test_unloading_without_removing_a_notify_routine_is_0xce_at_its_next_call(register, kind):
    system = _load(_spec([register], []))
    driver = system.io.drivers["guard"]
    system.io.stop_driver(driver)
    with pytest.raises(SystemHalted):
        system.ps.create_process("notepad.exe")
    info = system.core.bugcheck_info
    assert info.code == BugCheck.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS
    assert info.parameters == (routine_address(driver, "OnProcess"), 0, CALLERS[kind], 0)


def test_unloading_without_cmunregistercallback_is_0xce_at_the_next_registry_write():
    system = _load(_spec(["CmRegisterCallbackEx OnProcess 320000"], []))
    system.io.stop_driver(system.io.drivers["guard"])
    with pytest.raises(SystemHalted):
        system.cm.reg_apply(RegistryOperation("set", "HKLM\\SOFTWARE\\Test", "X",
                                              RegValue("X", "REG_DWORD", 1)))
    assert system.core.bugcheck_info.parameters[2] == CALLERS["registry"]


def test_a_registry_callback_denies_writes_until_cmunregistercallback():
    system = _load(_spec(["CmRegisterCallbackEx OnProcess 320000"],
                         ["CmUnRegisterCallback OnProcess"],
                         notify={"OnProcess": ["DenyAccess"]}))
    write = RegistryOperation("set", "HKLM\\SOFTWARE\\Test", "X", RegValue("X", "REG_DWORD", 1))
    with pytest.raises(NtError):
        system.cm.reg_apply(write)
    system.io.stop_driver(system.io.drivers["guard"])
    system.cm.reg_apply(write)
    assert system.cm.query_value("HKLM\\SOFTWARE\\Test", "X") is not None


def test_two_registry_callbacks_at_one_altitude_collide():
    system = _load(_spec(["CmRegisterCallbackEx OnProcess 320000"]))
    with pytest.raises(NtError) as error:
        system.io.load_driver(spec_from_dict(
            _spec(["CmRegisterCallbackEx OnProcess 320000"], name="other"), "<test>"))
    assert error.value.status == NtStatus.STATUS_FLT_INSTANCE_ALTITUDE_COLLISION


def test_removing_a_routine_never_registered_is_status_procedure_not_found():
    with pytest.raises(NtError) as error:
        _load(_spec(["PsRemoveLoadImageNotifyRoutine OnProcess"]))
    assert error.value.status == NtStatus.STATUS_PROCEDURE_NOT_FOUND


def test_a_step_naming_a_routine_missing_from_notify_is_a_spec_error_naming_the_step():
    with pytest.raises(SpecError) as error:
        spec_from_dict(_spec(["PsSetLoadImageNotifyRoutine Nope"]), "guard.toml")
    assert "guard.toml: routine DriverEntry, step 1" in str(error.value)
    assert "it has OnProcess" in str(error.value)


def test_a_bad_notify_step_is_a_spec_error_listing_the_valid_steps():
    with pytest.raises(SpecError) as error:
        spec_from_dict(_spec([], notify={"OnProcess": ["sleep 3"]}), "guard.toml")
    assert "guard.toml: notify routine OnProcess" in str(error.value)
    assert "CreationStatus STATUS" in str(error.value)


def _protector(unload: list[str] | None = None) -> System:
    system = _load(_spec(["ObRegisterCallbacks 328010 victim.exe "
                          "PROCESS_TERMINATE|PROCESS_VM_WRITE"], unload))
    system.ps.create_process("victim.exe")
    return system


def test_an_ob_pre_operation_callback_strips_process_terminate_and_the_kill_is_denied():
    system = _protector()
    victim = next(p for p in system.ps.live_processes() if p.image == "victim.exe")
    caller = system.ps.create_process("taskkill.exe")
    with pytest.raises(NtError) as error:
        system.ps.open_and_terminate(caller, victim, 0)
    assert error.value.status == NtStatus.STATUS_ACCESS_DENIED
    assert victim.alive
    assert any("guard's pre-operation callback strips PROCESS_TERMINATE" in t
               for t in _texts(system, "callback"))


def test_without_an_ob_callback_a_user_mode_kill_through_a_handle_succeeds():
    system = new_system()
    victim = system.ps.create_process("victim.exe")
    system.ps.open_and_terminate(system.ps.create_process("taskkill.exe"), victim, 0)
    assert not victim.alive


def test_after_obunregistercallbacks_the_kill_succeeds():
    system = _protector(["ObUnRegisterCallbacks"])
    system.io.stop_driver(system.io.drivers["guard"])
    victim = next(p for p in system.ps.live_processes() if p.image == "victim.exe")
    system.ps.open_and_terminate(system.ps.create_process("taskkill.exe"), victim, 0)
    assert not victim.alive


def test_unloading_without_obunregistercallbacks_is_0xce_at_the_next_open():
    system = _protector([])
    system.io.stop_driver(system.io.drivers["guard"])
    victim = next(p for p in system.ps.live_processes() if p.image == "victim.exe")
    with pytest.raises(SystemHalted):
        system.ps.open_and_terminate(system.ps.create_process("taskkill.exe"), victim, 0)
    assert system.core.bugcheck_info.parameters[2] == CALLERS["object"]


def test_two_ob_registrations_at_one_altitude_collide():
    system = _protector()
    with pytest.raises(NtError) as error:
        system.io.load_driver(spec_from_dict(_spec(
            ["ObRegisterCallbacks 328010 x.exe PROCESS_TERMINATE"], name="other"), "<test>"))
    assert error.value.status == NtStatus.STATUS_FLT_INSTANCE_ALTITUDE_COLLISION


def test_an_unknown_process_right_is_a_spec_error_listing_the_rights():
    with pytest.raises(SpecError, match="PROCESS_KILL.*PROCESS_TERMINATE"):
        spec_from_dict(_spec(["ObRegisterCallbacks 328010 x.exe PROCESS_KILL"]), "<test>")


LINKED = ["IoCreateDevice Guard", "IoCreateSymbolicLink \\??\\Guard \\Device\\Guard"]


def test_user_mode_opens_a_device_by_its_dos_name_through_global():
    system = _load(_spec(LINKED, ["IoDeleteSymbolicLink \\??\\Guard"]))
    app = system.ps.create_process("app.exe")
    system.io.files.open_file(app, "\\\\.\\Guard")
    assert any("NtCreateFile(\\GLOBAL??\\Guard)" in t for t in _texts(system, "syscall"))


def test_after_iodeletesymboliclink_the_dos_name_is_not_found():
    system = _load(_spec(LINKED, ["IoDeleteSymbolicLink \\??\\Guard"]))
    system.io.stop_driver(system.io.drivers["guard"])
    with pytest.raises(NtError) as error:
        system.io.files.open_file(system.ps.create_process("app.exe"), "\\\\.\\Guard")
    assert error.value.status == NtStatus.STATUS_OBJECT_NAME_NOT_FOUND


def test_a_link_left_behind_at_unload_makes_the_next_load_collide():
    system = _load(_spec(LINKED, []))
    system.io.stop_driver(system.io.drivers["guard"])
    with pytest.raises(NtError) as error:
        system.io.load_driver(spec_from_dict(_spec(LINKED, []), "<test>"))
    assert error.value.status == NtStatus.STATUS_OBJECT_NAME_COLLISION


def test_a_link_name_outside_dosdevices_is_a_spec_error():
    with pytest.raises(SpecError, match="not a DOS device name"):
        spec_from_dict(_spec(["IoCreateSymbolicLink \\Device\\X \\Device\\Guard"]), "<test>")


def test_iocreatedevice_gives_the_default_descriptor_that_lets_everyone_read_and_write():
    system = _load(_spec(["IoCreateDevice Guard"]))
    student = system.ps.create_process("app.exe", user="student")
    assert system.io.files.open_file(student, "\\Device\\Guard", "write") is not None
    with pytest.raises(NtError) as error:  # GENERIC_ALL is the administrators' alone
        system.io.files.open_file(student, "\\Device\\Guard", "all")
    assert error.value.status == NtStatus.STATUS_ACCESS_DENIED


def test_iocreatedevicesecure_sys_all_adm_all_shuts_out_a_standard_user():
    system = _load(_spec(["IoCreateDeviceSecure Guard SDDL_DEVOBJ_SYS_ALL_ADM_ALL"]))
    with pytest.raises(NtError) as error:
        system.io.files.open_file(system.ps.create_process("app.exe", user="student"),
                                  "\\Device\\Guard")
    assert error.value.status == NtStatus.STATUS_ACCESS_DENIED
    admin = system.ps.create_process("tool.exe", user="teacher")
    assert system.io.files.open_file(admin, "\\Device\\Guard", "all") is not None


def test_iocreatedevicesecure_refuses_sddl_outside_the_device_subset():
    with pytest.raises(SpecError, match="SDDL_DEVOBJ_SYS_ALL"):
        spec_from_dict(_spec(["IoCreateDeviceSecure Guard O:BAD:(D;;GA;;;WD)"]), "<test>")


def test_every_new_step_cites_its_wdk_page_and_a_documented_irql_limit():
    new = ("PsSetCreateProcessNotifyRoutineEx", "PsSetCreateThreadNotifyRoutine",
           "PsRemoveCreateThreadNotifyRoutine", "PsSetLoadImageNotifyRoutine",
           "PsRemoveLoadImageNotifyRoutine", "CmRegisterCallbackEx", "CmUnRegisterCallback",
           "ObRegisterCallbacks", "ObUnRegisterCallbacks", "IoCreateSymbolicLink",
           "IoDeleteSymbolicLink", "IoCreateDeviceSecure")
    limits = {name: DDIS[name].limit for name in new}
    assert limits["PsSetCreateProcessNotifyRoutineEx"] == 0  # PASSIVE_LEVEL
    assert limits["PsRemoveCreateThreadNotifyRoutine"] == 1  # <= APC_LEVEL
    assert limits["ObRegisterCallbacks"] == 1
    assert all(DDIS[name].source.startswith("https://learn.microsoft.com/") for name in new)
