"""The Plug and Play device tree (`device tree`, `!devnode 0 1`) and a devnode's fields."""

from __future__ import annotations

from rich.text import Text
from rich.tree import Tree

from kmshell.nt.pnp import PROBLEMS, Devnode, DevnodeState
from kmshell.views.layout import LIST_LIMIT, Packed, capped, deferred, titled

STATE_STYLE = {DevnodeState.DeviceNodeStarted: "green",
               DevnodeState.DeviceNodeRemovePendingCloses: "yellow",
               DevnodeState.DeviceNodeQueryRemoved: "yellow"}


def _label(node: Devnode) -> Text:
    text = Text(node.instance_path, style="bold")
    text.append(f"  {node.state.name}", style=STATE_STYLE.get(node.state, "red"))
    if node.service:
        text.append(f"  {node.service}")
    if node.problem:
        text.append(f"  problem {PROBLEMS[node.problem]}", style="red")
    stack = node.stack()
    if stack:
        text.append("\n" + " → ".join(d.label for d in stack) + "  (PDO last)", style="dim")
    return text


@deferred
def devnode_tree(root: Devnode) -> Tree:
    """Every devnode under root, parents above children, each with its stack inline; past
    LIST_LIMIT devnodes, the first ones in that order and a last line counting the rest."""
    tree = Tree(_label(root), guide_style="dim")
    branches = {id(root): tree}
    nodes = list(root.walk())
    for node in nodes[1:LIST_LIMIT]:
        branches[id(node)] = branches[id(node.parent)].add(_label(node))
    if len(nodes) > LIST_LIMIT:
        tree.add(Text(f"… and {len(nodes) - LIST_LIMIT:,} more devnodes: name one with "
                      "device show DEV", style="dim italic"))
    return tree


@deferred
def power_table(system) -> Packed:
    """The system power state, and each devnode's device power state."""
    state = system.po.system_power
    table = titled(f"power: the machine is in {state.short} ({state.name})", "devnode",
                   "power policy owner", "D state", "wake")
    owners = [node for node in system.pnp.device_root.walk() if node.service]
    for node in capped(table, owners, "name one: device show DEV"):
        waiting = node.wait_wake is not None and not node.wait_wake.completed
        table.add_row(node.instance_path, node.service,
                      Text(node.power.short, style="green" if node.power.value == 1
                           else "yellow"),
                      f"IRP {node.wait_wake.number} held" if waiting
                      else "armed" if node.wake_armed else "")
    return Packed(table)


def devnode_rows(node: Devnode) -> list[tuple[str, str]]:
    """The devnode lines of `device show` (as !devnode prints them)."""
    history = " → ".join(f"{state.short}@{tick}" for tick, state in node.history)
    return [("DevNode", node.instance_path),
            ("State", f"{node.state.name} ({node.state.value:#x})"),
            ("History", history),
            ("Problem", PROBLEMS.get(node.problem, "none")),
            ("Power", f"{node.power.short} ({node.power.name})"),
            ("Parent", node.parent.instance_path if node.parent else "(root)")]
