"""Is prompting alone enough for a schema? Measure prompt-only against constrained valid rates.

Prompt-only samples get the schema described in the prompt (the words constrained decoding gets
too) but no mask; their text is parsed the way wrap-call mode parses remote replies (fences and
surrounding prose tolerated, nothing repaired). The verdict is ``prompting-reliable`` when the
prompt-only valid rate reaches the threshold, else ``fine-tune``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import EnforcementError, Issue
from .inputs import Input, Progress, no_progress
from .schemas import Schema

if TYPE_CHECKING:
    from .calllog import CallLog

RELIABLE, FINE_TUNE = "prompting-reliable", "fine-tune"
ADVICE = {
    RELIABLE: "prompting alone met the threshold; keep checking outputs (formatlock validate, @enforce.output)",
    FINE_TUNE: "prompting alone is not reliable: use constrained decoding wherever it is available "
               "(formatlock generate, @enforce); fine-tune (formatlock export) for hosts without it",
}
_KINDS = (("json", "unparsable"), ("maxTokens", "truncated"), ("required", "missing field"), ("type", "wrong type"),
          ("unsupported", "unsupported schema"))


def failure_kind(issues: list[Issue]) -> str:
    """The headline kind of a failed output: unparsable, truncated, missing field, wrong type, constraint
    (any other keyword), or unsupported schema (constrained decoding refused it)."""
    keywords = {issue.keyword for issue in issues}
    return next((kind for keyword, kind in _KINDS if keyword in keywords), "constraint")


@dataclass
class Tally:
    """Samples of one mode: how many, how many valid, and the kinds of the failures (one example each)."""

    samples: int = 0
    valid: int = 0
    kinds: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, issues: list[Issue]) -> bool:
        """Count one sample, valid when ``issues`` is empty; returns whether it was valid."""
        self.samples += 1
        if not issues:
            self.valid += 1
            return True
        kind = failure_kind(issues)
        self.kinds[kind] += 1
        self.examples.setdefault(kind, str(issues[0]))
        return False

    @property
    def rate(self) -> float | None:
        return self.valid / self.samples if self.samples else None


@dataclass
class ProbeReport:
    """Valid rates, failure kinds and the verdict for one schema."""

    schema: Schema
    threshold: float
    n_inputs: int = 0
    prompt_only: Tally = field(default_factory=Tally)
    constrained: Tally = field(default_factory=Tally)
    per_input: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        rate = self.prompt_only.rate
        return RELIABLE if rate is not None and rate >= self.threshold else FINE_TUNE

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema.name, "schema_id": self.schema.id, "n_inputs": self.n_inputs,
            "prompt_only_samples": self.prompt_only.samples, "prompt_only_valid_rate": self.prompt_only.rate,
            "constrained_samples": self.constrained.samples, "constrained_valid_rate": self.constrained.rate,
            "failure_kinds": dict(self.prompt_only.kinds.most_common()), "failure_examples": self.prompt_only.examples,
            "constrained_failure_kinds": dict(self.constrained.kinds.most_common()),
            "threshold": self.threshold, "verdict": self.verdict, "advice": ADVICE[self.verdict],
            "inputs": self.per_input,
        }


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
    progress: Progress = no_progress,
) -> ProbeReport:
    """Sample ``n`` prompt-only and ``n`` constrained outputs per input (``max_tokens`` bounds the
    prompt-only ones), and judge them; a constrained refusal counts as a constrained failure."""
    from .generation import generate_text
    from .parsing import extract_json, reply_settled
    from .prompting import schema_instruction
    from .validation import Validator

    instruction = schema_instruction(schema.document)
    validator = Validator(schema)
    report = ProbeReport(schema, threshold, n_inputs=len(inputs))
    with progress(len(inputs)) as bar:
        for i, item in enumerate(inputs):
            counts = {"prompt_only_valid": 0, "constrained_valid": 0}
            for k in range(n):
                sample_seed = None if seed is None else seed + i * n + k
                decoded = generate_text(item.text, instruction=instruction, model=model, max_tokens=max_tokens,
                                        temperature=temperature, seed=sample_seed, stop=reply_settled)
                issues = validator.check_text(extract_json(decoded.text))[1]
                if issues and decoded.truncated:  # cut off mid-way: truncated, not unparsable
                    issues = [Issue("", "maxTokens", f"no valid JSON within {max_tokens} tokens")]
                counts["prompt_only_valid"] += report.prompt_only.add(issues)
                issues = _constrained_issues(schema, item.text, model, temperature, sample_seed)
                counts["constrained_valid"] += report.constrained.add(issues)
            report.per_input.append({"input": item.text, **counts, "meta": item.meta})
            bar.update(1)
    return report


def _constrained_issues(schema: Schema, prompt: str, model: str | None, temperature: float,
                        seed: int | None) -> list[Issue]:
    """Why one constrained sample failed (a refusal included), or [] when it produced a valid output."""
    from .constraints import for_schema
    from .errors import UnsupportedSchemaError
    from .generation import run

    try:
        run(for_schema(schema), prompt, model=model, temperature=temperature, seed=seed)
    except UnsupportedSchemaError as exc:
        return [Issue(exc.pointer, "unsupported", str(exc))]
    except EnforcementError as exc:
        return exc.errors or [Issue("", "enforcement", str(exc))]
    return []


def probe_from_log(schema: Schema, threshold: float = 0.95, log: CallLog | None = None) -> ProbeReport:
    """The prompt-only side from first attempts of wrapped calls in the call log (no sampling)."""
    from .calllog import CallLog

    report = ProbeReport(schema, threshold)
    for attempt in (log or CallLog()).iter_attempts(schema_id=schema.id, mode="wrap", first_only=True):
        report.n_inputs += 1
        report.prompt_only.add([] if attempt.valid else attempt.errors or [Issue("", "json", "invalid")])
    return report
