"""Is prompting alone enough for a schema? Measure prompt-only against constrained valid rates.

Prompt-only samples get the schema described in the prompt (the words constrained decoding gets
too) but no mask; their text is parsed the way wrap-call mode parses remote replies (fences and
surrounding prose tolerated, nothing repaired). The verdict is ``prompting-reliable`` when the
prompt-only valid rate reaches the threshold, else ``fine-tune``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..calllog import CallLog
from ..compile.constraints import for_schema, schema_instruction
from ..errors import EnforcementError, Issue, RefusedError, UnsupportedSchemaError
from ..fanout import ordered
from ..generation import generate_text, run
from ..runtime.backends import Backend, open_backend
from ..schema.loading import Schema
from ..schema.parsing import extract_json, reply_settled
from ..schema.validation import Validator
from .inputs import Input, Progress, no_progress

RELIABLE, FINE_TUNE = "prompting-reliable", "fine-tune"
ADVICE = {
    RELIABLE: "prompting alone met the threshold; keep checking outputs (formatlock validate, @enforce.output)",
    FINE_TUNE: "prompting alone is not reliable: use constrained decoding wherever it is available "
               "(formatlock generate, @enforce); fine-tune (formatlock export) for hosts without it",
}
_KINDS = (("json", "unparsable"), ("maxTokens", "truncated"), ("required", "missing field"), ("type", "wrong type"),
          ("unsupported", "unsupported schema"))
_UNLOCATED = {"json", "maxTokens", "unsupported"}  # issues of the whole reply: no keyword to point at


def failure_kind(issues: list[Issue]) -> str:
    """The headline kind of a failed output: unparsable, truncated, missing field, wrong type, constraint
    (any other keyword), or unsupported schema (constrained decoding refused it)."""
    keywords = {issue.keyword for issue in issues}
    return next((kind for keyword, kind in _KINDS if keyword in keywords), "constraint")


@dataclass
class Tally:
    """Samples of one mode: how many, how many valid, the kinds of the failures (one example each), and
    which keyword failed where (``/summary maxLength``), counted once per failed sample."""

    samples: int = 0
    valid: int = 0
    kinds: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    keywords: Counter = field(default_factory=Counter)

    def add(self, issues: list[Issue]) -> bool:
        """Count one sample, valid when ``issues`` is empty; returns whether it was valid."""
        self.samples += 1
        if not issues:
            self.valid += 1
            return True
        kind = failure_kind(issues)
        self.kinds[kind] += 1
        self.examples.setdefault(kind, str(issues[0]))
        self.keywords.update({f"{issue.pointer or '/'} {issue.keyword}" for issue in issues
                              if issue.keyword not in _UNLOCATED})
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
    model: str | None = None  # what was sampled (None: read from the call log)
    server_constraint: bool | None = None  # whether the model's server constrained the "constrained" side

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
            "failure_keywords": dict(self.prompt_only.keywords.most_common()),
            "constrained_failure_kinds": dict(self.constrained.kinds.most_common()),
            "model": self.model, "server_constraint": self.server_constraint,
            "threshold": self.threshold, "verdict": self.verdict, "advice": ADVICE[self.verdict],
            "inputs": self.per_input,
        }


def probe(
    schema: Schema,
    inputs: list[Input],
    *,
    n: int = 1,
    threshold: float = 0.95,
    model: str | Backend | None = None,
    temperature: float = 0.7,
    seed: int | None = 0,
    max_tokens: int = 512,
    concurrency: int = 1,
    progress: Progress = no_progress,
) -> ProbeReport:
    """Sample ``n`` prompt-only and ``n`` constrained outputs per input (``max_tokens`` bounds the
    prompt-only ones), and judge them; a constrained refusal counts as a constrained failure.

    On a server, "constrained" is the server's own constraint (where it has one) plus validation
    and retries, and up to ``concurrency`` inputs are sampled at once.
    """
    backend = open_backend(model)
    report = ProbeReport(schema, threshold, n_inputs=len(inputs))
    report.model, report.server_constraint = backend.name, backend.constrains
    sampler = _Sampler(schema, backend, temperature, seed, max_tokens, n)
    with progress(len(inputs)) as bar:
        for item, samples in ordered(sampler.samples, list(enumerate(inputs)), backend.workers(concurrency)):
            counts = {"prompt_only_valid": 0, "constrained_valid": 0}
            for prompt_issues, constrained_issues in samples:
                counts["prompt_only_valid"] += report.prompt_only.add(prompt_issues)
                counts["constrained_valid"] += report.constrained.add(constrained_issues)
            report.per_input.append({"input": item.text, **counts, "meta": item.meta})
            bar.update(1)
    return report


class _Sampler:
    """The ``n`` (prompt-only, constrained) samples of one input, each as its list of issues."""

    def __init__(self, schema: Schema, backend: Backend, temperature: float, seed: int | None, max_tokens: int,
                 n: int) -> None:
        self.schema, self.backend, self.temperature, self.seed, self.max_tokens, self.n = (
            schema, backend, temperature, seed, max_tokens, n)
        self.instruction = schema_instruction(schema.document)
        self.validator = Validator(schema)
        self.refused: list[Issue] = []
        self.constraint = None
        try:
            self.constraint = for_schema(schema, masked=backend.masks_locally)
        except UnsupportedSchemaError as exc:
            self.refused = [Issue(exc.pointer, "unsupported", str(exc))]
        except RefusedError as exc:  # e.g. CompileError: refused before decoding, like an unsupported schema
            self.refused = [Issue("", "unsupported", str(exc))]

    def samples(self, numbered: tuple[int, Input]) -> tuple[Input, list[tuple[list[Issue], list[Issue]]]]:
        i, item = numbered
        samples = []
        for k in range(self.n):
            seed = None if self.seed is None else self.seed + i * self.n + k
            decoded = generate_text(item.text, instruction=self.instruction, model=self.backend,
                                    max_tokens=self.max_tokens, temperature=self.temperature, seed=seed,
                                    stop=reply_settled)
            issues = self.validator.check_text(extract_json(decoded.text))[1]
            if issues and decoded.truncated:  # cut off mid-way: truncated, not unparsable
                issues = [Issue("", "maxTokens", f"no valid JSON within {self.max_tokens} tokens")]
            samples.append((issues, self._constrained(item.text, seed)))
        return item, samples

    def _constrained(self, prompt: str, seed: int | None) -> list[Issue]:
        """Why one constrained sample failed (a refusal included), or [] when it produced a valid output."""
        if self.constraint is None:
            return self.refused
        try:
            run(self.constraint, prompt, model=self.backend, temperature=self.temperature, seed=seed)
        except RefusedError as exc:  # a compile bound hit while decoding
            return [Issue("", "unsupported", str(exc))]
        except EnforcementError as exc:
            return exc.errors or [Issue("", "enforcement", str(exc))]
        return []


def probe_from_log(schema: Schema, threshold: float = 0.95, log: CallLog | None = None) -> ProbeReport:
    """The prompt-only side from first attempts of wrapped calls in the call log (no sampling)."""
    report = ProbeReport(schema, threshold)
    for attempt in (log or CallLog()).iter_attempts(schema_id=schema.id, mode="wrap", first_only=True):
        report.n_inputs += 1
        report.prompt_only.add([] if attempt.valid else attempt.errors or [Issue("", "json", "invalid")])
    return report
