"""The security reference monitor: whoami, login, token (!token), sd (!sd), sd set."""

from __future__ import annotations

from kmshell.commands.names import resolve_object, resolve_process
from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import NAME, OBJECT_PATH, PROCESS, TEXT, Arg
from kmshell.nt.se import USERS, SddlError, parse_sddl, token_for
from kmshell.views.ps import process_tree
from kmshell.views.se import sd_view, token_view


@command("whoami", "who is logged on: the token new processes get", when_halted=True,
         component="Se")
def whoami(session, cmd):
    user = session.system.ps.console_user
    return [token_view(token_for(user), f"logged on: {user}")]


@command("login", "log on as another user: a new session with its own explorer.exe",
         args=(Arg("user", NAME, "student or teacher"),),
         details="Users: student (Users), teacher (Administrators). Processes created "
                 "afterwards start from the new explorer.exe and carry its token.",
         examples=("login teacher",), component="Se")
def login(session, cmd):
    if cmd["user"] not in USERS:
        raise KmsError(f"no user named '{cmd['user']}'", col=cmd.col("user"),
                       hint="users: " + ", ".join(u for u in USERS if u != "SYSTEM"))
    shell = session.system.ps.login(cmd["user"])
    return [process_tree(session.system, highlight={shell.pid})]


@command("token", "a process's token: user SID, groups, privileges",
         args=(Arg("p", PROCESS, "PID or image name"),), aliases=("!token",),
         when_halted=True, examples=("token explorer.exe", "!token 4"), component="Se")
def token(session, cmd):
    process = resolve_process(session.system, cmd["p"], cmd.col("p"))
    return [token_view(process.token, f"token of {process.image} ({process.pid})")]


@command("sd", "an object's security descriptor: SDDL and its ACEs",
         args=(Arg("path", OBJECT_PATH, "an object path, e.g. \\BaseNamedObjects\\Go"),),
         aliases=("!sd",), when_halted=True, examples=("sd \\BaseNamedObjects\\Go",),
         component="Se")
def sd(session, cmd):
    return [sd_view(resolve_object(session.system, cmd["path"], cmd.col("path")))]


@command("sd set", "give an object a security descriptor written in SDDL",
         args=(Arg("path", OBJECT_PATH, "the object"),
               Arg("sddl", TEXT, "e.g. \"D:P(A;;GA;;;SY)(A;;GR;;;BU)\"")),
         details="Aliases: SY SYSTEM, BA Administrators, BU Users, WD Everyone, AU "
                 "Authenticated Users, IU Interactive. Rights: GA GR GW GX, or hex. A process "
                 "opening the object afterwards goes through the access check.",
         examples=("sd set \\BaseNamedObjects\\Go \"D:P(A;;GA;;;SY)(A;;GA;;;BA)\"",),
         component="Se")
def sd_set(session, cmd):
    obj = resolve_object(session.system, cmd["path"], cmd.col("path"))
    try:
        descriptor = parse_sddl(cmd["sddl"])
    except SddlError as error:
        col = cmd.col("sddl")
        raise KmsError(str(error), col=(col + error.position + 1) if col else None,
                       hint="e.g. D:P(A;;GA;;;SY)(A;;GR;;;BU)") from None
    session.system.ob.set_security(obj, descriptor, cmd["sddl"])
    return [sd_view(obj)]
