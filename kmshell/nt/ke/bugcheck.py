"""KeBugCheckEx: the stop code, its four parameters, and what the model knows about the cause."""

from __future__ import annotations

from dataclasses import dataclass

from kmshell.nt.constants import BugCheck


@dataclass(frozen=True)
class BugcheckInfo:
    code: int
    parameters: tuple[int, ...]
    cpu: int
    tick: int
    driver: str = ""  # the module blamed, as !analyze's MODULE_NAME / IMAGE_NAME
    routine: str = ""
    rule: str = ""  # the rule that was broken, in plain words
    fix: str = ""  # what the code should have done instead

    @property
    def name(self) -> str:
        try:
            return BugCheck(self.code).name
        except ValueError:
            return f"BUGCHECK_0x{self.code:X}"

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "parameters": list(self.parameters),
            "cpu": self.cpu,
            "tick": self.tick,
            "driver": self.driver,
            "routine": self.routine,
            "rule": self.rule,
            "fix": self.fix,
        }
