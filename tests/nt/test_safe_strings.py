"""The safe string library (ntstrsafe.h) against the C library, one rule per test: a safe
routine is told the buffer's size, cuts and terminates what does not fit and returns
STATUS_BUFFER_OVERFLOW; strcpy writes it all, past the end, over the next pool block."""

from __future__ import annotations

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt import System
from kmshell.nt.constants import NtStatus
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.nt.pool import format_string


def driver_with(*steps: str, size: int = 16, then: str = "") -> System:
    """A driver whose IRP_MJ_WRITE runs `steps` on its SIZE-byte 'Buf' block, then tidy."""
    system = new_system(minimal=True)
    system.io.load_driver(spec_from_dict({
        "name": "writer", "type": "function",
        "routines": {"DriverEntry": ["IoCreateDevice Writer",
                                     f"ExAllocatePool2 NONPAGED {size} Buf"],
                     "IRP_MJ_WRITE": [*steps, "IoStatus status", "IoCompleteRequest status",
                                      "return status"]}}, "writer.toml"))
    system.io.load_driver(load_spec("tidy"))
    return system


def block(system: System, tag: str):
    return next(b for b in system.mm.pool if b.tag == tag)


def test_a_safe_copy_that_fits_returns_success_and_keeps_the_whole_string():
    system = driver_with("RtlStringCbCopyA Buf fifteen-chars")
    irp = system.io.send_irp(system.io.find_device("Writer"), "IRP_MJ_WRITE")
    assert irp.status == NtStatus.STATUS_SUCCESS
    assert block(system, "Buf").text == "fifteen-chars"


def test_a_safe_copy_too_long_is_cut_terminated_and_returns_buffer_overflow():
    system = driver_with("RtlStringCbCopyA Buf a-string-of-24-chars!!")
    irp = system.io.send_irp(system.io.find_device("Writer"), "IRP_MJ_WRITE")
    assert irp.status == NtStatus.STATUS_BUFFER_OVERFLOW
    assert block(system, "Buf").text == "a-string-of-24-"  # 15 characters and the NUL
    assert not block(system, "Tidy").overwritten_by  # never a byte past the end


def test_a_wide_copy_counts_two_bytes_a_character():
    system = driver_with("RtlStringCchCopyW Buf abcdefghij")  # 11 WCHARs: 22 bytes
    irp = system.io.send_irp(system.io.find_device("Writer"), "IRP_MJ_WRITE")
    assert irp.status == NtStatus.STATUS_BUFFER_OVERFLOW
    assert block(system, "Buf").text == "abcdefg"  # 16 bytes hold 7 WCHARs and a NUL


def test_a_safe_append_stays_inside_the_buffer():
    system = driver_with("RtlStringCbCopyA Buf Hello", "RtlStringCbCatA Buf ,-world-and-more")
    irp = system.io.send_irp(system.io.find_device("Writer"), "IRP_MJ_WRITE")
    assert irp.status == NtStatus.STATUS_BUFFER_OVERFLOW
    assert block(system, "Buf").text == "Hello,-world-an"


def test_printf_formats_its_arguments_within_the_buffer():
    system = driver_with("RtlStringCbPrintfA Buf dev%d:%x:%s 7 255 ok", size=32)
    system.io.send_irp(system.io.find_device("Writer"), "IRP_MJ_WRITE")
    assert block(system, "Buf").text == "dev7:ff:ok"
    assert format_string("100%% %s", ("sure",)) == "100% sure"


def test_strcpy_writes_past_the_end_over_the_next_blocks_pool_header():
    system = driver_with("strcpy Buf a-string-of-24-chars!!")
    irp = system.io.send_irp(system.io.find_device("Writer"), "IRP_MJ_WRITE")
    assert irp.status == NtStatus.STATUS_SUCCESS  # strcpy returns a pointer, not a status
    assert block(system, "Buf").text == "a-string-of-24-chars!!"
    assert block(system, "Tidy").overwritten_by == "writer"


@pytest.mark.parametrize("step, complaint", [
    ("RtlStringCbPrintfA Buf %q 1", "'%q' is not a conversion"),
    ("RtlStringCbPrintfA Buf %d-%d 1", "takes 2 argument(s), the step gives 1"),
    ("RtlStringCbPrintfA Buf %d seven", "take a number"),
    ("RtlStringCbCopyA Toolong text", "a pool tag is one to four"),
    ("strcpy Buf", "takes 'TAG SOURCE', got 1"),
])
def test_a_malformed_string_step_is_refused_when_the_spec_loads(step, complaint):
    with pytest.raises(SpecError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        spec_from_dict({"name": "w", "type": "function",
                        "routines": {"IRP_MJ_WRITE": [step, "return STATUS_SUCCESS"]}}, "w.toml")
