"""How a replay is paced: one key per command in --step, or a fixed delay."""

from __future__ import annotations

import time

import click

from kmshell import cancel

STEP_KEYS = {"\r": "next", "\n": "next", " ": "next", "b": "back", "q": "quit"}


def step_by_key(prompt: str) -> str:
    """--step: one key decides — Enter or space runs the command, b goes back, q quits."""
    click.echo(f"[{prompt}]  Enter/space: run · b: back · q: quit ", nl=False)
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
