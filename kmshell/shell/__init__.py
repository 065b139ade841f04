"""The interactive shell: prompt_toolkit session, completer, toolbar, keys, style, pager. No
model logic lives here; every line goes through Session.execute."""

from kmshell.shell.app import run_repl

__all__ = ["run_repl"]
