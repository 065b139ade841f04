"""Property: whatever a user types, a line ends in output or a clear error — never an
unexpected exception — and the same lines always give the same events."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmshell.session import Session

NAMES = ["notepad.exe", "explorer.exe", "System", "csrss.exe", "4", "0", "172", "176", "bash",
         "a.exe", "L", "M", "E", "S", "T", "x", "WdFilter", "\\Device", "\\", "\\GLOBAL??\\C:",
         "0xFFFFF80000000000", "0x900000", "-1", "", "\"quoted word\"", "99999"]
PROGRAMS = ["compute 2; exit", "inc x 3; exit", "acquire L; inc x; release L; exit",
            "acquire M; compute 1; release M; exit", "wait E 2; exit", "wait S; release S",
            "wait T; exit", "sleep 2; touch 0x0", "syscall 2; set E", "repeat 2",
            "touch 0xFFFFF80000000000", "bogus", ""]
TEMPLATES = [
    "boot --cpus {n}", "step {n}", "run --max {n}", "status", "timeline", "ps",
    "process create {name}", "process create {name} --program \"{program}\" --threads {n}",
    "process create {name} --subsystem wsl", "process kill {name}", "process crash {name}",
    "process show {name}", "thread create {name} --program \"{program}\"",
    "thread create {name} --priority {n}", "thread show {name}", "thread list {name}",
    "object ls {name}", "object show {name}", "object tree {name}", "handle list {name}",
    "memory map {name}", "touch {name} {name}", "event create {name}", "event set {name}",
    "mutex create {name}", "semaphore create {name} --count {n} --limit {n}",
    "timer create {name} --due {n}", "spinlock create {name}", "lock list", "var list",
    "callback register process {name} --steps \"ExQueueWorkItem\"", "callback remove {n}",
    "callback register thread {name} --steps \"KeWaitForSingleObject {name}\"",
    "worker list", "driver list", "!analyze", "reboot", "help {name}", "{name} {name}",
    "!process {name}", "!thread {n}", "view quiet", "explain on", "history",
    "undo {n}", "undo", "goto {n}", "seed {n}", "save /nonexistent/dir/x.json",
    "load {name}", "record stop", "export html {name}", "replay {name}",
    "reg ls {name}", "reg get HKLM\\SOFTWARE {name}", "reg set HKLM\\SOFTWARE\\{name} v {n}",
    "reg set HKLM\\X v {name} --type REG_DWORD", "reg delete HKLM\\SOFTWARE\\{name}",
    "reg delete {name} {name}", "tx begin", "tx commit", "tx rollback",
    "callback register registry {name} --steps DenyAccess", "log create {name}",
    "log append {name} {name}", "log flush {name}", "log show {name}",
    "whoami", "login {name}", "token {name}", "sd {name}", "sd set {name} \"{name}\"",
    "sd set \\BaseNamedObjects\\{name} \"D:(A;;GA;;;{name})\"",
    "driver load slowdisk", "driver load watchfilter", "driver load nullsink",
    "driver load doublecomplete", "driver load {name}", "driver show {name}",
    "irp send SlowDisk IRP_MJ_READ", "irp send NullSink IRP_MJ_READ", "irp send {name} {name}",
    "irp complete {n} STATUS_SUCCESS", "irp show {n}", "irp list", "device stack {name}",
    "device list", "open {name} {name}", "open {name} \\Device\\SlowDisk --access all",
    "read {name} {n}", "write {name} 0xc {name}", "ioctl {name} 0xc 0x222003", "close {name} {n}",
    "driver load irqdisk", "driver load hastyisr", "interrupt IrqDisk --cpu {n}",
    "interrupt {name}", "irp send IrqDisk IRP_MJ_READ", "dpc list",
]

line = st.builds(
    lambda template, name, n, program: template.format(name=name, n=n, program=program),
    st.sampled_from(TEMPLATES), st.sampled_from(NAMES), st.integers(0, 70),
    st.sampled_from(PROGRAMS))


def replay(lines: list[str]) -> list:
    session = Session()
    for text in lines:
        session.execute(text)  # anything but a handled error would raise out of here
    return [e.to_json() for e in session.system.log]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line, min_size=1, max_size=12))
def test_any_command_sequence_ends_in_output_or_a_clear_error_and_is_deterministic(lines):
    assert replay(lines) == replay(lines)
