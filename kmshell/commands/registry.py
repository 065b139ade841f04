"""The one command table, and the decorator command modules register with."""

from __future__ import annotations

from kmshell.language.spec import Arg, CommandSpec, CommandTable, Opt

TABLE = CommandTable()


def command(name: str, help: str, *, component: str, args: tuple[Arg, ...] = (),
            options: tuple[Opt, ...] = (), aliases: tuple[str, ...] = (), details: str = "",
            examples: tuple[str, ...] = (), when_halted: bool = False, meta: bool = False):
    """Register the decorated `handler(session, command) -> list of views` under name, in
    the group `component` of `help` (a key of COMPONENTS: required, so none is left out)."""

    def register(handler):
        TABLE.add(CommandSpec(name, handler, help, tuple(args), tuple(options), tuple(aliases),
                              details, tuple(examples), when_halted, meta, component))
        return handler

    return register
