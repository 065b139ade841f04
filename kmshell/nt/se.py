"""Security reference monitor (Se): SIDs, tokens with privileges, security descriptors in
SDDL, and the access check.

SeAccessCheck compares a token's SIDs with an object's DACL: it walks the ACEs in order, a
deny ACE for a wanted right ends the check, allow ACEs add rights until all are granted;
generic rights are first mapped to the object type's specific ones (GENERIC_MAPPING).

State: none of its own. A token belongs to its process (Process.token, made by `token_for`
at creation or logon), a security descriptor to its object (ObjectHeader.security, set by
`sd set`). Se is a set of functions: Ps makes tokens, and Ke (a thread's first use of a
named dispatcher object) and FileIo (an open of a device) call `access_check`.

Simplifications: three users (SYSTEM, student, teacher) with fixed groups; no integrity
levels, no impersonation, no auditing (no SACL), no inheritance of ACEs; an ACE's flags and
object GUIDs are read but not used.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmshell.nt.rtl import U32, is_number, parse_number

# Well-known SIDs by their SDDL aliases.
SID_ALIASES = {
    "SY": ("S-1-5-18", "NT AUTHORITY\\SYSTEM"),
    "BA": ("S-1-5-32-544", "BUILTIN\\Administrators"),
    "BU": ("S-1-5-32-545", "BUILTIN\\Users"),
    "WD": ("S-1-1-0", "Everyone"),
    "AU": ("S-1-5-11", "NT AUTHORITY\\Authenticated Users"),
    "IU": ("S-1-5-4", "NT AUTHORITY\\INTERACTIVE"),
    "RC": ("S-1-5-12", "NT AUTHORITY\\RESTRICTED"),  # restricted code (restricted tokens)
}
MACHINE = "S-1-5-21-1004336348-1177238915-682003330"
SID_NAMES = {sid: name for sid, name in SID_ALIASES.values()} | {
    f"{MACHINE}-1001": "KMSHELL\\student",
    f"{MACHINE}-1002": "KMSHELL\\teacher",
}

# Access masks (winnt.h).
GENERIC_READ, GENERIC_WRITE = 0x80000000, 0x40000000
GENERIC_EXECUTE, GENERIC_ALL = 0x20000000, 0x10000000
STANDARD_RIGHTS_REQUIRED, SYNCHRONIZE = 0x000F0000, 0x00100000
RIGHTS = {"GA": GENERIC_ALL, "GR": GENERIC_READ, "GW": GENERIC_WRITE, "GX": GENERIC_EXECUTE,
          "FA": 0x001F01FF, "FR": 0x00120089, "FW": 0x00120116, "FX": 0x001200A0,
          "KA": 0x000F003F, "KR": 0x00020019, "KW": 0x00020006, "SD": 0x00010000,
          "RC": 0x00020000, "WD": 0x00040000, "WO": 0x00080000}
# GENERIC_MAPPING for the object types the model checks: read, write, execute, all.
GENERIC_MAPPINGS = {
    "Event": (0x00120001, 0x00120002, 0x00100000, 0x001F0003),
    "Mutant": (0x00120001, 0x00120000, 0x00100000, 0x001F0001),
    "Semaphore": (0x00120001, 0x00120002, 0x00100000, 0x001F0003),
    "Timer": (0x00120001, 0x00120002, 0x00100000, 0x001F0003),
    "Device": (0x00120089, 0x00120116, 0x001200A0, 0x001F01FF),
}

# The SDDL_DEVOBJ_* strings of wdmsec.h that IoCreateDeviceSecure takes ("SDDL for Device
# Objects", https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/sddl-for-device-objects):
# "D:P" and allow ACEs only, the subset that routine understands.
SDDL_DEVOBJ = {
    "SDDL_DEVOBJ_KERNEL_ONLY": "D:P",
    "SDDL_DEVOBJ_SYS_ALL": "D:P(A;;GA;;;SY)",
    "SDDL_DEVOBJ_SYS_ALL_ADM_ALL": "D:P(A;;GA;;;SY)(A;;GA;;;BA)",
    "SDDL_DEVOBJ_SYS_ALL_ADM_RX": "D:P(A;;GA;;;SY)(A;;GRGX;;;BA)",
    "SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_R": "D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GR;;;WD)",
    "SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_R_RES_R":
        "D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GR;;;WD)(A;;GR;;;RC)",
    "SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_RW_RES_R":
        "D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GRGW;;;WD)(A;;GR;;;RC)",
    "SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_RWX_RES_RWX":
        "D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GRGWGX;;;WD)(A;;GRGWGX;;;RC)",
}
# What a device created by IoCreateDevice, with no security descriptor of its own, gets: "for
# most device types and characteristics, the default security descriptor gives full access
# (GENERIC_ALL) to administrators, and read, write, and execute access (GENERIC_READ |
# GENERIC_WRITE | GENERIC_EXECUTE) to everyone else" (WDK, "Controlling Device Access",
# https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/controlling-device-access).
# Windows picks it by device type and characteristics (IopCreateDefaultDeviceSecurityDescriptor);
# the model gives every device this one.
DEFAULT_DEVICE_SDDL = "D:P(A;;GA;;;BA)(A;;GRGWGX;;;WD)"

ACCESS_WORDS = {"read": GENERIC_READ, "write": GENERIC_WRITE, "all": GENERIC_ALL}

PRIVILEGES_OF = {
    "SYSTEM": ("SeTcbPrivilege", "SeLoadDriverPrivilege", "SeDebugPrivilege",
               "SeShutdownPrivilege", "SeChangeNotifyPrivilege"),
    "teacher": ("SeLoadDriverPrivilege", "SeDebugPrivilege", "SeShutdownPrivilege",
                "SeChangeNotifyPrivilege"),
    "student": ("SeShutdownPrivilege", "SeChangeNotifyPrivilege"),
}
USERS = {
    "SYSTEM": ("S-1-5-18", ("S-1-5-32-544", "S-1-1-0", "S-1-5-11")),
    "teacher": (f"{MACHINE}-1002", ("S-1-5-32-544", "S-1-5-32-545", "S-1-1-0", "S-1-5-11",
                                    "S-1-5-4")),
    "student": (f"{MACHINE}-1001", ("S-1-5-32-545", "S-1-1-0", "S-1-5-11", "S-1-5-4")),
}


@dataclass(frozen=True)
class Token:
    user: str  # the account name
    sid: str
    groups: tuple[str, ...]
    privileges: tuple[str, ...]

    @property
    def sids(self) -> tuple[str, ...]:
        return (self.sid, *self.groups)

    def has(self, privilege: str) -> bool:
        return privilege in self.privileges


def token_for(user: str) -> Token:
    sid, groups = USERS[user]
    return Token(user, sid, groups, PRIVILEGES_OF[user])


def sid_name(sid: str) -> str:
    return SID_NAMES.get(sid, sid)


@dataclass(frozen=True)
class Ace:
    allow: bool
    mask: int  # as written: may hold GENERIC_* bits, mapped at check time
    sid: str


@dataclass(frozen=True)
class SecurityDescriptor:
    owner: str | None = None
    group: str | None = None
    dacl: tuple[Ace, ...] | None = None  # None: no DACL at all, everyone gets everything
    protected: bool = False
    text: str = ""

    def __str__(self) -> str:
        return self.text or "(no security descriptor)"


class SddlError(ValueError):
    def __init__(self, message: str, position: int):
        super().__init__(f"SDDL position {position + 1}: {message}")
        self.position = position


def _sid(text: str, at: int) -> str:
    if text.upper() in SID_ALIASES:
        return SID_ALIASES[text.upper()][0]
    parts = text[4:].split("-")
    # SID: a 48-bit identifier authority, then at most SID_MAX_SUB_AUTHORITIES (15) 32-bit
    # sub-authorities (winnt.h).
    if text.upper().startswith("S-1-") and len(parts) <= 16 and is_number(parts[0], 0, 2**48 - 1) \
            and all(is_number(part, 0, U32) for part in parts[1:]):
        return text.upper()
    raise SddlError(f"'{text[:40]}' is not a SID; use an alias such as SY, BA, BU, WD or S-1-...",
                    at)


def _rights(text: str, at: int) -> int:
    if text.lower().startswith("0x"):
        try:
            return parse_number(text, 0, U32)  # an ACCESS_MASK is 32 bits
        except ValueError as error:
            raise SddlError(f"not an access mask: {error}", at) from None
    mask, i = 0, 0
    while i < len(text):
        code = text[i:i + 2].upper()
        if code not in RIGHTS:
            raise SddlError(f"'{text[i:i + 2]}' is not an access right; use GA GR GW GX, FA FR "
                            "FW FX, KA KR KW, SD RC WD WO or 0x...", at + i)
        mask |= RIGHTS[code]
        i += 2
    return mask


def parse_sddl(text: str) -> SecurityDescriptor:
    """`O:BAG:SYD:P(A;;GA;;;SY)(A;;GR;;;BU)` -> SecurityDescriptor; SddlError names where."""
    owner = group = None
    dacl: list[Ace] | None = None
    protected = False
    i = 0
    while i < len(text):
        tag = text[i:i + 2].upper()
        if tag in ("O:", "G:"):
            end = i + 2
            while end < len(text) and text[end:end + 2].upper() not in ("O:", "G:", "D:", "S:"):
                end += 1
            sid = _sid(text[i + 2:end], i + 2)
            owner, group = (sid, group) if tag == "O:" else (owner, sid)
            i = end
        elif tag == "D:":
            i += 2
            dacl = []
            while i < len(text) and text[i] != "(" and text[i:i + 2].upper() not in ("S:",):
                if text[i].upper() == "P":
                    protected = True
                elif text[i:i + 2].upper() in ("AI", "AR"):
                    i += 1
                else:
                    raise SddlError(f"'{text[i]}' is not a DACL flag (P, AI, AR)", i)
                i += 1
            while i < len(text) and text[i] == "(":
                close = text.find(")", i)
                if close < 0:
                    raise SddlError("an ACE opened with '(' is never closed", i)
                fields = text[i + 1:close].split(";")
                if len(fields) != 6:
                    raise SddlError(f"an ACE has 6 fields type;flags;rights;guid;guid;sid, "
                                    f"this one has {len(fields)}", i)
                kind = fields[0].upper()
                if kind not in ("A", "D"):
                    raise SddlError(f"'{fields[0]}' is not an ACE type (A allow, D deny)", i + 1)
                rights_at = i + 1 + len(fields[0]) + len(fields[1]) + 2
                sid_at = close - len(fields[5])
                dacl.append(Ace(kind == "A", _rights(fields[2], rights_at),
                                _sid(fields[5], sid_at)))
                i = close + 1
        elif tag == "S:":
            raise SddlError("SACLs (S:) are not modelled; give O:, G: and D: parts", i)
        else:
            raise SddlError(f"expected O:, G: or D: here, found '{text[i:i + 2]}'", i)
    return SecurityDescriptor(owner, group, None if dacl is None else tuple(dacl), protected,
                              text)


def map_generic(mask: int, type_name: str) -> int:
    read, write, execute, everything = GENERIC_MAPPINGS.get(type_name, GENERIC_MAPPINGS["Event"])
    mapped = mask & 0x0FFFFFFF
    for bit, specific in ((GENERIC_READ, read), (GENERIC_WRITE, write),
                          (GENERIC_EXECUTE, execute), (GENERIC_ALL, everything)):
        if mask & bit:
            mapped |= specific
    return mapped


def access_check(sd: SecurityDescriptor | None, token: Token, desired: int,
                 type_name: str) -> tuple[bool, int, str]:
    """SeAccessCheck: walk the DACL in order; a deny ACE for a wanted right ends it, allow ACEs
    add rights until everything wanted is granted. Returns (granted?, granted mask, why)."""
    wanted = map_generic(desired, type_name)
    if sd is None or sd.dacl is None:
        return True, wanted, "no DACL: every access is allowed"
    granted = 0
    for number, ace in enumerate(sd.dacl, start=1):
        if ace.sid not in token.sids:
            continue
        rights = map_generic(ace.mask, type_name) & wanted & ~granted
        if not ace.allow and rights:
            return False, granted, f"ACE {number} denies {sid_name(ace.sid)} {rights:#x}"
        granted |= rights if ace.allow else 0
        if granted == wanted:
            return True, granted, f"ACE {number} completes the grant to {sid_name(ace.sid)}"
    missing = wanted & ~granted
    why = "an empty DACL grants nothing" if not sd.dacl else \
        f"no ACE grants {missing:#x} to {token.user}'s SIDs"
    return False, granted, why

