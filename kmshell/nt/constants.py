"""The numbers: IRQLs, IRP codes, NTSTATUS values and bugcheck codes, as in the WDK headers.

Values are the x64 ones from wdm.h / ntddk.h (IRQLs, IRP_MJ_*, IRP_MN_*), ntstatus.h
(NTSTATUS) and bugcodes.h (stop codes). Names are kept exactly as the headers spell them so
that a student meets them again, unchanged, in WinDbg and the documentation.
"""

from __future__ import annotations

import difflib
from enum import IntEnum
from functools import cache

from kmshell.nt.rtl import U32, is_number, parse_number, printable


class Irql(IntEnum):
    """x64 interrupt request levels (wdm.h, _AMD64_). Device interrupts use 3..11 (DIRQLs);
    SYNCH_LEVEL is IPI_LEVEL - 2 = 12 on a multiprocessor (wdm.h: `#define SYNCH_LEVEL
    (IPI_LEVEL-2)`), the level of the dispatcher lock and of interprocessor synchronization."""

    PASSIVE_LEVEL = 0
    APC_LEVEL = 1
    DISPATCH_LEVEL = 2
    CMCI_LEVEL = 5
    SYNCH_LEVEL = 12
    CLOCK_LEVEL = 13
    IPI_LEVEL = 14
    PROFILE_LEVEL = 15

    # aliases with the same value, as the header defines them
    LOW_LEVEL = 0
    DRS_LEVEL = 14
    POWER_LEVEL = 14
    HIGH_LEVEL = 15


# Device interrupt request levels on x64 lie strictly between DISPATCH_LEVEL and SYNCH_LEVEL.
DIRQL_MIN = 3
DIRQL_MAX = 11


def _irql_name(level: int) -> str:
    if DIRQL_MIN <= level <= DIRQL_MAX and level != Irql.CMCI_LEVEL:
        return f"DIRQL {level}"
    names = {0: "PASSIVE_LEVEL", 1: "APC_LEVEL", 2: "DISPATCH_LEVEL", 5: "CMCI_LEVEL",
             12: "SYNCH_LEVEL", 13: "CLOCK_LEVEL", 14: "IPI_LEVEL", 15: "HIGH_LEVEL"}
    return names.get(level, f"IRQL {level}")


IRQL_NAMES = tuple(_irql_name(level) for level in range(16))  # every hop names its IRQL


def irql_name(level: int) -> str:
    """The name a debugger prints for an IRQL value on x64."""
    return IRQL_NAMES[level] if 0 <= level < 16 else f"IRQL {level}"


def parse_irql(text: str) -> int:
    """Accept `2`, `DISPATCH_LEVEL`, `dispatch` (any case); ValueError gives the valid forms."""
    word = text.strip().upper()
    if word.isdigit() and 0 <= int(word) <= 15:
        return int(word)
    if not word.endswith("_LEVEL"):
        word += "_LEVEL"
    if word in Irql.__members__:
        return int(Irql[word])
    raise ValueError(
        f"'{text}' is not an IRQL; use 0..15 or a name such as PASSIVE, APC, DISPATCH, SYNCH, "
        "CLOCK, HIGH"
    )


# Major function codes (wdm.h).
IRP_MJ = {
    "IRP_MJ_CREATE": 0x00,
    "IRP_MJ_CREATE_NAMED_PIPE": 0x01,
    "IRP_MJ_CLOSE": 0x02,
    "IRP_MJ_READ": 0x03,
    "IRP_MJ_WRITE": 0x04,
    "IRP_MJ_QUERY_INFORMATION": 0x05,
    "IRP_MJ_SET_INFORMATION": 0x06,
    "IRP_MJ_QUERY_EA": 0x07,
    "IRP_MJ_SET_EA": 0x08,
    "IRP_MJ_FLUSH_BUFFERS": 0x09,
    "IRP_MJ_QUERY_VOLUME_INFORMATION": 0x0A,
    "IRP_MJ_SET_VOLUME_INFORMATION": 0x0B,
    "IRP_MJ_DIRECTORY_CONTROL": 0x0C,
    "IRP_MJ_FILE_SYSTEM_CONTROL": 0x0D,
    "IRP_MJ_DEVICE_CONTROL": 0x0E,
    "IRP_MJ_INTERNAL_DEVICE_CONTROL": 0x0F,
    "IRP_MJ_SHUTDOWN": 0x10,
    "IRP_MJ_LOCK_CONTROL": 0x11,
    "IRP_MJ_CLEANUP": 0x12,
    "IRP_MJ_CREATE_MAILSLOT": 0x13,
    "IRP_MJ_QUERY_SECURITY": 0x14,
    "IRP_MJ_SET_SECURITY": 0x15,
    "IRP_MJ_POWER": 0x16,
    "IRP_MJ_SYSTEM_CONTROL": 0x17,
    "IRP_MJ_DEVICE_CHANGE": 0x18,
    "IRP_MJ_QUERY_QUOTA": 0x19,
    "IRP_MJ_SET_QUOTA": 0x1A,
    "IRP_MJ_PNP": 0x1B,
}
IRP_MJ_MAXIMUM_FUNCTION = 0x1B

# Minor function codes for IRP_MJ_PNP (wdm.h).
IRP_MN_PNP = {
    "IRP_MN_START_DEVICE": 0x00,
    "IRP_MN_QUERY_REMOVE_DEVICE": 0x01,
    "IRP_MN_REMOVE_DEVICE": 0x02,
    "IRP_MN_CANCEL_REMOVE_DEVICE": 0x03,
    "IRP_MN_STOP_DEVICE": 0x04,
    "IRP_MN_QUERY_STOP_DEVICE": 0x05,
    "IRP_MN_CANCEL_STOP_DEVICE": 0x06,
    "IRP_MN_QUERY_DEVICE_RELATIONS": 0x07,
    "IRP_MN_QUERY_INTERFACE": 0x08,
    "IRP_MN_QUERY_CAPABILITIES": 0x09,
    "IRP_MN_QUERY_RESOURCES": 0x0A,
    "IRP_MN_QUERY_RESOURCE_REQUIREMENTS": 0x0B,
    "IRP_MN_QUERY_DEVICE_TEXT": 0x0C,
    "IRP_MN_FILTER_RESOURCE_REQUIREMENTS": 0x0D,
    "IRP_MN_READ_CONFIG": 0x0F,
    "IRP_MN_WRITE_CONFIG": 0x10,
    "IRP_MN_EJECT": 0x11,
    "IRP_MN_SET_LOCK": 0x12,
    "IRP_MN_QUERY_ID": 0x13,
    "IRP_MN_QUERY_PNP_DEVICE_STATE": 0x14,
    "IRP_MN_QUERY_BUS_INFORMATION": 0x15,
    "IRP_MN_DEVICE_USAGE_NOTIFICATION": 0x16,
    "IRP_MN_SURPRISE_REMOVAL": 0x17,
    "IRP_MN_QUERY_LEGACY_BUS_INFORMATION": 0x18,
    "IRP_MN_DEVICE_ENUMERATED": 0x19,
}

# Minor function codes for IRP_MJ_POWER (wdm.h).
IRP_MN_POWER = {
    "IRP_MN_WAIT_WAKE": 0x00,
    "IRP_MN_POWER_SEQUENCE": 0x01,
    "IRP_MN_SET_POWER": 0x02,
    "IRP_MN_QUERY_POWER": 0x03,
}

# Minor function codes for IRP_MJ_SYSTEM_CONTROL: WMI (wdm.h).
IRP_MN_WMI = {
    "IRP_MN_QUERY_ALL_DATA": 0x00,
    "IRP_MN_QUERY_SINGLE_INSTANCE": 0x01,
    "IRP_MN_CHANGE_SINGLE_INSTANCE": 0x02,
    "IRP_MN_CHANGE_SINGLE_ITEM": 0x03,
    "IRP_MN_ENABLE_EVENTS": 0x04,
    "IRP_MN_DISABLE_EVENTS": 0x05,
    "IRP_MN_ENABLE_COLLECTION": 0x06,
    "IRP_MN_DISABLE_COLLECTION": 0x07,
    "IRP_MN_REGINFO": 0x08,
    "IRP_MN_EXECUTE_METHOD": 0x09,
    "IRP_MN_REGINFO_EX": 0x0B,
}
# Minor function codes for IRP_MJ_FILE_SYSTEM_CONTROL (wdm.h).
IRP_MN_FSCTL = {
    "IRP_MN_USER_FS_REQUEST": 0x00,
    "IRP_MN_MOUNT_VOLUME": 0x01,
    "IRP_MN_VERIFY_VOLUME": 0x02,
    "IRP_MN_LOAD_FILE_SYSTEM": 0x03,
    "IRP_MN_KERNEL_CALL": 0x04,
}
MINORS_OF = {"IRP_MJ_PNP": IRP_MN_PNP, "IRP_MJ_POWER": IRP_MN_POWER,
             "IRP_MJ_SYSTEM_CONTROL": IRP_MN_WMI, "IRP_MJ_FILE_SYSTEM_CONTROL": IRP_MN_FSCTL}

# DEVICE_OBJECT.DeviceType values (devioctl.h) that the catalog's drivers use.
FILE_DEVICE = {
    "FILE_DEVICE_CD_ROM": 0x02,
    "FILE_DEVICE_CD_ROM_FILE_SYSTEM": 0x03,
    "FILE_DEVICE_CONTROLLER": 0x04,
    "FILE_DEVICE_DISK": 0x07,
    "FILE_DEVICE_DISK_FILE_SYSTEM": 0x08,
    "FILE_DEVICE_KEYBOARD": 0x0B,
    "FILE_DEVICE_MOUSE": 0x0F,
    "FILE_DEVICE_NULL": 0x15,
    "FILE_DEVICE_TAPE": 0x1F,
    "FILE_DEVICE_UNKNOWN": 0x22,
    "FILE_DEVICE_VIRTUAL_DISK": 0x24,
    "FILE_DEVICE_BUS_EXTENDER": 0x2A,
}
# CTL_CODE(DeviceType, Function, Method, Access) (devioctl.h): DeviceType << 16 | Access << 14
# | Function << 2 | Method.
IOCTL_METHODS = ("METHOD_BUFFERED", "METHOD_IN_DIRECT", "METHOD_OUT_DIRECT", "METHOD_NEITHER")
IOCTL_ACCESS = ("FILE_ANY_ACCESS", "FILE_READ_ACCESS", "FILE_WRITE_ACCESS",
                "FILE_READ_ACCESS | FILE_WRITE_ACCESS")


def describe_ioctl(code: int) -> str:
    """0x222003 -> 'CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_NEITHER, FILE_ANY_ACCESS)'."""
    device = code >> 16
    name = next((n for n, v in FILE_DEVICE.items() if v == device), f"{device:#x}")
    return (f"CTL_CODE({name}, {(code >> 2) & 0xFFF:#x}, {IOCTL_METHODS[code & 3]}, "
            f"{IOCTL_ACCESS[(code >> 14) & 3]})")


# DEVICE_OBJECT.Flags (wdm.h / ntddk.h) the model shows.
DEVICE_FLAGS = {
    "DO_BUFFERED_IO": 0x00000004,
    "DO_DIRECT_IO": 0x00000010,
    "DO_DEVICE_HAS_NAME": 0x00000040,
    "DO_BUS_ENUMERATED_DEVICE": 0x00001000,
}
# IoCreateDevice gives devices of these types a VPB: they hold volumes a file system mounts.
VPB_DEVICE_TYPES = ("FILE_DEVICE_DISK", "FILE_DEVICE_CD_ROM", "FILE_DEVICE_TAPE",
                    "FILE_DEVICE_VIRTUAL_DISK")


class NtStatus(IntEnum):
    """NTSTATUS values (ntstatus.h) that the model produces or accepts."""

    STATUS_SUCCESS = 0x00000000
    STATUS_WAIT_0 = 0x00000000
    STATUS_ABANDONED_WAIT_0 = 0x00000080
    STATUS_USER_APC = 0x000000C0
    STATUS_TIMEOUT = 0x00000102
    STATUS_PENDING = 0x00000103
    STATUS_REPARSE = 0x00000104
    STATUS_BUFFER_OVERFLOW = 0x80000005
    STATUS_NO_MORE_ENTRIES = 0x8000001A
    STATUS_PLUGPLAY_QUERY_VETOED = 0x80000028
    STATUS_UNSUCCESSFUL = 0xC0000001
    STATUS_NOT_IMPLEMENTED = 0xC0000002
    STATUS_INVALID_INFO_CLASS = 0xC0000003
    STATUS_INFO_LENGTH_MISMATCH = 0xC0000004
    STATUS_ACCESS_VIOLATION = 0xC0000005
    STATUS_IN_PAGE_ERROR = 0xC0000006
    STATUS_INVALID_HANDLE = 0xC0000008
    STATUS_INVALID_PARAMETER = 0xC000000D
    STATUS_UNRECOGNIZED_VOLUME = 0xC000014F
    STATUS_WMI_GUID_NOT_FOUND = 0xC0000295
    STATUS_NO_SUCH_DEVICE = 0xC000000E
    STATUS_INVALID_DEVICE_REQUEST = 0xC0000010
    STATUS_END_OF_FILE = 0xC0000011
    STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016
    STATUS_NO_MEMORY = 0xC0000017
    STATUS_ACCESS_DENIED = 0xC0000022
    STATUS_BUFFER_TOO_SMALL = 0xC0000023
    STATUS_OBJECT_TYPE_MISMATCH = 0xC0000024
    STATUS_OBJECT_NAME_INVALID = 0xC0000033
    STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
    STATUS_OBJECT_NAME_COLLISION = 0xC0000035
    STATUS_OBJECT_PATH_NOT_FOUND = 0xC000003A
    STATUS_MUTANT_NOT_OWNED = 0xC0000046
    STATUS_SEMAPHORE_LIMIT_EXCEEDED = 0xC0000047
    STATUS_DELETE_PENDING = 0xC0000056
    STATUS_PRIVILEGE_NOT_HELD = 0xC0000061
    STATUS_PROCEDURE_NOT_FOUND = 0xC000007A
    STATUS_INSUFFICIENT_RESOURCES = 0xC000009A
    STATUS_DEVICE_NOT_READY = 0xC00000A3
    STATUS_COMMITMENT_LIMIT = 0xC000012D
    STATUS_NOT_SUPPORTED = 0xC00000BB
    STATUS_STACK_OVERFLOW = 0xC00000FD
    STATUS_CANCELLED = 0xC0000120
    STATUS_NOT_FOUND = 0xC0000225
    STATUS_INVALID_DEVICE_STATE = 0xC0000184
    STATUS_NAME_TOO_LONG = 0xC0000106
    STATUS_PROCESS_IS_TERMINATING = 0xC000010A
    STATUS_IMAGE_ALREADY_LOADED = 0xC000010E
    STATUS_FLT_INSTANCE_ALTITUDE_COLLISION = 0xC01C0011
    STATUS_DEVICE_REMOVED = 0xC00002B6
    STATUS_POSSIBLE_DEADLOCK = 0xC0000194
    STATUS_NO_SUCH_USER = 0xC0000064
    STATUS_LOGON_FAILURE = 0xC000006D


@cache
def status_name(value: int) -> str:
    try:
        return NtStatus(value).name
    except ValueError:
        return f"0x{value:08X}"


@cache
def format_status(value: int) -> str:
    """`0xC0000005 STATUS_ACCESS_VIOLATION`, as the docs pair code and name."""
    name = status_name(value)
    return f"0x{value:08X}" + ("" if name.startswith("0x") else f" {name}")


def parse_status(text: str) -> int:
    """Accept a name (`STATUS_SUCCESS`, any case, `STATUS_` optional) or hex (`0xC0000022`)."""
    word = text.strip().upper()
    if word.startswith("0X") and is_number(word, 0, U32):
        return parse_number(word)
    if not word.startswith("STATUS_"):
        word = "STATUS_" + word
    if word in NtStatus.__members__:
        return int(NtStatus[word])
    # a close spelling only: every name starts STATUS_, which alone makes names look alike
    close = difflib.get_close_matches(word, NtStatus.__members__, n=1, cutoff=0.85)
    if close:
        raise ValueError(f"'{printable(text[:40])}' is not an NTSTATUS — did you mean "
                         f"'{close[0]}'?")
    raise ValueError(
        f"'{printable(text[:40])}' is not an NTSTATUS; use a name such as STATUS_SUCCESS or hex "
        "such as 0xC0000022"
    )


def nt_success(status: int) -> bool:
    """NT_SUCCESS(): severity success (0x0..) or informational (0x4..)."""
    return status < 0x80000000


def nt_error(status: int) -> bool:
    """NT_ERROR(): severity error (0xC..); a warning (0x8..) is neither success nor error."""
    return status >= 0xC0000000


class BugCheck(IntEnum):
    """Stop codes (bugcodes.h) raised by the model."""

    IRQL_NOT_LESS_OR_EQUAL = 0x0A
    BAD_POOL_HEADER = 0x19
    KMODE_EXCEPTION_NOT_HANDLED = 0x1E
    NO_MORE_IRP_STACK_LOCATIONS = 0x35
    SYSTEM_SERVICE_EXCEPTION = 0x3B
    MULTIPLE_IRP_COMPLETE_REQUESTS = 0x44
    CANCEL_STATE_IN_COMPLETED_IRP = 0x48
    IRQL_GT_ZERO_AT_SYSTEM_SERVICE = 0x4A
    PAGE_FAULT_IN_NONPAGED_AREA = 0x50
    PROCESS_HAS_LOCKED_PAGES = 0x76
    KERNEL_DATA_INPAGE_ERROR = 0x7A
    SYSTEM_THREAD_EXCEPTION_NOT_HANDLED = 0x7E
    UNEXPECTED_KERNEL_MODE_TRAP = 0x7F
    DRIVER_POWER_STATE_FAILURE = 0x9F
    ATTEMPTED_SWITCH_FROM_DPC = 0xB8
    BAD_POOL_CALLER = 0xC2
    TIMER_OR_DPC_INVALID = 0xC7
    DRIVER_VERIFIER_DETECTED_VIOLATION = 0xC4
    DRIVER_VERIFIER_IOMANAGER_VIOLATION = 0xC9
    WORKER_THREAD_RETURNED_AT_BAD_IRQL = 0xE1
    DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS = 0xCE
    DRIVER_IRQL_NOT_LESS_OR_EQUAL = 0xD1
    DRIVER_PAGE_FAULT_BEYOND_END_OF_ALLOCATION = 0xD6
    MANUALLY_INITIATED_CRASH = 0xE2
    CRITICAL_PROCESS_DIED = 0xEF
    DRIVER_RETURNED_HOLDING_CANCEL_LOCK = 0x11B
    DPC_WATCHDOG_VIOLATION = 0x133


# Thread priorities (KPRIORITY): 0 is the zero-page thread, 1..15 dynamic, 16..31 real-time.
LOW_PRIORITY = 0
LOW_REALTIME_PRIORITY = 16
HIGH_PRIORITY = 31
MAXIMUM_PRIORITY = 32

# Process priority classes as base priorities (the values the Win32 classes map to).
NORMAL_PRIORITY_BASE = 8

# Clock ticks that make one quantum for a thread of a foreground-less (server-like) system:
# the model counts quantum in whole clock ticks and gives each thread QUANTUM_TICKS.
QUANTUM_TICKS = 2

# x64 canonical address space halves (48-bit virtual addresses).
MM_USER_PROBE_ADDRESS = 0x00007FFFFFFF0000
# x64 kernel stacks (wdm.h, #ifdef _AMD64_): 24 KB a thread, 72 KB for a large (callout) one.
KERNEL_STACK_SIZE, KERNEL_LARGE_STACK_SIZE = 0x6000, 0x12000
MAXIMUM_EXPANSION_SIZE = KERNEL_LARGE_STACK_SIZE - 0x1000 // 2  # KeExpandKernelStackAndCallout
MM_HIGHEST_USER_ADDRESS = 0x00007FFFFFFEFFFF
MM_LOWEST_USER_ADDRESS = 0x0000000000010000
MM_SYSTEM_RANGE_START = 0xFFFF800000000000
