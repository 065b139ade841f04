"""The built-in driver catalog: TOML driver specs shipped with kmshell.

Reading a spec is data only (tomllib); kmshell/nt/io/spec.py validates it.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from kmshell.nt.io.spec import DriverSpec, SpecError, spec_from_dict

CATALOG = Path(__file__).parent


def catalog() -> list[str]:
    return sorted(path.stem for path in CATALOG.glob("*.toml"))


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
            raise SpecError(f"no driver '{name_or_path}' in the catalog; catalog: "
                            + ", ".join(catalog()) + "; or give a FILE.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{name_or_path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path.name}: not valid TOML: {error}") from None
    except (OSError, ValueError) as error:  # also bad UTF-8 and a NUL in the name
        raise SpecError(f"{name_or_path}: cannot read it: {error}") from None
    return spec_from_dict(data, path.name)
