"""Generation with the guarantee: decode under the constraint, validate, resample, or raise.

Every output is checked after decoding (the mask is never trusted alone). The decoder closes
each document within the token budget (see :mod:`formatlock.runtime.decoding`); an output that still
cannot fit, or that fails the check, is resampled a bounded number of times; then
:class:`~formatlock.errors.EnforcementError` carries every attempt and why it failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import arguments, settings
from .compile import constraints
from .compile.constraints import Constraint
from .errors import Attempt, Enforced, EnforcementError, Issue
from .runtime.backends import Backend, Decoded, masks_locally, open_backend
from .runtime.models import Model
from .runtime.prompting import Prompt
from .schema.validation import typed

DEFAULT_RETRIES = 3
DEFAULT_MAX_TOKENS = 1024  # the default budget's cap (raised to fit the shortest valid document)
DEFAULT_SAMPLE_TEMPERATURE = 0.7
RETRY_TEMPERATURE = 0.8  # greedy decoding would repeat a failed output exactly


@dataclass
class Result:
    """One returned output: the value, its raw text, every attempt that led to it, and cost."""

    value: Any
    text: str
    attempts: list[Attempt]
    model: str
    seconds: float
    tokens: int = 0
    model_steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    enforced: Enforced | None = None  # where the constraint was enforced, and what rested on the check


def generate(
    schema: Any,
    prompt: Prompt,
    *,
    model: str | Model | Backend | Any | None = None,
    n: int = 1,
    max_tokens: int | None = None,
    temperature: float | None = None,
    seed: int | None = None,
) -> list[Any]:
    """``n`` documents that validate against ``schema`` (Pydantic instances for a Pydantic model).

    ``schema`` is anything :func:`~formatlock.compile.constraints.for_output_type` takes (a JSON Schema,
    a Pydantic model, ``Literal[...]``, Outlines' ``JsonSchema``/``Regex``); ``model`` a model
    reference, a server URL ``http://HOST:PORT/v1#NAME``, a Backend or an Outlines model.
    """
    results = generate_results(
        schema, prompt, model=model, n=n, max_tokens=max_tokens, temperature=temperature, seed=seed
    )
    return [r.value for r in results]


def generate_results(
    schema: Any,
    prompt: Prompt,
    *,
    model: str | Model | Backend | Any | None = None,
    n: int = 1,
    max_tokens: int | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    retries: int | None = None,
) -> list[Result]:
    """Like :func:`generate`, with raw text, attempts and timings for each output."""
    constraint = constraints.for_output_type(schema, masked=masks_locally(model))
    return run(constraint, prompt, model=model, n=n, max_tokens=max_tokens, temperature=temperature,
               seed=seed, retries=retries)


def run(
    constraint: Constraint,
    prompt: Prompt,
    *,
    model: str | Model | Backend | Any | None = None,
    n: int = 1,
    max_tokens: int | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    on_result: Callable[[Result], object] | None = None,
) -> list[Result]:
    """Produce ``n`` outputs that pass ``constraint``'s check, or raise EnforcementError.

    ``on_result`` is called with each output as soon as it is done, so a caller can hand it on
    before the rest are made (and keep it if they never are).

    ``timeout`` bounds the seconds spent on each output, attempts included (default 300,
    ``FORMATLOCK_TIMEOUT``); an output still running then is closed as fast as the constraint
    allows, and no further attempt is made.
    """
    arguments.generation(n=n, max_tokens=max_tokens, temperature=temperature, retries=retries, seed=seed)
    backend = open_backend(model)
    tries = 1 + (DEFAULT_RETRIES if retries is None else retries)
    if temperature is None:  # greedy for one output; several outputs should differ
        temperature = 0.0 if n == 1 else DEFAULT_SAMPLE_TEMPERATURE
    base_temperature = temperature
    results: list[Result] = []
    with backend.session(constraint, prompt) as session:
        for k in range(n):
            attempts: list[Attempt] = []
            started = time.perf_counter()
            deadline = time.monotonic() + (timeout or settings.timeout())
            for attempt in range(tries):
                t = base_temperature if attempt == 0 else max(base_temperature, RETRY_TEMPERATURE)
                budget = max_tokens or _default_budget(constraint, session.exact)  # a session may fall back
                decoded = session.draw(max_tokens=budget, temperature=t, seed=None if seed is None else [seed, k, attempt],
                                       deadline=deadline, failed=attempts[-1] if attempts else None)
                value, issues = _judge(constraint, decoded, budget)
                attempts.append(Attempt(raw=decoded.text, errors=issues, truncated=decoded.truncated and bool(issues)))
                if not issues:
                    results.append(Result(value, decoded.text, attempts, backend.name, time.perf_counter() - started,
                                          decoded.tokens, decoded.model_steps, enforced=session.enforced))
                    if on_result is not None:
                        on_result(results[-1])
                    break
                if time.monotonic() > deadline:
                    break
            if len(results) <= k:
                raise EnforcementError(
                    f"no valid output after {len(attempts)} attempt(s); last: {attempts[-1].errors[0]}", attempts,
                    enforced=session.enforced,
                )
    return results


def generate_text(
    prompt: Prompt,
    *,
    instruction: str | None = None,
    model: str | Model | Backend | Any | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float | None = None,
    seed: int | None = None,
    stop: Callable[[str], bool] | None = None,
) -> Decoded:
    """Free (unconstrained) text for ``prompt``: what prompting alone produces; it ends early
    once ``stop`` holds for the text so far."""
    arguments.generation(max_tokens=max_tokens, temperature=temperature, seed=seed)
    return open_backend(model).free(prompt, instruction=instruction, max_tokens=max_tokens,
                                    temperature=temperature or 0.0, seed=seed, stop=stop)


def _default_budget(constraint: Constraint, exact: bool) -> int:
    """The longest possible document (+1 for the end token), at most DEFAULT_MAX_TOKENS, but
    never less than the shortest document needs: every byte can be its own token. Outputs not
    held to the compiled regex (``exact`` False: a server's own JSON, with any spacing) get the cap."""
    if constraint.regex is None or not exact:
        return DEFAULT_MAX_TOKENS
    if constraint.max_bytes is not None and constraint.max_bytes < DEFAULT_MAX_TOKENS:
        return constraint.max_bytes + 1
    return max(DEFAULT_MAX_TOKENS, constraint.bounds()[0] + 1)


def _judge(constraint: Constraint, decoded: Decoded, budget: int) -> tuple[Any, list[Issue]]:
    """The value of one output, or why it fails; a text cut off by the budget that still passes
    the check (a server's reply can end in prose after the document) is kept."""
    if decoded.dead_end:
        return None, [Issue("", "decoding", "the constraint left no token to continue with")]
    value, issues = constraint.check(decoded.text)
    if issues and decoded.truncated:
        return None, [Issue("", "maxTokens", f"no valid document fits in the token budget ({budget} tokens)")]
    if issues or constraint.schema is None:
        return value, issues
    return typed(constraint.schema, value)
