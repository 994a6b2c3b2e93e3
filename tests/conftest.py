"""Test-wide settings and fixtures: property tests are reproducible by default, exploratory on request.

CI and local runs use a fixed Hypothesis seed, so a green commit stays green. The nightly-size run
(``FORMATLOCK_HYPOTHESIS_EXAMPLES=1000``) or ``HYPOTHESIS_PROFILE=explore`` draws new random cases.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("reproducible", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE")
    or ("explore" if os.environ.get("FORMATLOCK_HYPOTHESIS_EXAMPLES") else "reproducible")
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FORMATLOCK_HOME (call log, caches) per test, so no test sees another's calls."""
    monkeypatch.setenv("FORMATLOCK_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
