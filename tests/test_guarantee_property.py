"""The guarantee, property-tested on the real embedded model: whatever the schema and prompt,
what formatlock returns validates, or it raises a typed error. Never invalid output.

CI runs a few cases; set FORMATLOCK_HYPOTHESIS_EXAMPLES=1000 for the nightly-size run.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import formatlock
from formatlock.schema.loading import load_schema
from formatlock.schema.validation import Validator

from schema_strategies import EXAMPLES, schemas

prompts = st.one_of(
    st.sampled_from(["Give an example.", "Describe a cat as data.", "Invoice for ACME, 3 items.", ""]),
    st.text(max_size=40),
)


@pytest.mark.slow
@settings(max_examples=EXAMPLES or 4, deadline=None, suppress_health_check=list(HealthCheck))
@given(schema=schemas, prompt=prompts, seed=st.integers(0, 2**16), temperature=st.sampled_from([0.0, 0.7, 1.5]))
def test_returned_outputs_always_validate(schema: dict, prompt: str, seed: int, temperature: float) -> None:
    try:
        values = formatlock.generate(schema, prompt or "Answer.", seed=seed, temperature=temperature)
    except formatlock.EnforcementError as error:  # typed refusal: allowed, and it says why
        assert error.attempts == [] or all(not a.valid for a in error.attempts)
        return
    validator = Validator(load_schema(schema))
    assert all(validator.errors(v) == [] for v in values)
