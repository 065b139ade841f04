"""How a replay is paced: one key per command in --step, or a fixed delay."""

from __future__ import annotations

import time

import click

from kmshell import cancel
from kmshell.views.console import make_console
from kmshell.views.layout import Legend

STEP_KEYS = {"\r": "next", "\n": "next", " ": "next", "b": "back", "q": "quit"}
KEY_HINT = "Enter/space: run · b: back · q: quit"


def key_hint(prompt: str) -> str:
    """`[next: LINE]  Enter/space: run · b: back · q: quit`, and a space for the cursor, at
    the terminal's width: the keys go on a line of their own, all three, when both do not
    fit."""
    console = make_console(no_color=True)
    with console.capture() as captured:
        console.print(Legend([f"[{prompt}]", KEY_HINT], style="none"),
                      width=max(1, console.width - 1))  # the cursor's column after it
    return captured.get().rstrip("\n") + " "


def step_by_key(prompt: str) -> str:
    """--step: one key decides — Enter or space runs the command, b goes back, q quits."""
    click.echo(key_hint(prompt), nl=False)
    while True:
        try:
            key = click.getchar()
        except KeyboardInterrupt:  # Ctrl-C arrives as a key here: stop as SIGINT would
            cancel.request()
            key = "q"
        except EOFError:
            key = "q"
        action = STEP_KEYS.get(key.lower())
        if action:
            click.echo()
            return action


def delayed(seconds: float):
    """--delay: play unattended, waiting before each command. The wait is cut short by
    Ctrl-C (kmshell.cancel), which the replay then honours before the next line runs."""

    def control(prompt: str) -> str:
        end = time.monotonic() + seconds
        while not cancel.requested() and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
        return "next"

    return control
