"""docs/commands.md, generated from the command table and the query table.

Regenerate with: python -m kmshell.scenario.reference > docs/commands.md
(a test fails when the committed file and the table disagree).
"""

from __future__ import annotations

from kmshell.commands.registry import TABLE
from kmshell.language.spec import with_choices
from kmshell.scenario.queries import OPERATORS, query_reference


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a | inside a table cell, code spans too (GFM)


def reference_markdown() -> str:
    out = [
        "# kmshell command reference",
        "",
        "Generated from the command table (`python -m kmshell.scenario.reference`); "
        "do not edit by hand.",
        "",
        "Words split as a shell splits them; `#` starts a comment; command and option names "
        "are case-insensitive. Commands marked *(halted)* also work after a bugcheck.",
        "",
    ]
    for spec in TABLE.specs:
        out.append(f"## `{spec.name}`" + (" *(halted)*" if spec.when_halted else ""))
        out.append("")
        out.append(f"    {spec.usage}")
        out.append("")
        out.append(spec.help[0].upper() + spec.help[1:] + ".")
        if spec.details:  # its indented lines are a list
            out += ["", spec.details.replace("\n  ", "\n- ").replace(":\n- ", ":\n\n- ", 1)]
        if spec.aliases:
            out += ["", "Aliases: " + ", ".join(f"`{a}`" for a in spec.aliases)]
        rows = [(a.usage, with_choices(a, a.help)) for a in spec.args]
        for option in spec.options:
            default = "" if option.default in (None, False) else f" (default {option.default})"
            rows.append((option.usage.strip("[]"), with_choices(option, option.help + default)))
        if rows:
            out += ["", "| argument | meaning |", "|---|---|"]
            out += [f"| `{_cell(name)}` | {_cell(text)} |" for name, text in rows]
        if spec.examples:
            out += ["", "Examples:", ""] + [f"    {e}" for e in spec.examples]
        out.append("")
    out += [
        "# Scenario directives",
        "",
        "A scenario file, and the prompt, take these lines as directives (each has its section "
        "above, and `help NAME`):",
        "",
        "- `title TEXT` — shown when the replay starts",
        "- `say TEXT` — narration, printed as a panel (apostrophes are fine: the rest of the "
        "line is taken as written)",
        "- `pause` — with `kmshell run --step`, wait for Enter; ignored by `kmshell check`",
        "- `seed N` — kept for this machine and later boots; the model makes no random "
        "choices, so it does not change the output",
        "- `expect QUERY OP VALUE` — OP is one of " + ", ".join(f"`{o}`" for o in OPERATORS),
        "- `expect error TEXT` — the previous command failed with TEXT in its message",
        "- `expect output TEXT` — the previous command's whole output (every event and view, "
        "whatever the view mode) contains TEXT (whitespace folded, case ignored)",
        "- `expect order \"A\" before \"B\" [before \"C\" ...]` — in the previous command's "
        "trace, B appears after A (and C after B)",
        "",
        "A command that fails with no `expect error` on the next line fails the scenario. A "
        "malformed line stops the file before anything runs, unless the next line is "
        "`expect error` (then showing the error is the point).",
        "",
        "## Queries",
        "",
        "Numbers compare as numbers (decimal or hex); names compare case-insensitively; fields "
        "that hold codes also accept names (`cpu 0 irql == DISPATCH_LEVEL`, "
        "`bugcheck code == CRITICAL_PROCESS_DIED`, `process P exit-status == "
        "STATUS_ACCESS_VIOLATION`).",
        "",
        query_reference(),
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(reference_markdown(), end="")
