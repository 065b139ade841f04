"""The built-in driver catalog: TOML driver specs shipped with kmshell.

Reading a spec is data only (tomllib); kmshell/nt/io/spec.py validates it.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from kmshell import files
from kmshell.drivers.locate import locate, syntax_error
from kmshell.nt.io.spec import DriverSpec, SpecError, spec_from_dict
from kmshell.nt.rtl import printable
from kmshell.nt.system import System

CATALOG = Path(__file__).parent


def catalog() -> list[str]:
    return list(_catalog())


@cache
def _catalog() -> tuple[str, ...]:  # read once: the store asks at every spec it loads
    return tuple(sorted(path.stem for path in CATALOG.glob("*.toml")))


@cache
def driver_store() -> tuple[DriverSpec, ...]:
    """Every catalog spec, read once: where Plug and Play looks drivers up by hardware ID."""
    return tuple(load_spec(name) for name in catalog())


def load_spec(name_or_path: str) -> DriverSpec:
    """A catalog name (`nullsink`) or a path to a .toml file; SpecError says what is wrong."""
    path = Path(name_or_path)
    if not name_or_path.lower().endswith(".toml"):
        path = CATALOG / f"{name_or_path.lower()}.toml"
        if name_or_path.lower() not in catalog():
            raise SpecError(f"no driver '{printable(name_or_path)}' in the catalog; catalog: "
                            + ", ".join(catalog()) + "; or give a FILE.toml")
    shown = printable(path.name)
    try:
        text = files.read_text(path, "driver spec")
        data = tomllib.loads(text)
    except files.FileError as error:
        raise SpecError(str(error)) from None
    except tomllib.TOMLDecodeError as error:
        where = syntax_error(error, text)
        if where is None:
            raise SpecError(f"{shown}: not valid TOML: {error}") from None
        reason, line, column = where
        raise SpecError(f"{shown}:{line}:{column}: not valid TOML: {reason}") from None
    except RecursionError:
        raise SpecError(f"{shown}: not valid TOML: its arrays or tables nest too deeply") \
            from None
    try:
        return spec_from_dict(data, shown)
    except SpecError as error:
        # FILE: MESSAGE becomes FILE:LINE:COL: MESSAGE, as scenario errors are reported
        message, place = str(error), locate(text, data, error.at)
        if place is None or not message.startswith(f"{shown}: "):
            raise
        raise SpecError(f"{shown}:{place[0]}:{place[1]}: {message[len(shown) + 2:]}",
                        error.at) from None


def new_system(**options: Any) -> System:
    """A machine whose Plug and Play finds devices' drivers in the built-in catalog (what
    the session boots; tests and benchmarks boot theirs the same way)."""
    return System(driver_store=driver_store(), **options)
