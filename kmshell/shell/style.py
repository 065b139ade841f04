"""prompt_toolkit styles for the prompt and the toolbar."""

from prompt_toolkit.styles import Style

STYLE = Style.from_dict({
    "prompt": "bold ansicyan",
    "prompt.halted": "bold ansired",
    "toolbar": "noreverse bg:#1c1c1c #d0d0d0",
    "toolbar.running": "noreverse bg:ansigreen #000000",
    "toolbar.halted": "noreverse bg:ansired #ffffff bold",
    "bottom-toolbar": "noreverse bg:#1c1c1c",
})
