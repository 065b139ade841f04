"""The command table's vocabulary: kinds of values, arguments, options, command specs.

Help, completion and docs/commands.md are all generated from the table, so they agree.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kmshell.nt.rtl import MAX_DIGITS, U32, U64, parse_number, shown


@dataclass(frozen=True)
class Kind:
    """A kind of value: its name in usage lines, how to convert it, where completions come from.

    `complete` is either a tuple of fixed choices or the name of a live source ('process',
    'thread', 'object', 'driver', 'device', 'handle', 'key', 'command'): see
    `kmshell.commands.names.live_values`, which completion and the property tests share.
    The shell's completer adds three of its own ('driver spec': catalog names and .toml
    files; 'hardware id': the driver store's; 'scenario': bundled names and .kms files).
    """

    metavar: str
    convert: Callable[[str], Any] = str
    complete: tuple[str, ...] | str = ()
    description: str = ""
    empty_ok: bool = False  # whether "" is a value (free text) or a mistake (a name, a number)
    number: bool = False  # a number may stand here: in a `!` command it is hex (masm_number)


# WinDbg's MASM syntax: "The default radix is set to 16 when the debugger is started ... You
# can override the default radix by specifying the 0x prefix (hexadecimal), the 0n prefix
# (decimal), the 0t prefix (octal), or the 0y prefix (binary)"; a 64-bit value may be split
# by a grave accent, as WinDbg prints it (ffffc50f`0a002980). Source: Debugger Reference,
# "n (Set Number Base)" and "MASM Numbers and Operators".
_MASM = re.compile(r"(?:0x)?([0-9a-f]+(?:`[0-9a-f]+)?)|0n([0-9]+)|0t([0-7]+)|0y([01]+)",
                   re.ASCII | re.IGNORECASE)


def masm_number(text: str) -> int | None:
    """The value of a number as WinDbg reads it in a `!` command (hex unless prefixed), or
    None when text is not one (a name such as notepad.exe)."""
    found = _MASM.fullmatch(text) if len(text) <= MAX_DIGITS else None
    if found is None:
        return None
    hexa, decimal, octal, binary = found.groups()
    if hexa is not None:
        return int(hexa.replace("`", ""), 16)
    return int(decimal, 10) if decimal is not None else int(octal or binary, 8 if octal else 2)


def number(low: int, high: int, metavar: str = "N", description: str = "a number",
           complete: tuple[str, ...] | str = ()) -> Kind:
    """A whole number in low..high, decimal or 0x hex; the range is part of the help."""
    def convert(text: str) -> int:
        return parse_number(text, low, high)

    return Kind(metavar, convert, complete,
                f"{description} ({low}..{shown(high)}, decimal or 0x hex)", number=True)


def choice(*values: str, metavar: str | None = None) -> Kind:
    def convert(text: str) -> str:
        for value in values:
            if text.lower() == value.lower():
                return value
        raise ValueError(f"'{text}' is not one of: {', '.join(values)}")

    return Kind(metavar or "|".join(values), convert, tuple(values))


MAX_TICKS = 1_000_000  # `step` and `run --max`: Ctrl-C stops them earlier

NUMBER = number(0, U32)
TICKS = number(0, MAX_TICKS, description="a number of clock ticks")
SEED = number(0, U64, description="a seed")
TEXT = Kind("TEXT", description="a word, or words in quotes")
FREE_TEXT = Kind("TEXT", description="any text, \"\" for none", empty_ok=True)
NAME = Kind("NAME", description="a name")
PROCESS = Kind("P", complete="process", description="a PID or an image name", number=True)
THREAD = number(0, U32, "T", "a thread ID", "thread")
OBJECT_PATH = Kind("PATH", complete="object", description="an object-namespace path")
DRIVER = Kind("DRIVER", complete="driver", description="a driver's short name or \\Driver path")
COMMAND = Kind("CMD", complete="command", description="a command name")
DEVICE = Kind("DEV", complete="device", description="a device path or its last part")
HANDLE = number(0, U32, "H", "a handle value, e.g. 0x10", "handle")
KEY = Kind("KEY", complete="key",
           description="a registry path such as HKLM\\SYSTEM\\CurrentControlSet")
DRIVER_SPEC = Kind("NAME", complete="driver spec",
                   description="a catalog driver's name, or a FILE.toml spec")
HARDWARE_ID = Kind("HWID", complete="hardware id",
                   description="a hardware ID, e.g. USB\\VID_045E&PID_0008")
SCENARIO = Kind("FILE", complete="scenario", description="a .kms file or a bundled scenario")
ADDRESS = number(0, U64, "ADDR", "an address, e.g. 0x0 or 0xFFFF800000001000")


@dataclass(frozen=True)
class Arg:
    name: str
    kind: Kind
    help: str = ""
    optional: bool = False
    default: Any = None
    rest: bool = False  # takes all remaining words, joined by spaces

    @property
    def label(self) -> str:
        """Its name in usage lines and errors: P, NAME, or a metavar such as -v as written."""
        return self.kind.metavar if self.name == self.kind.metavar.lower() else self.name.upper()

    @property
    def usage(self) -> str:
        text = self.label
        if self.rest:
            text += "..."
        return f"[{text}]" if self.optional else text


@dataclass(frozen=True)
class Opt:
    name: str  # without the leading dashes
    kind: Kind | None  # None: a flag that takes no value
    help: str = ""
    default: Any = None

    @property
    def usage(self) -> str:
        return f"[--{self.name}]" if self.kind is None else f"[--{self.name} {self.kind.metavar}]"


MAX_CHOICES = 12  # more (the 28 IRP_MJ_ codes) would fill the screen: Tab completes them


def with_choices(field: Arg | Opt, text: str) -> str:
    """For help and docs: `text` (what the field is) and the fixed values it takes, unless
    its usage or the text already shows them all (`reg set --type TYPE`: the REG_ types)."""
    kind = field.kind
    if kind is None or not isinstance(kind.complete, tuple) or len(kind.complete) > MAX_CHOICES \
            or all(value in f"{field.usage} {text}" for value in kind.complete):
        return text
    return "; ".join(filter(None, [text, "one of: " + ", ".join(kind.complete)]))


# The groups of `help`: Windows's kernel-mode components, named by the prefix of their
# routines as the WDK names them ("Kernel-Mode Components",
# https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/), then the session's own
# commands. Every command names its group (CommandSpec.component); the table refuses others.
COMPONENTS = {
    "Ps": "process and thread manager",
    "Ke": "kernel: processors, IRQL, clock, interrupts, DPCs, bugchecks",
    "Io": "I/O manager: drivers, devices, IRPs, handles' I/O",
    "PnP": "Plug and Play manager: the device tree",
    "Po": "power manager",
    "Mm": "memory manager: physical pages, address spaces, pool",
    "Ob": "object manager: namespace, handles",
    "Cm": "configuration manager: the registry",
    "Se": "security reference monitor: users, tokens, descriptors",
    "Ex": "executive: named events, mutexes, semaphores, timers; worker threads",
    "KTM": "kernel transaction manager",
    "CLFS": "common log file system",
    "WMI": "Windows Management Instrumentation",
    "Verifier": "Driver Verifier",
    "session": "this session: help, history, time travel, files, scenarios",
}


@dataclass
class CommandSpec:
    name: str  # "process create": noun and verb, or one word
    handler: Callable
    help: str  # one line
    args: tuple[Arg, ...] = ()
    options: tuple[Opt, ...] = ()
    aliases: tuple[str, ...] = ()
    details: str = ""  # a paragraph for `help CMD`
    examples: tuple[str, ...] = ()
    when_halted: bool = False  # allowed after a bugcheck (inspection commands)
    meta: bool = False  # acts on the session, not the machine: kept out of history and replay
    component: str = "session"  # its group in `help`: a key of COMPONENTS

    @property
    def noun(self) -> str:
        return self.name.split()[0]

    @property
    def usage(self) -> str:
        parts = [self.name] + [a.usage for a in self.args] + [o.usage for o in self.options]
        return " ".join(parts)

    def option(self, name: str) -> Opt | None:
        return next((o for o in self.options if o.name == name.lower()), None)


@dataclass
class CommandTable:
    specs: list[CommandSpec] = field(default_factory=list)
    by_name: dict[str, CommandSpec] = field(default_factory=dict, repr=False)  # and aliases

    def add(self, spec: CommandSpec) -> CommandSpec:
        if spec.component not in COMPONENTS:
            raise ValueError(f"command {spec.name!r}: component {spec.component!r} is not one "
                             f"of {', '.join(COMPONENTS)}")
        names = [spec.name, *spec.aliases]
        clash = {name for name in names if name in self.by_name}
        if clash:
            raise ValueError(f"command name {clash} registered twice")
        self.specs.append(spec)
        self.by_name.update(dict.fromkeys(names, spec))
        return spec

    def lookup(self, name: str) -> CommandSpec | None:
        """One dict look-up: every line replayed asks for its command once or twice."""
        return self.by_name.get(" ".join(name.lower().split()))

    def nouns(self) -> dict[str, list[CommandSpec]]:
        """Multi-word commands grouped by their first word."""
        groups: dict[str, list[CommandSpec]] = {}
        for spec in self.specs:
            if " " in spec.name:
                groups.setdefault(spec.noun, []).append(spec)
        return groups

    def words(self) -> list[str]:
        """Every first word a line may start with: single commands, nouns and aliases."""
        seen: dict[str, None] = {}
        for spec in self.specs:
            seen[spec.noun] = None
            for alias in spec.aliases:
                seen[alias.split()[0]] = None
        return list(seen)

    def suggest(self, word: str, candidates: list[str] | None = None) -> str | None:
        pool = self.words() if candidates is None else candidates
        match = difflib.get_close_matches(word.lower(), pool, n=1, cutoff=0.6)
        return match[0] if match else None
