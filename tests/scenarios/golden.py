"""The bundled scenarios' transcripts, checked in as golden files (tests/scenarios/golden/):
`kmshell run scenarios/NAME.kms` as plain text, and its `--json` report. Any change to what a
student sees is then a reviewed diff. After a deliberate change, regenerate them with

    python tests/scenarios/golden.py

and read the diff before committing it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = sorted((ROOT / "scenarios").glob("*.kms"))


def plain_run(path: Path, hash_seed: str = "1") -> bytes:
    """`kmshell run scenarios/NAME.kms` in a fresh process, its output not a terminal and
    as wide as it is without COLUMNS (which would set its width)."""
    env = {**{k: v for k, v in os.environ.items() if k != "COLUMNS"},
           "PYTHONHASHSEED": hash_seed, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "kmshell", "run",
                           str(path.relative_to(ROOT))], cwd=ROOT, env=env,
                          capture_output=True, check=False, timeout=60).stdout


def json_run(path: Path) -> str:
    """What `kmshell run scenarios/NAME.kms --json` prints, computed in this process."""
    from kmshell.commands import TABLE
    from kmshell.scenario import Replay, parse_scenario
    from kmshell.scenario.runner import write_json_report
    from kmshell.session import Session

    scenario = parse_scenario(path.read_text(encoding="utf-8"), TABLE,
                              str(path.relative_to(ROOT)))
    session = Session()
    with session.opening(path, "replay"):  # as kmshell run: file names from its folder
        result = Replay(scenario, session).run()
    out = io.StringIO()
    write_json_report(scenario, result, session, out)
    return out.getvalue()


def main() -> None:
    for path in FILES:
        (GOLDEN / f"{path.stem}.txt").write_bytes(plain_run(path))
        (GOLDEN / f"{path.stem}.json").write_text(json_run(path), encoding="utf-8")
        print(f"wrote golden/{path.stem}.txt and .json")


if __name__ == "__main__":
    main()
