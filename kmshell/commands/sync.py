"""Synchronization: named events and mutexes, spin locks, and shared variables."""

from __future__ import annotations

from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import NAME, NUMBER, Arg, Opt
from kmshell.nt.ke.sync import KEvent, KSemaphore
from kmshell.views.ob import directory_listing
from kmshell.views.sync import locks_table, variables_table


def _named_objects(session, cmd):
    """\\BaseNamedObjects, the object just created in view however many there are."""
    return [directory_listing(session.system.ob.lookup("\\BaseNamedObjects"), cmd["name"])]


def _event(session, cmd) -> KEvent:
    obj = session.system.ke.sync_object(cmd["name"])
    if not isinstance(obj, KEvent):
        raise KmsError(f"{cmd['name']} is not an event", col=cmd.col("name"))
    return obj


@command("event create", "create a named event in \\BaseNamedObjects (CreateEvent)",
         args=(Arg("name", NAME, "event name"),),
         options=(Opt("synchronization", None, "auto-reset: a set releases one waiter"),),
         details="A notification event (the default, manual-reset) releases every waiter and "
                 "stays set; a synchronization event releases one waiter and resets itself.",
         examples=("event create Ready", "event create Go --synchronization"), component="Ex")
def event_create(session, cmd):
    session.system.ke.create_named("event", cmd["name"], notification=not cmd["synchronization"])
    return _named_objects(session, cmd)


@command("event set", "signal an event (SetEvent / KeSetEvent): release its waiters",
         args=(Arg("name", NAME, "event name"),), component="Ex")
def event_set(session, cmd):
    session.system.ke.set_event(_event(session, cmd))
    session.system.ke.dispatch()
    return []


@command("event reset", "put an event back to not signaled (ResetEvent)",
         args=(Arg("name", NAME, "event name"),), component="Ex")
def event_reset(session, cmd):
    session.system.ke.reset_event(_event(session, cmd))
    return []


@command("mutex create", "create a named mutex (mutant) in \\BaseNamedObjects (CreateMutex)",
         args=(Arg("name", NAME, "mutex name"),), examples=("mutex create M1",), component="Ex")
def mutex_create(session, cmd):
    session.system.ke.create_named("mutex", cmd["name"])
    return _named_objects(session, cmd)


@command("spinlock create", "initialize a spin lock that thread programs can acquire",
         args=(Arg("name", NAME, "lock name"),),
         details="Acquiring a spin lock raises the processor to DISPATCH_LEVEL; a second "
                 "thread that wants it spins, burning its processor, until it is released.",
         examples=("spinlock create L",), component="Ke")
def spinlock_create(session, cmd):
    session.system.ke.create_named("spinlock", cmd["name"])
    return [locks_table(session.system)]


@command("lock list", "spin locks, mutexes and semaphores: who holds each, who waits or spins",
         when_halted=True, component="Ex")
def lock_list(session, cmd):
    return [locks_table(session.system)]


@command("var list", "shared variables: value and how many updates were lost to races",
         when_halted=True, component="Ex")
def var_list(session, cmd):
    return [variables_table(session.system)]


@command("semaphore create", "create a named semaphore: a count of units, up to a limit",
         args=(Arg("name", NAME, "semaphore name"),),
         options=(Opt("count", NUMBER, "units available now", 1),
                  Opt("limit", NUMBER, "the most units it can hold", 1)),
         details="A wait takes a unit (and waits while there is none); `release NAME` in a "
                 "program gives one back. Releasing past the limit fails with "
                 "STATUS_SEMAPHORE_LIMIT_EXCEEDED.",
         examples=("semaphore create Slots --count 2 --limit 2",), component="Ex")
def semaphore_create(session, cmd):
    session.system.ke.create_named("semaphore", cmd["name"], count=cmd["count"],
                                limit=cmd["limit"])
    return _named_objects(session, cmd)


@command("timer create", "create a named timer that becomes signaled after --due ticks",
         args=(Arg("name", NAME, "timer name"),),
         options=(Opt("due", NUMBER, "ticks from now until it is signaled", 1),
                  Opt("period", NUMBER, "set it again every N ticks after that"),
                  Opt("synchronization", None, "release one waiter per expiry and reset")),
         examples=("timer create Tick --due 3 --period 3",), component="Ex")
def timer_create(session, cmd):
    if cmd["due"] < 1:
        raise KmsError("--due must be at least 1 tick", col=cmd.col("due"))
    session.system.ke.create_named("timer", cmd["name"], due=cmd["due"],
                                period=cmd["period"] or 0,
                                notification=not cmd["synchronization"])
    return _named_objects(session, cmd)


@command("semaphore release", "give a semaphore back one unit from the shell (ReleaseSemaphore)",
         args=(Arg("name", NAME, "semaphore name"),), examples=("semaphore release Slots",),
         component="Ex")
def semaphore_release(session, cmd):
    semaphore = session.system.ke.sync_object(cmd["name"])
    if not isinstance(semaphore, KSemaphore):
        raise KmsError(f"{cmd['name']} is not a semaphore", col=cmd.col("name"))
    session.system.ke.release_semaphore(semaphore)
    session.system.ke.dispatch()
    return [locks_table(session.system)]
