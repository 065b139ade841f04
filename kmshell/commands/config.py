"""The registry, transactions and logs: reg ls|get|set|delete, tx begin|commit|rollback,
log create|append|flush|show."""

from __future__ import annotations

from rich.text import Text

from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import FREE_TEXT, KEY, NAME, Arg, Opt, choice
from kmshell.nt.cm import REG_TYPES, RegistryError, RegistryOperation, RegValue, parse_data
from kmshell.views.cm import key_view, log_view


def _key(session, cmd, name: str = "key"):
    try:
        return session.system.cm.registry.open(cmd[name])
    except RegistryError as error:
        raise KmsError(str(error), col=cmd.col(name),
                       hint="reg ls HKLM lists the top of the machine's registry") from None


def _pending(session):
    tx = session.system.tm.transaction
    return tx.operations if tx else []


@command("reg ls", "list a registry key: its subkeys and values",
         args=(Arg("key", KEY, "e.g. HKLM\\SYSTEM\\CurrentControlSet\\Services", optional=True,
                   default="HKLM"),),
         when_halted=True, examples=("reg ls HKLM\\SYSTEM\\CurrentControlSet\\Services\\pci",),
         component="Cm")
def reg_ls(session, cmd):
    return [key_view(_key(session, cmd), _pending(session))]


@command("reg get", "one registry value: its type and data",
         args=(Arg("key", KEY, "the key"), Arg("value", NAME, "the value's name")),
         when_halted=True, examples=("reg get HKLM\\SYSTEM\\CurrentControlSet\\Services\\disk "
                                     "Start",), component="Cm")
def reg_get(session, cmd):
    key = _key(session, cmd)
    value = key.values.get(cmd["value"].upper())
    if value is None:
        names = ", ".join(v.name for v in key.values.values()) or "none"
        raise KmsError(f"no value '{cmd['value']}' in {key.path}", col=cmd.col("value"),
                       hint=f"values: {names}")
    return [Text(f"{key.path}\\{value.name} = {value.show()} ({value.type})")]


@command("reg set", "set a registry value, creating the key if needed (RegSetValueEx)",
         args=(Arg("key", KEY, "the key"), Arg("value", NAME, "the value's name"),
               Arg("data", FREE_TEXT, "the data; REG_MULTI_SZ parts separated by |")),
         options=(Opt("type", choice(*REG_TYPES, metavar="TYPE"), "the value's type", "REG_SZ"),),
         details="Inside a transaction (tx begin) the change waits for tx commit. Registry "
                 "callbacks of drivers see it first and may block it.",
         examples=("reg set HKLM\\SOFTWARE\\Lab Greeting hello",
                   "reg set HKLM\\SOFTWARE\\Lab Count 7 --type REG_DWORD"), component="Cm")
def reg_set(session, cmd):
    try:
        data = parse_data(cmd["type"], cmd["data"])
    except ValueError as error:
        raise KmsError(f"{cmd['data']!r} is not {cmd['type']} data: {error}",
                       col=cmd.col("data")) from None
    try:
        session.system.cm.registry.split(cmd["key"])
    except RegistryError as error:
        raise KmsError(str(error), col=cmd.col("key")) from None
    op = RegistryOperation("set", cmd["key"], cmd["value"], RegValue(cmd["value"], cmd["type"],
                                                                      data))
    session.system.cm.reg_apply(op)
    if _exists(session, cmd["key"]):
        return [key_view(_key(session, cmd), _pending(session))]
    return []  # a new key inside an open transaction: it exists only after commit


def _exists(session, path: str) -> bool:
    try:
        session.system.cm.registry.open(path)
    except RegistryError:
        return False
    return True


@command("reg delete", "delete a value, or a key with everything under it",
         args=(Arg("key", KEY, "the key"),
               Arg("value", NAME, "the value to delete; the whole key when left out",
                   optional=True)),
         examples=("reg delete HKLM\\SOFTWARE\\Lab Greeting", "reg delete HKLM\\SOFTWARE\\Lab"),
         component="Cm")
def reg_delete(session, cmd):
    _key(session, cmd)
    session.system.cm.reg_apply(RegistryOperation("delete", cmd["key"], cmd["value"]))
    return []


@command("tx begin", "start a transaction: registry changes wait for commit (KTM)",
         examples=("tx begin",), component="KTM")
def tx_begin(session, cmd):
    session.system.tm.tx_begin()
    return []


@command("tx commit", "apply every change of the transaction, all together", component="KTM")
def tx_commit(session, cmd):
    session.system.tm.tx_end(commit=True)
    return []


@command("tx rollback", "throw the transaction's changes away", component="KTM")
def tx_rollback(session, cmd):
    session.system.tm.tx_end(commit=False)
    return []


@command("log create", "create a CLFS log", args=(Arg("name", NAME, "the log's name"),),
         examples=("log create Journal",), component="CLFS")
def log_create(session, cmd):
    session.system.clfs.log_create(cmd["name"])
    return []


@command("log append", "append a record to a log (in memory until flushed)",
         args=(Arg("name", NAME, "the log"), Arg("text", FREE_TEXT, "the record", rest=True)),
         examples=("log append Journal \"debit 100\"",), component="CLFS")
def log_append(session, cmd):
    session.system.clfs.log_append(cmd["name"], cmd["text"])
    return []


@command("log flush", "write a log's records to stable storage (ClfsFlushToLsn)",
         args=(Arg("name", NAME, "the log"),), component="CLFS")
def log_flush(session, cmd):
    session.system.clfs.log_flush(cmd["name"])
    return [log_view(session.system.clfs.clfs_log(cmd["name"]))]


@command("log show", "a log's records with their LSNs, flushed or not",
         args=(Arg("name", NAME, "the log"),), when_halted=True, component="CLFS")
def log_show(session, cmd):
    return [log_view(session.system.clfs.clfs_log(cmd["name"]))]


