"""Key bindings: Ctrl-C clears the line (never a traceback), Ctrl-D on an empty line quits."""

from __future__ import annotations

from prompt_toolkit.key_binding import KeyBindings


def key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("c-c")
    def _clear(event):
        event.current_buffer.reset()

    @bindings.add("c-d")
    def _quit(event):
        if not event.current_buffer.text:
            event.app.exit(exception=EOFError)
        else:
            event.current_buffer.delete()

    return bindings
