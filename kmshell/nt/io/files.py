"""The I/O manager's file-system half and system-call path (Io; the system services
NtCreateFile, NtReadFile, NtWriteFile, NtDeviceIoControlFile and NtClose, and internally
IopParseDevice, IopMountVolume, IoRegisterFileSystem): user-mode I/O builds IRPs for the
device behind a handle, and volumes are mounted by the file systems registered.

`FileIo` owns `file_systems`, the registered disk file systems' control devices, newest
first (IopDiskFileSystemQueueHead), and `syscall_thread`, the thread whose system call is
being carried out (drivers run in its context). System builds it with the Core, Ob (names
are parsed there), Ke (the caller waits), the I/O manager (which carries the IRPs) and Ps
(whose processes make the calls), then wires in `pnp` (told when a handle to a device
closes). The I/O manager reaches it as `io.files`, Ps as `ps.io_files` (a process's I/O is
run down when it exits).

A request is made by the process's first thread: the trace shows it enter kernel mode, the
I/O manager build the IRP, and — when a driver pends it — the thread wait (synchronous I/O)
until the IRP completes, then return to user mode. When a process exits, its threads'
pending IRPs are cancelled and its file handles closed (CLEANUP, then CLOSE). Reads and
writes get the caller's buffer as the device asks (DO_BUFFERED_IO: a system buffer;
DO_DIRECT_IO: an MDL; neither: the user address), an IOCTL as its control code's method
says; a handle opened overlapped does not wait.

Win32 names become NT names as CreateFile makes them: `C:\\...` and `\\\\.\\NAME` are looked up in
`\\GLOBAL??`, where the boot's links and a driver's IoCreateSymbolicLink put them.

A name that goes on past a device (`C:\\notes.txt`, `\\Device\\Harddisk0\\notes.txt`) names
a file on the volume that device holds: the first open mounts it (IopMountVolume asks each
registered file system with IRP_MJ_FILE_SYSTEM_CONTROL/IRP_MN_MOUNT_VOLUME), and the file's
IRPs go to the file system's volume device, which sends its own requests down the disk's
stack.

Simplifications: files hold no data and every name opens (the file system is not asked to
look a name up on disk); a volume is mounted at its first file open, also C: (Windows
mounts the system volume during boot); there is no RAW file system, so a volume no file
system recognizes fails the open with STATUS_UNRECOGNIZED_VOLUME; the cache manager is not
modelled, so every read and write goes to the disk; a thread keeps no list of its IRPs
(IrpList): a process's are found among the IRPs in progress by their requester.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kmshell.nt.constants import (
    BugCheck,
    Irql,
    NtStatus,
    format_status,
    irql_name,
    nt_error,
    nt_success,
)
from kmshell.nt.errors import NtError
from kmshell.nt.events import ptr
from kmshell.nt.io.irp import PAGING_READ_FLAGS, DeviceObject, FileObject, Vpb, flag_names
from kmshell.nt.ke.apc import Apc, ApcKind
from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.mm import routine_address
from kmshell.nt.ob import ObjectPathError, SymbolicLink
from kmshell.nt.se import ACCESS_WORDS, access_check

if TYPE_CHECKING:
    from collections.abc import Callable

    from kmshell.nt.core import Core
    from kmshell.nt.io.driver import DriverObject
    from kmshell.nt.io.irp import Irp
    from kmshell.nt.io.manager import IoManager
    from kmshell.nt.ke.kernel import Kernel
    from kmshell.nt.mm import MemoryManager
    from kmshell.nt.ob import ObjectManager
    from kmshell.nt.pnp import PlugAndPlayManager
    from kmshell.nt.ps import Process, ProcessManager, Thread

FILE_READ_DATA, FILE_WRITE_DATA = 0x0001, 0x0002
# An IOCTL's transfer type, its two low bits (CTL_CODE): METHOD_BUFFERED 0, METHOD_IN_DIRECT 1,
# METHOD_OUT_DIRECT 2, METHOD_NEITHER 3.
METHODS = ("buffered", "direct", "direct", "neither")
USER_BUFFER_MARK = 0xDA7A  # what a driver's stray write leaves where `touch` can read it
# The system service that builds each IRP a thread asks for, and where it sits in the model's
# ntoskrnl (0x4A's first parameter: the address of the system call routine).
SERVICES = {"IRP_MJ_CREATE": ("NtCreateFile", 0xFFFFF805_1A6E4010),
            "IRP_MJ_READ": ("NtReadFile", 0xFFFFF805_1A6E5020),
            "IRP_MJ_WRITE": ("NtWriteFile", 0xFFFFF805_1A6E6030),
            "IRP_MJ_DEVICE_CONTROL": ("NtDeviceIoControlFile", 0xFFFFF805_1A6E7040)}


class FileIo:
    """Io's file-system half and system-call path. Built with the Core, the object manager
    (names are parsed there), Ke (the caller waits), the I/O manager (which carries the
    IRPs), Ps (whose processes make the calls) and Mm (their buffers); the PnP manager
    (told when a handle to a device closes) is wired in by System."""

    pnp: PlugAndPlayManager

    def __init__(self, core: Core, ob: ObjectManager, ke: Kernel, io: IoManager,
                 ps: ProcessManager, mm: MemoryManager) -> None:
        self.core = core
        self.mm = mm
        self.ob = ob
        self.ke = ke
        self.io = io
        self.ps = ps
        self.emit = core.emit
        self.bugcheck = core.bugcheck
        # registered disk file systems' control devices, newest first
        self.file_systems: list[DeviceObject] = []
        self.syscall_thread: Thread | None = None  # whose system call is being carried out

    def forget_file_system(self, device: DeviceObject) -> None:
        """A file system's control device is deleted: it is no longer asked to mount."""
        if device in self.file_systems:
            self.file_systems.remove(device)

    def _caller(self, process: Process) -> Thread:
        thread = process.first_live_thread
        if not process.alive or thread is None or process.address_space is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{process.image} "
                          f"(PID {process.pid}) has no user-mode thread to make the call")
        return thread

    def _open_device(self, path: str) -> tuple[DeviceObject, str]:
        """Ob parses the name, following symbolic links such as \\GLOBAL??\\C:; the device
        the name reaches takes the rest of it as a file name (IopParseDevice)."""
        for _ in range(8):  # at least once: obj and rest are always set
            try:
                obj, rest = self.ob.parse(path)
            except ObjectPathError as error:
                raise NtError(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND, str(error)) from None
            if not isinstance(obj, SymbolicLink):
                break
            path = obj.target + rest
        if not isinstance(obj, DeviceObject):
            raise NtError(NtStatus.STATUS_OBJECT_TYPE_MISMATCH,
                          f"{path} is a {obj.header.type_name}, not a device")
        return obj, rest

    def open_file(self, process: Process, path: str, access: str = "read",
                  overlapped: bool = False) -> int | None:
        """NtCreateFile: access check, a file object, IRP_MJ_CREATE, then a handle. Opened
        overlapped (FILE_FLAG_OVERLAPPED), its reads and writes do not wait."""
        self.core.require_running()
        thread = self._caller(process)
        if re.match(r"[A-Za-z]:(\\|$)", path):  # what CreateFile does to a Win32 path
            path = "\\GLOBAL??\\" + path
        elif path.startswith("\\\\.\\"):  # \\.\NAME, a device's Win32 name: \GLOBAL??\NAME
            path = "\\GLOBAL??\\" + path[4:]
        self.emit("Io", "syscall", f"{thread.label} calls NtCreateFile({path}): system call, "
                  "user → kernel", mode="U")
        device, file_name = self._open_device(path)
        granted, mask, why = access_check(device.header.security, process.token,
                                          ACCESS_WORDS[access], "Device")
        self.emit("Se", "access-check", f"SeAccessCheck for {process.token.user} on "
                  f"{device.label}, {access}: {'granted ' + hex(mask) if granted else 'DENIED'}"
                  f" — {why}")
        if not granted:
            raise NtError(NtStatus.STATUS_ACCESS_DENIED, f"{process.token.user} may not open "
                          f"{device.label} for {access}")
        vpb = device.vpb if file_name else None
        if vpb is not None and not vpb.mounted:
            self.mount_volume(vpb)
        file = FileObject(self.ob.header("File"), device, mask, synchronous=not overlapped,
                          file_name=file_name, vpb=vpb)
        if vpb is not None:
            volume = vpb.device
            assert volume is not None  # mounted already, or mount_volume mounted it (or raised)
            self.emit("Io", "file", f"{device.label} holds a volume mounted by "
                      f"{volume.driver.name}: the file object for {file_name} is sent to "
                      f"its volume device {volume.label}", "A file's name means something "
                      "only to the file system: the I/O manager hands the name on, and the "
                      "file system's volume device gets every request for the file.")
        result: dict[str, int] = {}

        def done(status: int) -> None:
            if nt_success(status):
                result["handle"] = process.handle_table.insert(file, mask)
                self.emit("Io", "syscall", f"NtCreateFile returns handle "
                          f"{result['handle']:#x} to {process.image}: kernel → user", mode="U")
            else:
                self.emit("Io", "syscall", f"NtCreateFile fails with {format_status(status)}: "
                          "no handle; kernel → user", mode="U")
            result["status"] = status

        self._request(thread, file.target, "IRP_MJ_CREATE", done)
        if "status" in result and not nt_success(result["status"]):
            raise NtError(result["status"], f"the driver refused IRP_MJ_CREATE for "
                          f"{device.label}")
        return result.get("handle")

    def _file(self, process: Process, handle: int) -> FileObject:
        entry = process.handle_table.entries.get(handle)
        if entry is None or not isinstance(entry.object, FileObject):
            raise NtError(NtStatus.STATUS_INVALID_HANDLE, f"{process.image} has no file "
                          f"handle {handle:#x}")
        return entry.object

    def file_io(self, process: Process, handle: int, major: str, api: str, length: int = 64,
                code: int = 0, apc: bool = False) -> None:
        """NtReadFile / NtWriteFile / NtDeviceIoControlFile on an open handle: the IRP gets
        the caller's buffer the way the device (or the control code) asks for. With `apc`,
        as ReadFileEx / WriteFileEx call it: an ApcRoutine, the caller's completion routine,
        which the I/O manager queues to the thread as a user APC when the request is done."""
        self.core.require_running()
        thread = self._caller(process)
        file = self._file(process, handle)
        if apc and file.synchronous:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"handle {handle:#x} was opened "
                          "for synchronous I/O: a completion routine (ReadFileEx, WriteFileEx) "
                          "needs a handle opened --overlapped")
        if not 0 < length <= 0xFFFFFFFF:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"a transfer length is a ULONG "
                          f"of 1 to 0xFFFFFFFF bytes, not {length}")
        needed = {"IRP_MJ_READ": FILE_READ_DATA, "IRP_MJ_WRITE": FILE_WRITE_DATA}.get(major, 0)
        if major == "IRP_MJ_DEVICE_CONTROL":  # the code's RequiredAccess bits (14-15) against
            # the handle: FILE_READ_ACCESS needs FILE_READ_DATA, FILE_WRITE_ACCESS
            # FILE_WRITE_DATA; "the I/O manager does not send IOCTLs if the caller has
            # insufficient access rights" (https://learn.microsoft.com/en-us/windows-hardware/
            # drivers/kernel/security-issues-for-i-o-control-codes)
            needed = (FILE_READ_DATA if code >> 14 & 1 else 0) | \
                (FILE_WRITE_DATA if code >> 15 & 1 else 0)
        self.emit("Io", "syscall", f"{thread.label} calls {api}(handle {handle:#x}): system "
                  "call, user → kernel", mode="U")
        if needed and process.handle_table.entries[handle].granted_access & needed != needed:
            raise NtError(NtStatus.STATUS_ACCESS_DENIED, f"handle {handle:#x} was not opened "
                          f"with the access {api} needs")

        def done(status: int) -> None:
            self.emit("Io", "syscall", f"{api} returns {format_status(status)} to "
                      f"{process.image}: kernel → user", mode="U")

        ioctl = major == "IRP_MJ_DEVICE_CONTROL"
        method = METHODS[code & 3] if ioctl else file.target.io
        self._request(thread, file.target, major, done, buffer=(method, length),
                      overlapped=not file.synchronous, apc=apc, code=code if ioctl else None)

    def close_handle(self, process: Process, handle: int) -> None:
        """NtClose: the last handle sends IRP_MJ_CLEANUP, the last reference IRP_MJ_CLOSE."""
        self.core.require_running()
        thread = self._caller(process)
        file = self._file(process, handle)
        self.emit("Io", "syscall", f"{thread.label} calls NtClose({handle:#x}): system call, "
                  "user → kernel", mode="U")
        process.handle_table.close(handle)
        self._close_file(file)
        self.emit("Io", "syscall", f"NtClose returns STATUS_SUCCESS: handle {handle:#x} is "
                  "gone; kernel → user", mode="U")

    def _close_file(self, file: FileObject) -> None:
        """The last handle: IRP_MJ_CLEANUP; the last reference: IRP_MJ_CLOSE."""
        for major in ("IRP_MJ_CLEANUP", "IRP_MJ_CLOSE"):
            irp = self.io.build_irp(file.target, major)
            self.io.call_driver(file.target, irp)
        self.pnp.handle_closed(file.device)

    def processes_with_io_in_progress(self) -> set[Process]:
        """The processes one of whose threads asked for an IRP that is still in progress: each
        IRP holds a reference on its thread, and the thread on its process."""
        return {irp.requester.process for irp in self.io.irps_in_progress()
                if irp.requester is not None}

    def run_down_io(self, process: Process) -> None:
        """A process exits, as the I/O manager sees it: the pending IRPs its threads asked
        for are cancelled (IoCancelThreadIo), then each handle to a file is closed with
        IRP_MJ_CLEANUP and IRP_MJ_CLOSE, as NtClose would."""
        for irp, thread in [(i, i.requester) for i in self.io.irps_in_progress()
                            if i.requester is not None and i.requester.process is process]:
            self.emit("Io", "cancel", f"{process.image} is exiting: IoCancelThreadIo cancels "
                      f"IRP {irp.number}, which its thread {thread.tid} asked for")
            self.io.cancel_irp(irp)
        for handle, entry in list(process.handle_table.entries.items()):
            if isinstance(entry.object, FileObject):
                process.handle_table.close(handle)
                self.emit("Io", "close", f"{process.image} is exiting: its handle {handle:#x} "
                          f"to {entry.object.device.label} is closed")
                self._close_file(entry.object)

    def _request(self, thread: Thread, device: DeviceObject, major: str,
                 done: Callable[[int], None], buffer: tuple[str, int] | None = None,
                 overlapped: bool = False, apc: bool = False, code: int | None = None) -> None:
        """Build the IRP for thread's system call and send it; a synchronous caller waits
        if a driver pends it, an overlapped one gets STATUS_PENDING back at once."""
        irp = self.io.build_irp(device, major)
        irp.requester, irp.deferred, irp.code = thread, True, code  # Parameters.DeviceIoControl
        release = self._attach_buffer(irp, thread.process, major, *buffer) if buffer else None
        returned: list[int] = []  # what the system call returned: STATUS_PENDING, if pended

        def complete(status: int) -> None:
            """IopCompleteRequest's part for this call, in the requester's thread: the buffer,
            the IO_STATUS_BLOCK and the event; a thread waiting for it then returns."""
            if release is not None:
                release(status)
            # IopCompleteRequest writes the IO_STATUS_BLOCK, sets the event and queues the
            # ApcRoutine only for a status that is not an error, or an error after
            # STATUS_PENDING (ReactOS ntoskrnl/io/iomgr/irp.c)
            told = not nt_error(status) or irp.pending_returned
            if returned:  # an overlapped caller was told STATUS_PENDING: it is not waiting
                event = "the file object's event" if apc else "its OVERLAPPED event"
                self.emit("Io", "overlapped", f"IRP {irp.number} done: the I/O manager writes "
                          f"{format_status(status)} to {thread.process.image}'s "
                          f"IO_STATUS_BLOCK and sets {event}")
            if apc and told:  # the caller's ApcRoutine: a user APC to this thread
                def routine() -> None:
                    self.emit("Io", "apc", f"{thread.process.image}'s completion routine runs "
                              f"in user mode and learns {format_status(status)} (dwErrorCode, "
                              "bytes transferred)", mode="U")

                self.ke.insert_queue_apc(thread, Apc(
                    ApcKind.USER, f"{thread.process.image}!FileIOCompletionRoutine",
                    f"IRP {irp.number}", routine))
            if returned:
                return
            if thread.io_wait is not None and thread.io_wait[0] is irp:
                # an error after STATUS_PENDING on a synchronous file object: FinalStatus, no
                # IO_STATUS_BLOCK write (ReactOS ntoskrnl/io/iomgr/irp.c, IopCompleteRequest)
                record = (f"records {format_status(status)} as the file object's FinalStatus"
                          if nt_error(status) else f"writes {format_status(status)} to the "
                          "caller's IO_STATUS_BLOCK")
                self.emit("Io", "event", f"IopCompleteRequest {record} and sets the file "
                          f"object's event: {thread.label}'s wait is satisfied")
                self._end_io_wait(thread)
                done(status)

        irp.on_done = complete
        outer, self.syscall_thread = self.syscall_thread, thread  # drivers run in its context
        self.io.thread_stack_entered()
        try:
            status = self.io.call_driver(device.top(), irp)
        finally:
            self.syscall_thread = outer
        api, service = SERVICES[major]
        self._check_return_irql(thread, api, service)
        if irp.completed and irp.number in self.io.irps and not irp.pending_returned:
            # IopPerformSynchronousRequest / IopSynchronousServiceTail: completed at once,
            # finished here at APC_LEVEL (ReactOS ntoskrnl/io/iomgr/iofunc.c)
            before = self.ke.raise_irql(Irql.APC_LEVEL)
            self.io.finish_request(irp)
            self.ke.lower_irql(before)
        self.ke.deliver_apcs(thread)  # back at PASSIVE_LEVEL: an APC queued meanwhile runs
        if status == NtStatus.STATUS_PENDING and overlapped:
            returned.append(status)
            self.emit("Io", "syscall", f"{api} returns 0x00000103 STATUS_PENDING to "
                      f"{thread.process.image} at once: kernel → user", "Overlapped I/O: "
                      "the file was opened with FILE_FLAG_OVERLAPPED, so the thread runs "
                      "on and learns the result later from its OVERLAPPED event (or an "
                      "I/O completion port).", mode="U")
            if irp.number not in self.io.irps:  # finished already: its event is set
                self.emit("Io", "overlapped", f"IRP {irp.number} is already done: its "
                          "IO_STATUS_BLOCK is written and its OVERLAPPED event set")
        elif irp.number not in self.io.irps:  # finished: the service returns its status
            done(irp.status)
        elif status == NtStatus.STATUS_PENDING:
            self._begin_io_wait(thread, irp)

    def _check_return_irql(self, thread: Thread, api: str, service: int) -> None:
        """KiSystemServiceExit: a thread goes back to user mode only at PASSIVE_LEVEL; a
        driver that returned with a spin lock held or the IRQL raised stops the machine with
        0x4A IRQL_GT_ZERO_AT_SYSTEM_SERVICE (the system call routine, the current IRQL)
        (https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x4a--irql-gt-zero-at-system-service)."""
        irql = self.core.processor().irql
        if irql == Irql.PASSIVE_LEVEL:
            return
        held = self.ke.driver_locks_held()
        locks = ", ".join(f"{lock.name} (taken by {lock.held_by})" for lock in held)
        self.bugcheck(BugCheck.IRQL_GT_ZERO_AT_SYSTEM_SERVICE, (service, irql, 0, 0),
                      driver=self.ke.irql_raised_by or "ntoskrnl.exe", routine=api,
                      rule=f"{thread.label}'s {api} was about to return to user mode at IRQL "
                      f"{irql} ({irql_name(irql)})" + (f", with spin lock {locks} still held"
                                                       if held else "")
                      + ": a driver's dispatch routine returned without lowering the IRQL it "
                      "raised. User mode runs only at PASSIVE_LEVEL.",
                      fix="On every path out of a dispatch routine, release each spin lock "
                      "(KeReleaseSpinLock with the IRQL it saved) and undo each KeRaiseIrql.")

    def copy_to_user_buffer(self, driver: DriverObject, irp: Irp | None, length: int,
                            routine: str) -> None:
        """RtlCopyMemory(Irp->UserBuffer, ...): a user address, translated through the page
        tables of whatever process is current on this processor — the caller's only when
        the driver runs in the caller's thread."""
        if irp is None or irp.user_buffer is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, "Irp->UserBuffer is set only for "
                          "neither I/O from user mode (a device without io =, or an IOCTL "
                          "with METHOD_NEITHER)")
        pid, address, _ = irp.user_buffer
        cpu = self.core.processor()
        thread = self.syscall_thread or (None if cpu.is_idle else cpu.current_thread)
        context = self.ps.system_process if thread is None else thread.process
        requester = self.ps.lookup_process(pid)
        space = context.address_space
        vad = space.vad_for(address) if space is not None else None
        where = routine_address(driver, routine)
        if space is not None and vad is not None:
            space.memory[address] = USER_BUFFER_MARK
            if context is requester:
                self.emit("Io", "buffer", f"RtlCopyMemory: {driver.name} writes {length} bytes "
                          f"to UserBuffer {address:#x} in {requester.image}'s own context: the "
                          "address means the caller's buffer here", "Neither I/O is safe only "
                          "while the driver runs in the requesting thread (and inside __try, "
                          "after ProbeForWrite).")
                return
            # another process's memory at the same address
            self.emit("Mm", "corrupt", f"RtlCopyMemory: {driver.name} writes {length} bytes to "
                      f"UserBuffer {address:#x} — but {context.image} (PID {context.pid}) is "
                      f"current on CPU{cpu.number}, so they land in {context.image}'s "
                      f"{vad.description}, not {requester.image}'s. Nothing notices",
                      "A user address means something only in one process. From a DPC, a "
                      "timer or a worker thread the current process is whoever was running: "
                      "neither I/O there writes into a stranger's memory.")
            return
        irql = cpu.irql
        rule = (f"{driver.name} wrote to UserBuffer {address:#x} from {routine}, running in "
                f"{context.image}'s context, where nothing is mapped at that address.")
        fix = ("Use buffered or direct I/O for requests completed later, or copy the data "
               "while still in the caller's thread (in the dispatch routine).")
        if irql >= Irql.DISPATCH_LEVEL:
            self.bugcheck(BugCheck.DRIVER_IRQL_NOT_LESS_OR_EQUAL, (address, irql, 1, where),
                          driver=driver.image, routine=routine, rule=rule + " At DISPATCH_LEVEL "
                          "the page fault cannot even be resolved.", fix=fix)
        self.io.unhandled_exception(driver, routine, where, True, address, rule, fix)

    def _attach_buffer(self, irp: Irp, process: Process, major: str, method: str,
                       length: int) -> Callable[[int], None] | None:
        """How the caller's buffer reaches the driver; returns what completion undoes."""
        size = (length + 0xFFF) & ~0xFFF
        if process.io_buffer is None or process.io_buffer[1] < size:  # a bigger one, once
            assert process.address_space is not None  # _caller refused a process without one
            process.io_buffer = (self.mm.allocate_virtual(process.address_space, size,
                                                            "I/O buffer").start, size)
        user = process.io_buffer[0]
        into = major != "IRP_MJ_WRITE"  # data flows to the caller (a read, an IOCTL's output)
        if method == "buffered":
            system = self.core.allocate_address(length)
            irp.buffer = f"SystemBuffer {ptr(system)} ({length} bytes of nonpaged pool)"
            self.emit("Io", "buffer", f"buffered I/O: the I/O manager allocates a {length}-byte "
                      f"system buffer in nonpaged pool at {ptr(system)}"
                      + ("" if into else f" and copies the caller's data from {user:#x} into "
                         "it"), "The driver only ever touches kernel memory; the copy costs "
                      "time, so buffered I/O suits small transfers.")

            def release(status: int) -> None:
                # IopCompleteRequest copies back unless NT_ERROR: warnings too (ReactOS
                # ntoskrnl/io/iomgr/irp.c)
                copied = f"copies {length} bytes to the caller's buffer at {user:#x} and " \
                    if into and not nt_error(status) else ""
                self.emit("Io", "buffer", f"IRP {irp.number}: the I/O manager {copied}frees "
                          "the system buffer")
        elif method == "direct":
            mdl = self.core.allocate_address(0x30)
            pages = ((user & 0xFFF) + length + 0xFFF) // 0x1000
            irp.buffer = f"MdlAddress {ptr(mdl)} → {length} bytes at {user:#x}, {pages} page(s)"
            irp.mdl = (process.pid, user, length)
            self.emit("Io", "buffer", f"direct I/O: an MDL at {ptr(mdl)} describes the caller's "
                      f"{length} bytes at {user:#x}; MmProbeAndLockPages locks its {pages} "
                      "page(s) in memory", "No copy: the driver (or its DMA) reaches the "
                      "caller's own pages through the MDL, mapped into system space with "
                      "MmGetSystemAddressForMdlSafe; direct I/O suits large transfers.")
            irp.mdl_frames = self.mm.probe_and_lock(process, user, length)

            def release(status: int) -> None:
                self.emit("Io", "buffer", f"IRP {irp.number}: IoFreeMdl frees the MDL "
                          "that described the caller's pages")
        else:
            irp.buffer = f"UserBuffer {user:#x} (the caller's address: neither I/O)"
            irp.user_buffer = (process.pid, user, length)
            self.emit("Io", "buffer", f"neither I/O: Irp->UserBuffer = {user:#x}, the caller's "
                      "own address, valid only in its process context", "The driver must "
                      "probe it (ProbeForRead/ProbeForWrite inside __try) and use it before "
                      "leaving the caller's context: from a DPC or another thread the same "
                      "address means another process's memory, or nothing.")
            return None
        return release

    def _begin_io_wait(self, thread: Thread, irp: Irp) -> None:
        """Synchronous I/O: the calling thread waits (Executive) until the IRP completes."""
        previous = (thread.state, thread.wait_reason)
        self.ke.wait_executive(thread)
        thread.io_wait = (irp, previous)
        self.emit("Ke", "wait", f"{thread.label} waits for IRP {irp.number} to complete "
                  "(synchronous I/O: Waiting, Executive)", "A driver that cannot finish at "
                  "once returns STATUS_PENDING; the requester waits, using no processor.")
        self.ke.dispatch()

    def _end_io_wait(self, thread: Thread) -> None:
        assert thread.io_wait is not None  # called only for a thread that waits for its IRP
        _, previous = thread.io_wait
        thread.io_wait = None
        self.ke.end_executive_wait(thread, previous)

    def _paging_volume(self) -> Vpb | None:
        """The VPB of the volume on C:, where paging I/O goes; None on a machine with no disk
        there or no file system to mount it."""
        try:
            device, _ = self._open_device("\\GLOBAL??\\C:")
        except NtError:  # C: names no device: this machine has no disk
            return None
        return device.vpb if self.file_systems else None

    def can_page(self) -> bool:
        """Whether paging I/O has somewhere to go."""
        return self._paging_volume() is not None

    def page_read(self, thread: Thread | None, path: str, offset: int,
                  done: Callable[[int], Callable[[], object] | None]) -> int | None:
        """IoPageRead for the pager: IRP_MJ_READ of one page at `offset` of the file `path`
        on C:, with IRP_PAGING_IO | IRP_NOCACHE | IRP_SYNCHRONOUS_PAGING_IO, sent to the
        volume's file system, which sends it down the disk's stack (ReactOS
        ntoskrnl/io/iomgr/iofunc.c, IoPageRead). `thread`, which faulted, waits (PageIn)
        until the read completes; then `done` runs, the thread goes back to what it was
        doing, and what `done` returned (the access, run again) runs. Paging I/O completes
        with no APC: IofCompleteRequest finishes it at once (irp.c). Returns the IRP's
        number, or None on a machine with no file system on C: (nothing to send it to: the
        caller reads the page at once)."""
        vpb = self._paging_volume()
        if vpb is None:
            return None
        if not vpb.mounted:  # Windows opens the paging file at boot (smss.exe, NtCreatePagingFile)
            self.mount_volume(vpb)
        volume = vpb.device
        assert volume is not None  # mounted now, or mount_volume raised
        irp = self.io.build_irp(volume, "IRP_MJ_READ")
        irp.flags = PAGING_READ_FLAGS
        irp.buffer = "MdlAddress: one locked page, the frame being read into"
        previous = (thread.state, thread.wait_reason) if thread is not None else None

        def finished(status: int) -> None:
            then = done(status)
            if thread is not None:
                thread.io_wait = None
            if thread is not None and previous is not None \
                    and thread.state is not ThreadState.Terminated:
                self.emit("Ke", "wake", f"the paging read (IRP {irp.number}) is done: "
                          f"{thread.label} goes on, and the access that faulted runs again")
                self.ke.end_executive_wait(thread, previous)
            if then is not None:
                then()

        irp.on_done = finished
        self.emit("Io", "page-read", f"IoPageRead: IRP {irp.number}, IRP_MJ_READ of 4096 "
                  f"bytes at offset {offset:#x} of {path}, Flags {flag_names(irp.flags)}, "
                  f"to {volume.label}", "Paging I/O is an ordinary IRP: the pager asks the "
                  "file system for the file's data, and the file system asks the disk.")
        if thread is not None:
            self.ke.wait_executive(thread, WaitReason.PageIn)
            thread.io_wait = (irp, previous) if previous is not None else None
            self.emit("Ke", "wait", f"{thread.label} waits for IRP {irp.number} (state Waiting, "
                      "PageIn): a hard fault waits for the disk",
                      "The thread that faulted cannot go on until its page is in; the "
                      "processor runs other threads meanwhile.")
        self.io.call_driver(volume.top(), irp)
        return irp.number

    # ------------------------------------------------------------- file systems and volumes

    def register_file_system(self, device: DeviceObject) -> None:
        """IoRegisterFileSystem: the control device joins the head of the disk file systems'
        queue (IopDiskFileSystemQueueHead), so the newest is asked first."""
        self.file_systems.insert(0, device)
        self.emit("Io", "fs", f"IoRegisterFileSystem: {device.driver.name}'s control device "
                  f"{device.label} is a disk file system; each disk volume not yet mounted "
                  "will be offered to " + ", ".join(d.driver.name for d in self.file_systems),
                  "A file system is not in any device stack: it registers, and the I/O "
                  "manager asks it to mount volumes as they are first used.")

    def unregister_file_system(self, driver: DriverObject) -> None:
        """IoUnregisterFileSystem: the driver's control devices leave the queue."""
        for device in [d for d in self.file_systems if d.driver is driver]:
            self.file_systems.remove(device)
            self.emit("Io", "fs", f"IoUnregisterFileSystem: {driver.name} is no longer asked "
                      "to mount volumes")

    def mount_volume(self, vpb: Vpb) -> None:
        """IopMountVolume: IRP_MJ_FILE_SYSTEM_CONTROL/IRP_MN_MOUNT_VOLUME to each registered
        disk file system's control device in turn, until one recognizes the volume."""
        real = vpb.real_device
        self.emit("Io", "mount", f"{real.label} holds a volume that no file system has mounted "
                  "(its VPB is not VPB_MOUNTED): IopMountVolume offers it to the disk file "
                  "systems in turn", "Which file system a volume holds is decided when it is "
                  "first used: each file system reads the volume's boot sector and says "
                  "whether it is its own.")
        for cdo in list(self.file_systems):
            irp = self.io.build_irp(cdo, "IRP_MJ_FILE_SYSTEM_CONTROL", "IRP_MN_MOUNT_VOLUME")
            irp.vpb = vpb
            self.io.call_driver(cdo.top(), irp)
            if irp.completed and nt_success(irp.status) and vpb.device is not None:  # mounted
                self.emit("Io", "mount", f"{cdo.driver.name} mounted the volume on {real.label}: "
                          f"Vpb->DeviceObject = {vpb.device.label}, VPB_MOUNTED")
                return
            if vpb.mounted:  # it made a volume device, yet failed: the mount did not happen
                vpb.device = None
            self.emit("Io", "mount", f"{cdo.driver.name} does not take the volume: "
                      + (format_status(irp.status) if irp.completed else "it did not complete "
                         "the mount request"))
        raise NtError(NtStatus.STATUS_UNRECOGNIZED_VOLUME, f"no file system recognized the "
                      f"volume on {real.label} (registered: "
                      + (", ".join(d.driver.name for d in self.file_systems) or "none")
                      + "); the model has no RAW file system to fall back on")

    def volume_device_created(self, vpb: Vpb, device: DeviceObject) -> None:
        """In a file system's IRP_MN_MOUNT_VOLUME: the device it creates is the volume device
        object. It sends its requests to the top of the volume's stack, so an IRP for it needs
        one stack location more than that stack (VolDo->StackSize = Target->StackSize + 1)."""
        target = vpb.real_device.top()
        device.target_device, device.stack_size = target, target.stack_size + 1
        vpb.device = device
        self.emit("Io", "mount", f"{device.driver.name} creates volume device {device.label} "
                  f"for the volume on {vpb.real_device.label}: StackSize {device.stack_size} "
                  f"(one more than {target.label}'s), Vpb->DeviceObject = {device.label}",
                  "The volume device is the top of a stack of its own (file system filters "
                  "attach above it), not part of the disk's stack.")

    def dismount(self, vpb: Vpb) -> None:
        """The volume's device goes away: its file system deletes the volume device."""
        volume = vpb.device
        assert volume is not None  # called for a mounted volume only
        vpb.device = None
        self.emit("Io", "mount", f"{vpb.real_device.label} is going away: "
                  f"{volume.driver.name} dismounts its volume and deletes {volume.label}")
        for device in volume.stack():
            self.io.detach_and_delete(device)
