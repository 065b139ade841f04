"""Key bindings: Ctrl-C clears the line (never a traceback), Ctrl-D on an empty line quits,
Tab completes."""

from __future__ import annotations

from prompt_toolkit.completion import CompleteEvent, get_common_complete_suffix
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

    @bindings.add("tab")
    def _complete(event):
        """As prompt_toolkit's Tab (the first inserts what every match shares, the next go
        through the menu, a lone match is taken), except that what is shared is taken from
        the matches that go on from what was typed: a fuzzy match (`!process` for `proc`)
        still shows in the menu but does not stop `proc` from becoming `process`."""
        buffer = event.current_buffer
        if buffer.complete_state:
            buffer.complete_next()
            return
        if buffer.completer is not None:
            document = buffer.document
            matches = list(buffer.completer.get_completions(
                document, CompleteEvent(completion_requested=True)))
            going_on = [c for c in matches
                        if document.text_before_cursor.endswith(c.text[:-c.start_position])]
            common = get_common_complete_suffix(document, going_on) if going_on else ""
            if common:
                buffer.insert_text(common)
            elif len(matches) == 1:
                buffer.apply_completion(matches[0])
                return
        buffer.start_completion(select_first=False)

    return bindings
