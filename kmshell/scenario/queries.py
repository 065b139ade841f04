"""Expectation queries: documented paths into the state, such as `process notepad.exe state`.

A query is a noun, a selector when the noun needs one, and a field. Each field has a getter
and, where the state holds a code, a parser for the expected value so that a scenario can
write `cpu 0 irql == DISPATCH_LEVEL` or `bugcheck code == 0xEF` and mean the same number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kmshell.commands.names import resolve_object, resolve_process, resolve_thread
from kmshell.errors import KmsError
from kmshell.nt.cm import RegistryError
from kmshell.nt.constants import BugCheck, irql_name, parse_irql, parse_status, status_name
from kmshell.nt.ke.sync import DispatcherObject, KMutant, SpinLock
from kmshell.nt.ob import SymbolicLink
from kmshell.nt.rtl import U32, is_number, number_or_none, parse_number, printable
from kmshell.nt.system import NtError, System


def _parse_bugcheck(text: str) -> int:
    word = text.strip().upper()
    if word in BugCheck.__members__:
        return int(BugCheck[word])
    try:
        return parse_number(word, 0, U32)
    except ValueError:
        raise ValueError(f"'{printable(text[:40])}' is not a bugcheck code; use hex (0xEF) or "
                         "a name (CRITICAL_PROCESS_DIED)") from None


def _parse_parameter(text: str) -> int:
    """A bugcheck parameter: a number, an IRQL name (DISPATCH_LEVEL) or an NTSTATUS name
    (STATUS_ACCESS_VIOLATION): a parameter's meaning depends on the stop code, so any of them."""
    number = number_or_none(text)
    if number is not None:
        return number
    for parse in (parse_irql, parse_status):
        try:
            return parse(text)
        except ValueError:
            pass
    raise ValueError(f"'{printable(text[:40])}' is not a number, an IRQL name (DISPATCH_LEVEL) "
                     "or an NTSTATUS name (STATUS_PENDING)")


def _show_status(value: int | None) -> str:
    """`0x103 STATUS_PENDING`: the number a debugger prints and the name a scenario writes."""
    if value is None:
        return "none"
    name = status_name(value)
    return f"0x{value:X}" + ("" if name.startswith("0x") else f" {name}")


def _show_irql(value: int) -> str:
    return f"{value} {irql_name(value)}"


def _show_bugcheck(value: int) -> str:
    try:
        return f"0x{value:X} {BugCheck(value).name}"
    except ValueError:
        return f"0x{value:X}"


@dataclass(frozen=True)
class Field:
    get: Callable[[Any], Any]
    help: str
    parse: Callable[[str], Any] | None = None  # how to read the expected value
    show: Callable[[Any], str] | None = None  # how a failure prints the actual value


@dataclass(frozen=True)
class Noun:
    selector: str  # metavar of the selector, "" when the noun takes none
    resolve: Callable[[System, str], Any]
    fields: dict[str, Field] = field(default_factory=dict)
    help: str = ""


def _cpu(system: System, text: str):
    count = len(system.core.processors)
    if not is_number(text, 0, count - 1):
        raise KmsError(f"no processor {printable(text)[:40]}; this machine has CPUs "
                       f"0..{count - 1}")
    return system.core.processors[parse_number(text)]


def _variable(system: System, text: str):
    var = system.ke.variables.get(text.lower())
    if var is None:
        raise KmsError(f"no shared variable '{text}' (a thread's 'inc {text}' creates it)")
    return var


def _lock(system: System, text: str):
    try:
        return system.ke.sync_object(text)
    except NtError as error:
        raise KmsError(str(error)) from None


def _reg_key(system: System, text: str):
    try:
        return system.cm.registry.open(text)
    except RegistryError:
        return None  # `exists == false` is a fair thing to expect


def _reg_value(system: System, text: str):
    path, _, name = text.rpartition("\\")
    key = _reg_key(system, path)
    if key is None:
        raise KmsError(f"no registry key {path}")
    value = key.values.get(name.upper())
    if value is None:
        raise KmsError(f"no value '{name}' in {key.path}")
    return value


def _clfs_log(system: System, text: str):
    try:
        return system.clfs.clfs_log(text)
    except NtError as error:
        raise KmsError(str(error)) from None


def _device(system: System, text: str):
    try:
        return system.io.find_device(text)
    except NtError as error:
        raise KmsError(str(error)) from None


def _devnode(device):
    return device.stack()[-1].devnode


def _tid(text: str) -> int:
    try:
        return parse_number(text, 0, U32)
    except ValueError as error:
        raise KmsError(f"thread: {error}") from None


def _irp(system: System, text: str):
    """An IRP in progress, or what is remembered of a completed one."""
    number = number_or_none(text)
    irp = None if number is None else \
        system.io.irps.get(number) or system.io.finished_irps.get(number)
    if irp is None:
        so_far = f"IRPs so far are 1..{system.io.irp_count}" if system.io.irp_count \
            else "no IRP has been sent yet"
        raise KmsError(f"no IRP {printable(text)[:40]}: {so_far}"
                       if number is None or number > system.io.irp_count or number < 1
                       else f"IRP {text} finished too long ago to remember")
    return irp


def _in_progress(irp) -> bool:
    return not irp.completed


def _bugcheck(system: System, _text: str):
    if system.core.bugcheck_info is None:
        raise KmsError("no bugcheck has happened")
    return system.core.bugcheck_info


def _bugcheck_parameter(n: int) -> Callable[[Any], str]:
    """The getter of argN: one function per N (a lambda in the loop would see the last N)."""
    return lambda info: f"0x{info.parameters[n - 1]:X}"


NOUNS: dict[str, Noun] = {
    "process": Noun("P", lambda s, t: resolve_process(s, t), {
        "state": Field(lambda p: p.state.value, "Active or Terminated"),
        "exit-status": Field(lambda p: p.exit_status, "NTSTATUS it exited with", parse_status,
                             _show_status),
        "threads": Field(lambda p: len(p.live_threads), "number of threads not yet terminated"),
        "pid": Field(lambda p: p.pid, "process ID"),
        "parent": Field(lambda p: p.parent_pid, "parent's PID"),
        "session": Field(lambda p: p.session_id, "session ID"),
        "user": Field(lambda p: p.user, "user name"),
        "subsystem": Field(lambda p: p.subsystem.value, "SubsystemInformationType…"),
        "peb": Field(lambda p: p.peb is not None, "true when the process has a PEB"),
        "handles": Field(lambda p: len(p.handle_table.entries), "open handles"),
        "critical": Field(lambda p: p.critical, "true for a critical process"),
    }, "a process by PID or image name"),
    "thread": Noun("T", lambda s, t: resolve_thread(s, _tid(t)), {
        "state": Field(lambda t: t.state.name, "Initialized, Ready, Running, Waiting, Terminated"),
        "wait-reason": Field(lambda t: t.wait_reason.name if t.wait_reason is not None else "none",
                             "KWAIT_REASON name, or none"),
        "priority": Field(lambda t: t.priority, "current priority"),
        "teb": Field(lambda t: t.teb is not None, "true when the thread has a TEB"),
        "process": Field(lambda t: t.process.image, "image name of its process"),
        "user-ticks": Field(lambda t: t.user_ticks, "ticks run in user mode"),
        "kernel-ticks": Field(lambda t: t.kernel_ticks, "ticks run in kernel mode"),
    }, "a thread by TID"),
    "cpu": Noun("N", _cpu, {
        "irql": Field(lambda c: c.irql, "current IRQL (number or name)", parse_irql,
                      _show_irql),
        "thread": Field(lambda c: "idle" if c.is_idle else c.current_thread.tid,
                        "TID running there, or idle"),
        "process": Field(lambda c: "Idle" if c.is_idle else c.current_thread.process.image,
                         "image of the process running there"),
    }, "a processor by number"),
    "bugcheck": Noun("", _bugcheck, {
        "code": Field(lambda b: b.code, "stop code (hex or name)", _parse_bugcheck,
                      _show_bugcheck),
        "name": Field(lambda b: b.name, "stop code name"),
        "driver": Field(lambda b: b.driver, "module blamed"),
        **{f"arg{n}": Field(_bugcheck_parameter(n), f"parameter {n} (a number, an IRQL "
                           "or an NTSTATUS name)", _parse_parameter)
           for n in range(1, 5)},
    }, "the last bugcheck"),
    "system": Noun("", lambda s, t: s, {
        "halted": Field(lambda s: s.halted, "true after a bugcheck"),
        "tick": Field(lambda s: s.core.tick, "clock ticks since boot"),
        "processes": Field(lambda s: len(s.ps.live_processes()), "processes not yet exited"),
        "threads": Field(lambda s: sum(len(p.live_threads) for p in s.ps.live_processes()),
                         "threads not yet terminated"),
        "cpus": Field(lambda s: len(s.core.processors), "number of processors"),
        "idle": Field(lambda s: s.ke.idle, "true when nothing is running, ready or sleeping"),
        "deadlocked": Field(lambda s: bool(s.ke.deadlocks), "true once a wait-for cycle was found"),
        "transaction": Field(lambda s: s.tm.transaction.number if s.tm.transaction else "none",
                             "the open transaction's number, or none"),
        "irps": Field(lambda s: len(s.io.irps), "IRPs in progress (completed ones are freed)"),
        "devices": Field(lambda s: len(s.io.devices), "device objects that exist"),
        "power": Field(lambda s: s.po.system_power.short, "the system power state, S0 to S5"),
        "devnodes": Field(lambda s: sum(1 for _ in s.pnp.device_root.walk()),
                          "devnodes in the device tree"),
        "drivers": Field(lambda s: ", ".join(s.io.drivers_names()),
                         "loaded drivers, in load order"),
    }, "the machine"),
    "var": Noun("NAME", _variable, {
        "value": Field(lambda v: v.value, "current value"),
        "stores": Field(lambda v: v.version, "how many increments stored a value"),
        "lost-updates": Field(lambda v: v.lost_updates, "stores that overwrote another's"),
    }, "a shared variable that thread programs increment"),
    "regkey": Noun("KEY", _reg_key, {
        "exists": Field(lambda k: k is not None, "true when the key exists"),
        "values": Field(lambda k: len(k.values) if k else 0, "how many values it holds"),
        "subkeys": Field(lambda k: len(k.subkeys) if k else 0, "how many subkeys it has"),
    }, "a registry key, e.g. HKLM\\SOFTWARE\\Lab"),
    "regvalue": Noun("KEY\\NAME", _reg_value, {
        "data": Field(lambda v: v.data if not isinstance(v.data, (bytes, list)) else v.show(),
                      "the value's data"),
        "type": Field(lambda v: v.type, "REG_SZ, REG_DWORD, ..."),
    }, "a registry value: the key path, a backslash, the value name"),
    "log": Noun("NAME", _clfs_log, {
        "records": Field(lambda g: len(g.records), "records in the log"),
        "flushed": Field(lambda g: sum(r.flushed for r in g.records),
                         "records on stable storage"),
        "last-lsn": Field(lambda g: g.records[-1].lsn if g.records else 0,
                          "LSN of the last record"),
    }, "a CLFS log"),
    "device": Noun("DEV", _device, {
        "stack": Field(lambda d: " → ".join(x.label for x in d.stack()),
                       "the device stack, top first, e.g. filter#1 → \\Device\\Disk"),
        "driver": Field(lambda d: d.driver.name, "the driver that created it"),
        "stack-size": Field(lambda d: d.stack_size, "StackSize"),
        "state": Field(lambda d: _devnode(d).state.short if _devnode(d) else "none",
                       "its devnode's PNP_DEVNODE_STATE without DeviceNode, e.g. Started"),
        "devnode": Field(lambda d: _devnode(d).instance_path if _devnode(d) else "none",
                         "its devnode's instance path"),
        "problem": Field(lambda d: _devnode(d).problem if _devnode(d) else 0,
                         "its devnode's problem code (CM_PROB_*), 0 for none"),
        "power": Field(lambda d: _devnode(d).power.short if _devnode(d) else "none",
                       "its devnode's device power state, D0 to D3"),
        "type": Field(lambda d: d.device_type, "DeviceType, e.g. FILE_DEVICE_DISK"),
        "mounted-by": Field(lambda d: d.mounted_volume.driver.name if d.mounted_volume
                            else "none", "the file system that mounted the volume it holds "
                            "(its VPB), e.g. Ntfs"),
        "volume-device": Field(lambda d: d.mounted_volume.label if d.mounted_volume
                               else "none", "the file system's volume device its VPB names"),
    }, "a device object"),
    "irp": Noun("N", _irp, {
        "major": Field(lambda i: i.stack[-1].major if _in_progress(i) else i.major,
                       "IRP_MJ_..."),
        "status": Field(lambda i: i.status, "Irp->IoStatus.Status: STATUS_PENDING (0x103) "
                        "while in progress, then the status it was completed with",
                        parse_status, _show_status),
        "completed": Field(lambda i: i.completed, "true once completed (and freed)"),
        "device": Field(lambda i: i.location.device.label if _in_progress(i) and i.location
                        else "none", "the device whose stack location is current"),
        "pending": Field(lambda i: _in_progress(i) and bool(i.location and i.location.pending),
                         "true when marked pending (SL_PENDING_RETURNED)"),
    }, "an IRP by number, in progress or completed"),
    "lock": Noun("NAME", _lock, {
        "owner": Field(lambda o: o.owner.tid if isinstance(o, (SpinLock, KMutant)) and o.owner
                       else "none",
                       "TID of the owner, or none"),
        "waiters": Field(lambda o: len(o.waiters) if isinstance(o, DispatcherObject) else 0,
                         "threads waiting on it"),
        "signaled": Field(lambda o: o.owner is None if isinstance(o, SpinLock) else o.signaled,
                          "true when acquiring or waiting would not block"),
    }, "a spin lock, mutex or event by name"),
    "object": Noun("PATH", lambda s, t: resolve_object(s, t), {
        "type": Field(lambda o: o.header.type_name, "object type name"),
        "handles": Field(lambda o: o.header.handle_count, "handle count"),
        "pointers": Field(lambda o: o.header.pointer_count, "pointer count"),
        "target": Field(lambda o: o.target if isinstance(o, SymbolicLink) else "",
                        "symbolic link target"),
    }, "a named object"),
}

OPERATORS = ("==", "!=", "contains", "<", ">")


@dataclass(frozen=True)
class Query:
    noun: str
    selector: str
    field: str

    def __str__(self) -> str:
        return " ".join(w for w in (self.noun, self.selector, self.field) if w)

    def evaluate(self, system: System) -> Any:
        noun = NOUNS[self.noun]
        return noun.fields[self.field].get(noun.resolve(system, self.selector))


def parse_query(words) -> Query:
    """Words of a query -> Query, or KmsError at the word at fault."""
    if not words:
        raise KmsError("expect needs a query", hint="valid nouns: " + ", ".join(NOUNS))
    noun_word = words[0]
    noun = NOUNS.get(noun_word.text.lower())
    if noun is None:
        raise KmsError(f"unknown query '{noun_word.text}'", col=noun_word.col,
                       hint="valid nouns: " + ", ".join(NOUNS) + ", error, output, order")
    rest = words[1:]
    selector = ""
    if noun.selector:
        if not rest:
            raise KmsError(f"'{noun_word.text}' needs {noun.selector} then a field",
                           col=noun_word.col)
        selector, rest = rest[0].text, rest[1:]
    fields = ", ".join(noun.fields)
    if len(rest) != 1:
        col = rest[1].col if len(rest) > 1 else words[-1].col
        raise KmsError(f"'{noun_word.text}' needs exactly one field", col=col,
                       hint=f"fields: {fields}")
    name = rest[0].text.lower()
    if name not in noun.fields:
        raise KmsError(f"unknown field '{rest[0].text}' for '{noun_word.text}'", col=rest[0].col,
                       hint=f"fields: {fields}")
    return Query(noun_word.text.lower(), selector, name)


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    return number_or_none(text)


def show(value: Any, query: Query | None = None) -> str:
    """A state value as a scenario writes it; a code with its name when the query's field
    holds one (`0x103 STATUS_PENDING`, `2 DISPATCH_LEVEL`)."""
    shown = None if query is None else NOUNS[query.noun].fields[query.field].show
    if shown is not None:
        return shown(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return str(value)


def check_value(query: Query, op: str, text: str) -> None:
    """Before anything runs: the expected value is one the field can hold (ValueError)."""
    parse = NOUNS[query.noun].fields[query.field].parse
    if parse is not None and op != "contains":
        parse(text)


def compare(query: Query, actual: Any, op: str, expected_text: str) -> bool:
    parse = NOUNS[query.noun].fields[query.field].parse
    expected: Any = expected_text
    if parse is not None and op != "contains":
        expected = parse(expected_text)  # ValueError is reported by the caller
    if op == "contains":
        if isinstance(actual, (list, tuple)):
            return any(show(a).lower() == expected_text.lower() for a in actual)
        return expected_text.lower() in show(actual).lower()
    a, e = _number(actual), _number(expected)
    if op in ("<", ">"):
        if a is None or e is None:
            raise ValueError(f"'{op}' compares numbers; got {show(actual)} and {expected_text}")
        return a < e if op == "<" else a > e
    if a is not None and e is not None:
        equal = a == e
    else:
        equal = show(actual).lower() == show(expected).lower()
    return equal if op == "==" else not equal


def query_reference() -> str:
    """Markdown list of every query, for docs/commands.md."""
    lines = []
    for name, noun in NOUNS.items():
        selector = f" {noun.selector}" if noun.selector else ""
        lines.append(f"- `{name}{selector} FIELD` — {noun.help}:")
        for field_name, f in noun.fields.items():
            lines.append(f"  - `{field_name}`: {f.help}")
    return "\n".join(lines)
