"""The suite's own file guard (tests/conftest.py) refuses what it promises to refuse."""

from __future__ import annotations

import os

import pytest
from conftest import OutsideTmpPath, _Guard


@pytest.fixture
def guard(tmp_path):
    watching = _Guard()
    watching.allowed, watching.active = tmp_path, True
    return watching


def test_the_guard_refuses_writing_renaming_or_removing_outside_tmp_path(guard, tmp_path):
    outside = str(tmp_path.parent / "elsewhere.json")
    for event, args in (("open", (outside, "w", 0)),
                        ("open", (outside, None, os.O_WRONLY | os.O_CREAT)),
                        ("os.rename", (str(tmp_path / "a"), os.devnull, -1, -1)),
                        ("os.remove", (outside, -1)), ("os.chmod", (outside, 0o600, -1))):
        with pytest.raises(OutsideTmpPath):
            guard(event, args)
    assert len(guard.violations) == 5


def test_the_guard_allows_reading_anywhere_and_writing_inside_tmp_path(guard, tmp_path):
    guard("open", (str(tmp_path.parent / "x"), "r", 0))
    guard("open", (str(tmp_path / "sub" / "x.json"), "w", 0))
    guard("os.rename", (str(tmp_path / "a"), str(tmp_path / "b"), -1, -1))
    guard("open", (os.devnull, None, os.O_RDWR))  # subprocess.DEVNULL
    assert guard.violations == []
