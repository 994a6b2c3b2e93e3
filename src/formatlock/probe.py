"""Is prompting alone enough for a schema? Measure prompt-only vs constrained valid rates.

Prompt-only samples see the schema described in the prompt (the same words constrained decoding
gets) but no mask; their text is parsed the way wrap-call mode parses remote replies. The verdict
is ``prompting-reliable`` when the prompt-only valid rate reaches the threshold, else ``fine-tune``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import EnforcementError, Issue
from .inputs import Input
from .parsing import extract_json
from .schemas import Schema

RELIABLE, FINE_TUNE = "prompting-reliable", "fine-tune"
ADVICE = {
    RELIABLE: "prompting alone met the threshold; validate outputs (formatlock validate) to keep it honest",
    FINE_TUNE: "prompting alone is not reliable: use constrained decoding wherever it is available "
               "(formatlock generate / @enforce); fine-tune (formatlock export) only for hosts without it",
}


@dataclass
class ProbeReport:
    """Valid rates, failure kinds and the verdict for one schema."""

    schema: str
    schema_id: str
    n_inputs: int
    prompt_only_samples: int
    prompt_only_valid: int
    constrained_samples: int
    constrained_valid: int
    threshold: float
    failure_kinds: Counter = field(default_factory=Counter)

    @property
    def prompt_only_valid_rate(self) -> float | None:
        return self.prompt_only_valid / self.prompt_only_samples if self.prompt_only_samples else None

    @property
    def constrained_valid_rate(self) -> float | None:
        return self.constrained_valid / self.constrained_samples if self.constrained_samples else None

    @property
    def verdict(self) -> str:
        rate = self.prompt_only_valid_rate
        return RELIABLE if rate is not None and rate >= self.threshold else FINE_TUNE

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema, "schema_id": self.schema_id, "n_inputs": self.n_inputs,
            "prompt_only_samples": self.prompt_only_samples, "prompt_only_valid_rate": self.prompt_only_valid_rate,
            "constrained_samples": self.constrained_samples, "constrained_valid_rate": self.constrained_valid_rate,
            "failure_kinds": dict(self.failure_kinds.most_common()), "threshold": self.threshold,
            "verdict": self.verdict, "advice": ADVICE[self.verdict],
        }


def failure_kind(issues: list[Issue]) -> str:
    """The headline kind of a failed output: unparsable, truncated, missing field, wrong type, constraint."""
    keywords = {i.keyword for i in issues}
    for keyword, kind in (("json", "unparsable"), ("maxTokens", "truncated"), ("required", "missing field"),
                          ("type", "wrong type")):
        if keyword in keywords:
            return kind
    return "constraint"


def probe(
    schema: Schema,
    inputs: list[Input],
    *,
    n: int = 1,
    threshold: float = 0.95,
    model: str | None = None,
    temperature: float = 0.7,
    seed: int | None = 0,
    max_tokens: int = 512,
    progress: Callable[[], None] = lambda: None,
) -> ProbeReport:
    """Sample ``n`` prompt-only and ``n`` constrained outputs per input, and judge them."""
    from .constraints import for_schema
    from .generation import generate_text, run
    from .validation import Validator

    constraint = for_schema(schema)
    validator = Validator(schema)
    report = ProbeReport(schema.name, schema.id, len(inputs), 0, 0, 0, 0, threshold)
    for i, item in enumerate(inputs):
        for k in range(n):
            sample_seed = None if seed is None else seed + 1000 * i + k
            decoded = generate_text(item.text, instruction=constraint.instruction, model=model,
                                    max_tokens=max_tokens, temperature=temperature, seed=sample_seed)
            issues = validator.check_text(extract_json(decoded.text))[1]
            if issues and decoded.truncated:  # a reply cut off mid-way counts as truncated, not unparsable
                issues = [Issue("", "maxTokens", f"no valid JSON within {max_tokens} tokens")]
            record_sample(report, issues)
        try:
            results = run(constraint, item.text, model=model, n=n, temperature=temperature, seed=seed)
            report.constrained_valid += len(results)
        except EnforcementError:
            pass
        report.constrained_samples += n
        progress()
    return report


def record_sample(report: ProbeReport, issues: list[Issue]) -> None:
    """Count one prompt-only sample (valid when ``issues`` is empty)."""
    report.prompt_only_samples += 1
    if issues:
        report.failure_kinds[failure_kind(issues)] += 1
    else:
        report.prompt_only_valid += 1


def probe_from_log(schema: Schema, threshold: float = 0.95) -> ProbeReport:
    """The same report from wrap-call first attempts recorded in the call log (no sampling)."""
    from .calllog import CallLog

    report = ProbeReport(schema.name, schema.id, 0, 0, 0, 0, 0, threshold)
    prompts = set()
    for attempt in CallLog().iter_attempts(schema_id=schema.id, mode="wrap", first_only=True):
        prompts.add(str(attempt.prompt))
        record_sample(report, [] if attempt.valid else (attempt.errors or [Issue("", "json", "invalid")]))
    report.n_inputs = len(prompts)
    return report
