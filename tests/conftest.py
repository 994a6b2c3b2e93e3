"""Test-wide settings: property tests are reproducible by default, exploratory on request.

CI and local runs use a fixed Hypothesis seed, so a green commit stays green. The nightly-size run
(``FORMATLOCK_HYPOTHESIS_EXAMPLES=1000``) or ``HYPOTHESIS_PROFILE=explore`` draws new random cases.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("reproducible", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE")
    or ("explore" if os.environ.get("FORMATLOCK_HYPOTHESIS_EXAMPLES") else "reproducible")
)
