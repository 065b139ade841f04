"""Each NT component owns its state: no other component, and no command, writes it.

A component reaches another only through that one's methods (DESIGN.md §2). This test reads
the source and fails on any write into state another component owns: an assignment, an
augmented assignment or a `del` whose target goes through another component
(`self.io.irp_count = 0`, `self.tm.transaction.operations[0] = op`), or a call of a mutating
container method on it (`self.io.irps.pop(n)`). Outside kmshell/nt the same holds for
`system.<component>`: commands change the machine only by calling the components.

The exceptions are named here, each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kmshell

PACKAGE = Path(kmshell.__file__).parent
# The attributes System gives each component for the others it calls.
COMPONENTS = frozenset({"core", "ke", "ps", "ex", "mm", "ob", "io", "files", "io_files", "pnp",
                        "po", "cm", "tm", "clfs", "hal", "wmi", "se"})
MUTATORS = frozenset({"append", "appendleft", "extend", "insert", "pop", "popleft", "popitem",
                      "remove", "clear", "update", "setdefault", "add", "discard", "sort",
                      "reverse", "__setitem__", "__delitem__"})
# Ke is the clock interrupt and the dispatcher: it alone advances Core's clock and says
# which processor the running code is on (core.py's docstring).
ALLOWED = {("kmshell/nt/ke/kernel.py", "core", "tick"),
           ("kmshell/nt/ke/kernel.py", "core", "cpu_context")}


def _chain(node: ast.expr) -> list[str] | None:
    """`self.io.irps[3].x` → ["self", "io", "irps", "x"]; None when a call breaks the chain
    (what a method returns is not a component's own attribute)."""
    names: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            names.append(node.id)
            return names[::-1]
        else:
            return None


def _foreign(chain: list[str] | None, in_nt: bool) -> tuple[str, str] | None:
    """(component, attribute) when the chain writes into another component's state."""
    if chain is None:
        return None
    if not in_nt and "system" in chain:  # system.io.x, session.system.io.x
        chain = chain[chain.index("system"):]
    root = "self" if in_nt else "system"
    if len(chain) >= 3 and chain[0] == root and chain[1] in COMPONENTS:
        return chain[1], chain[2]
    return None


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return [t for target in node.targets for t in _flatten(target)]
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    if isinstance(node, ast.Delete):
        return list(node.targets)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr in MUTATORS:
        return [node.func.value]
    return []


def _flatten(target: ast.expr) -> list[ast.expr]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [t for element in target.elts for t in _flatten(element)]
    return [target]


def _is_wiring(path: str, function: str) -> bool:
    """System.__init__ hands the components built later to those that call back into them
    (the back-edges), once, before anything runs."""
    return path == "kmshell/nt/system.py" and function == "__init__"


def writes_into_others(source: str, path: str) -> list[str]:
    """Every write in source (the file at path, relative to the repository) into state that
    another component owns, as 'path:line component.attribute'."""
    in_nt = path.startswith("kmshell/nt/")
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        name = getattr(function, "name", "<lambda>")
        for node in ast.walk(function):
            for target in _targets(node):
                hit = _foreign(_chain(target), in_nt)
                if hit is None or (path, *hit) in ALLOWED or \
                        (_is_wiring(path, name) and len(_chain(target) or []) == 3):
                    continue
                found.append(f"{path}:{node.lineno} {hit[0]}.{hit[1]}")
    return sorted(set(found))


def sources() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_writes_state_another_component_owns(path: Path):
    relative = str(path.relative_to(PACKAGE.parent))
    assert writes_into_others(path.read_text(encoding="utf-8"), relative) == []


def _in_pnp(line: str) -> str:
    """line as a statement in a method of the PnP manager's module."""
    return f"class Pnp:\n    def boot(self):\n        {line}\n"


@pytest.mark.parametrize("line", [
    "self.io.irp_count = 0",
    "self.io.irp_count += 1",
    "self.tm.transaction.operations[0] = op",
    "del self.core.log[3:]",
    "self.io.irps.pop(3)",
    "self.io.finished_irps.clear()",
    "self.po.system_power, x = state, 1",
])
def test_the_ownership_check_finds_a_write_into_another_component(line: str):
    assert writes_into_others(_in_pnp(line), "kmshell/nt/pnp.py") != []


@pytest.mark.parametrize("line", [
    "session.system.io.irp_count = 0",
    "system.ke.variables.clear()",
])
def test_the_ownership_check_finds_a_command_writing_a_components_state(line: str):
    source = f"def handler(session, system):\n    {line}\n"
    assert writes_into_others(source, "kmshell/commands/io.py") != []


@pytest.mark.parametrize("line", [
    "self.irp_count = 0",  # its own state
    "self.io.find_device(name).flags = 1",  # what a method returned: not io's attribute
    "self.io.forget_boot_irps()",  # a method of the owner
    "self.emit('Io', 'x', 'y')",
])
def test_the_ownership_check_allows_own_state_and_method_calls(line: str):
    assert writes_into_others(_in_pnp(line), "kmshell/nt/pnp.py") == []


def test_only_system_init_may_wire_a_back_edge():
    wiring = "class System:\n    def __init__(self):\n        self.ke.ps = self.ps\n"
    assert writes_into_others(wiring, "kmshell/nt/system.py") == []
    elsewhere = "class System:\n    def reboot(self):\n        self.ke.ps = self.ps\n"
    assert writes_into_others(elsewhere, "kmshell/nt/system.py") != []
