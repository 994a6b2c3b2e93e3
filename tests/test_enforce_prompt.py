"""Prompt-function mode of ``@enforce``, and the wrap-mode local fallback, on the real embedded model.

Generation on a small CPU is slow, so there are few model calls, on small schemas.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel

from formatlock.calllog import CallLog
from formatlock.enforce import enforce
from formatlock.errors import EnforcementError, UsageError

COLOUR = {"title": "Colour", "type": "object", "properties": {"name": {"enum": ["red", "green", "blue"]}},
          "required": ["name"], "additionalProperties": False}


pytestmark = [pytest.mark.usefixtures("home"), pytest.mark.slow]  # a fresh FORMATLOCK_HOME per test; the real model


@enforce(max_tokens=40)
def triage(email: str) -> Triage:  # a forward reference: Triage is defined below
    return f"Triage this support email:\n{email}"


class Triage(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgent: bool


def test_return_annotation_gives_a_validated_instance_and_a_log_row() -> None:
    ticket = triage("I was charged twice for my order!")
    assert isinstance(ticket, Triage)
    [row] = CallLog().iter_attempts()
    assert (row.mode, row.attempt, row.valid, row.model) == ("prompt", 1, True, "smollm2")
    assert row.prompt == "Triage this support email:\nI was charged twice for my order!"
    assert Triage.model_validate(row.document) == ticket
    assert row.function.endswith("triage") and row.schema_title == "Triage" and row.latency > 0


def test_schema_option_overrides_the_annotation_and_takes_chat_messages() -> None:
    @enforce(schema=COLOUR, max_tokens=20, temperature=0)
    def colour(thing: str) -> Triage:
        return [{"role": "system", "content": "You name colours."}, {"role": "user", "content": f"Colour of {thing}?"}]

    value = colour("grass")
    assert isinstance(value, dict) and value["name"] in {"red", "green", "blue"}
    assert next(CallLog().iter_attempts()).prompt[1]["content"] == "Colour of grass?"


def test_async_calls_run_in_threads_on_the_shared_model() -> None:
    @enforce(schema=COLOUR, max_tokens=20)
    async def colour(thing: str) -> object:
        return f"The colour of {thing}:"

    async def both() -> list[object]:
        return await asyncio.gather(colour("the sky"), colour("blood"))

    values = asyncio.run(both())
    assert all(v["name"] in {"red", "green", "blue"} for v in values)  # type: ignore[index]
    assert len({r.call_id for r in CallLog().iter_attempts()}) == 2


def test_failed_generation_is_logged_and_raised() -> None:
    @enforce(schema=COLOUR, max_tokens=1, retries=0)
    def colour(thing: str) -> object:
        return f"The colour of {thing}:"

    with pytest.raises(EnforcementError) as caught:
        colour("snow")
    assert len(caught.value.attempts) == 1 and caught.value.attempts[0].truncated
    [row] = CallLog().iter_attempts()
    assert (row.mode, row.valid, row.model, row.errors[0].keyword) == ("prompt", False, "smollm2", "maxTokens")


def test_wrap_fallback_answers_with_the_local_model() -> None:
    seen: list[str] = []

    @enforce.output(Triage, retries=1, fallback="local", max_tokens=40)
    def ask_remote(prompt: str) -> str:
        seen.append(prompt)
        return "I'm sorry, I can't produce JSON today."

    ticket = ask_remote(prompt="Triage: the app crashes when I click save.")
    assert isinstance(ticket, Triage) and len(seen) == 2
    rows = list(CallLog().iter_attempts())
    assert [(r.attempt, r.mode, r.valid) for r in rows] == [(1, "wrap", False), (2, "wrap", False),
                                                           (3, "fallback", True)]
    assert len({r.call_id for r in rows}) == 1 and rows[2].model == "smollm2"
    assert rows[2].prompt == "Triage: the app crashes when I click save."
    [stats] = CallLog().schema_stats()
    assert (stats.calls, stats.valid_calls, stats.prompt_only_valid_rate) == (1, 1, 0.0)


def test_no_schema_is_a_usage_error_at_decoration() -> None:
    with pytest.raises(UsageError, match="no schema"):
        @enforce
        def f(x: str):  # noqa: ANN202 - the missing annotation is the point
            return x


def test_a_return_annotation_that_is_not_a_model_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not a Pydantic model"):
        @enforce
        def f(x: str) -> str:
            return x


def test_an_unresolvable_annotation_fails_at_the_first_call() -> None:
    @enforce
    def f(x: str) -> NoSuchModel:  # type: ignore[name-defined]  # noqa: F821
        return x

    with pytest.raises(UsageError, match="cannot resolve the return annotation"):
        f("x")


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="temperature"):
        enforce(schema=COLOUR, temperature=-1)
    with pytest.raises(UsageError, match="retries"):
        enforce(schema=COLOUR, retries=-2)
