"""The code passes the linter and the type checker configured in pyproject.toml (ruff, mypy), so `noqa`
codes and `type: ignore` comments mean something (both flag the ones that suppress nothing)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is in the test extra: pip install -e '.[test]'"
    return found


def test_ruff_passes() -> None:
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_passes() -> None:
    """The package's types check (files and settings in pyproject.toml; the cache stays out of the tree)."""
    result = subprocess.run([_tool("mypy"), "--cache-dir", "/dev/null"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
