"""Wrap-call mode of ``@enforce``: plain functions stand in for remote LLM calls (no model needed)."""

from __future__ import annotations

import asyncio
import inspect
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, field_validator

from formatlock import calllog
from formatlock.calllog import CallLog
from formatlock.enforce import enforce, feedback_text, find_prompt
from formatlock.errors import EnforcementError, FormatlockError, Issue, SchemaError, UsageError
from formatlock.schema.parsing import extract_json

from conftest import Ticket

VALID = '{"category": "billing", "urgent": true, "order_id": 991}'


pytestmark = pytest.mark.usefixtures("home")  # a fresh FORMATLOCK_HOME per test (conftest)


def replies(*texts: str) -> Iterator[str]:
    return iter(texts)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('  {"a": 1}\n', '{"a": 1}'),
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ('```\n[1, 2]\n```', "[1, 2]"),
        ('Here you go:\n```JSON  \n{"a": 1}\n```\nAnything else?', '{"a": 1}'),
        ('```json\n{"a": 1}', '{"a": 1}'),  # an unclosed fence (cut-off reply)
        ('```json\n42\n```', "42"),
        ('```python\nprint(1)\n```\n```json\n{"a": 1}\n```', '{"a": 1}'),  # the first fence that parses
        ('Sure! The answer is {"a": {"b": [1, 2]}} as requested.', '{"a": {"b": [1, 2]}}'),
        ('Use {placeholders} like this: [1, 2] ok', "[1, 2]"),
        ('json\n{"a": 1}', '{"a": 1}'),
        ("I counted 3 items", "I counted 3 items"),  # scalars are not picked out of prose
        ('```json\n{"a": 1,}\n```', '{"a": 1,}'),  # no repair: the fenced text is what gets judged
    ],
)
def test_extract_json(text: str, expected: str) -> None:
    assert extract_json(text) == expected


@pytest.mark.parametrize(
    "reply",
    [VALID, f"```json\n{VALID}\n```", f"Sure, here is the ticket:\n{VALID}\nLet me know if you need more."],
)
def test_valid_reply_returns_the_model_instance_and_is_logged(reply: str) -> None:
    @enforce.output(Ticket)
    def ask(prompt: str) -> str:
        return reply

    ticket = ask("I was charged twice for order 991")
    assert ticket == Ticket(category="billing", urgent=True, order_id=991)
    [row] = CallLog().iter_attempts()
    assert (row.mode, row.attempt, row.valid, row.output) == ("wrap", 1, True, reply)
    assert row.prompt == "I was charged twice for order 991"
    assert row.document == {"category": "billing", "urgent": True, "order_id": 991}
    assert row.function.endswith("ask") and row.model is None and row.latency is not None
    assert row.schema_title == "Ticket"


def test_invalid_then_valid_passes_feedback() -> None:
    outputs = replies("Sorry, I cannot help.", '{"category": "billing", "urgent": true, "order_id": 0}', VALID)
    feedbacks: list[str | None] = []

    @enforce.output(Ticket, retries=2)
    def ask(prompt: str, feedback: str | None = None) -> str:
        feedbacks.append(feedback)
        return next(outputs)

    assert ask("charged twice").order_id == 991
    assert feedbacks[0] is None
    assert "/: not valid JSON" in feedbacks[1]
    assert "- /order_id: 0 is less than the minimum of 1" in feedbacks[2]
    rows = list(CallLog().iter_attempts())
    assert [(r.attempt, r.valid) for r in rows] == [(1, False), (2, False), (3, True)]
    assert len({r.call_id for r in rows}) == 1
    assert rows[1].errors == [Issue("/order_id", "minimum", "0 is less than the minimum of 1")]


def test_feedback_reaches_a_positional_parameter() -> None:
    seen: list[str | None] = []
    outputs = replies("{}", VALID)

    @enforce.output(Ticket, retries=1)
    def ask(prompt: str, feedback: str | None, temperature: float = 0.0) -> str:
        seen.append(feedback)
        return next(outputs)

    ask("q", None)
    assert seen[0] is None and "required property" in str(seen[1])


def test_function_without_feedback_parameter_is_simply_called_again() -> None:
    outputs = replies("nope", VALID)

    @enforce.output(Ticket, retries=1)
    def ask(prompt: str) -> str:
        return next(outputs)

    assert ask("q").category == "billing"


def test_retries_exhausted_raises_enforcement_error_with_every_attempt() -> None:
    calls = []

    @enforce.output(Ticket, retries=2)
    def ask(prompt: str, feedback: str | None = None) -> str:
        calls.append(feedback)
        return f'{{"category": "refund", "urgent": true, "order_id": {len(calls)}}}'

    with pytest.raises(EnforcementError) as caught:
        ask("q")
    error = caught.value
    assert isinstance(error, FormatlockError) and error.exit_code == 1
    assert len(calls) == 3 and len(error.attempts) == 3
    assert error.last_output == '{"category": "refund", "urgent": true, "order_id": 3}'
    assert [i.pointer for i in error.errors] == ["/category"]
    assert "no valid output after 3 attempt(s)" in str(error)
    rows = list(CallLog().iter_attempts())
    assert len(rows) == 3 and not any(r.valid for r in rows)


def test_retries_zero_means_one_try() -> None:
    @enforce.output(Ticket, retries=0)
    def ask(prompt: str) -> str:
        return "{}"

    with pytest.raises(EnforcementError) as caught:
        ask("q")
    assert len(caught.value.attempts) == 1


def test_json_schema_dict_returns_parsed_json() -> None:
    schema = {"title": "Colour", "type": "object", "properties": {"name": {"enum": ["red", "blue"]}},
              "required": ["name"]}

    @enforce.output(schema)
    def ask(prompt: str) -> str:
        return '```json\n{"name": "red"}\n```'

    assert ask("a colour") == {"name": "red"}
    [stats] = CallLog().schema_stats()
    assert stats.title == "Colour"


def test_pydantic_validation_stricter_than_the_schema_is_retried() -> None:
    class Word(BaseModel):
        text: str

        @field_validator("text")
        @classmethod
        def no_digits(cls, value: str) -> str:
            if any(c.isdigit() for c in value):
                raise ValueError("no digits allowed")
            return value

    outputs = replies('{"text": "abc1"}', '{"text": "abc"}')
    seen: list[str | None] = []

    @enforce.output(Word, retries=1)
    def ask(prompt: str, feedback: str | None = None) -> str:
        seen.append(feedback)
        return next(outputs)

    assert ask("q") == Word(text="abc")
    assert "/text: Value error, no digits allowed" in str(seen[1])


def test_async_function() -> None:
    outputs = replies("no", VALID)

    @enforce.output(Ticket, retries=1)
    async def ask(prompt: str, feedback: str | None = None) -> str:
        await asyncio.sleep(0)
        return next(outputs)

    assert inspect.iscoroutinefunction(ask)
    assert asyncio.run(ask("q")).order_id == 991
    assert [r.valid for r in CallLog().iter_attempts()] == [False, True]


def test_async_exhausted_raises() -> None:
    @enforce.output(Ticket, retries=1)
    async def ask(prompt: str) -> str:
        return "no"

    with pytest.raises(EnforcementError) as caught:
        asyncio.run(ask("q"))
    assert caught.value.last_output == "no"


def test_methods_can_be_wrapped() -> None:
    class Client:
        @enforce.output(Ticket)
        def ask(self, prompt: str) -> str:
            return VALID

    assert Client().ask("q").urgent is True
    assert next(CallLog().iter_attempts()).prompt == "q"


def test_record_false_writes_nothing(home: Path) -> None:
    @enforce.output(Ticket, record=False)
    def ask(prompt: str) -> str:
        return VALID

    ask("q")
    assert not home.exists()


def test_log_failure_never_breaks_the_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FORMATLOCK_HOME", str(blocker))
    monkeypatch.setattr(calllog, "_warned", False)

    @enforce.output(Ticket)
    def ask(prompt: str) -> str:
        return VALID

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ask("q").order_id == 991
        assert ask("q").order_id == 991
    assert len([w for w in caught if "call log" in str(w.message)]) == 1


def test_non_text_return_is_a_usage_error() -> None:
    @enforce.output(Ticket)
    def ask(prompt: str) -> dict:
        return {"category": "bug"}

    with pytest.raises(UsageError, match="must return the LLM's text"):
        ask("q")


def test_decoration_time_errors() -> None:
    with pytest.raises(UsageError, match="fallback"):
        enforce.output(Ticket, fallback="remote")
    with pytest.raises(UsageError, match="retries"):
        enforce.output(Ticket, retries=-1)
    with pytest.raises(UsageError, match="max_tokens"):
        enforce.output(Ticket, max_tokens=0)
    with pytest.raises(SchemaError):
        enforce.output({"type": "no-such-type"})


def test_fallback_without_a_prompt_is_a_usage_error_before_any_call() -> None:
    calls = []

    @enforce.output(Ticket, fallback="local")
    def ask(order_id: int) -> str:
        calls.append(order_id)
        return VALID

    with pytest.raises(UsageError, match="prompt"):
        ask(991)
    assert calls == []


def test_find_prompt_rules() -> None:
    def f(self: object, n: int, question: str, prompt: object = None, **kwargs: object) -> None: ...

    sig = inspect.signature(f)
    messages = [{"role": "user", "content": "hi"}]
    assert find_prompt(sig.bind(object(), 1, "first str")) == "first str"
    assert find_prompt(sig.bind(object(), 1, "first str", prompt="named")) == "named"
    assert find_prompt(sig.bind(object(), 1, "q", prompt=messages)) == messages
    assert find_prompt(inspect.signature(lambda **kw: None).bind(prompt="via kwargs")) == "via kwargs"
    assert find_prompt(inspect.signature(lambda n: None).bind(3)) is None


def test_feedback_text_lists_pointer_and_message() -> None:
    text = feedback_text([Issue("", "required", "'urgent' is a required property"),
                          Issue("/order_id", "minimum", "0 is less than the minimum of 1")])
    assert "- /: 'urgent' is a required property\n- /order_id: 0 is less than the minimum of 1" in text


def test_a_fallback_refused_before_decoding_is_still_an_enforcement_error() -> None:
    impossible = {"type": "string", "minLength": 5, "maxLength": 2}  # no document can satisfy it

    @enforce.output(impossible, retries=0, fallback="local")
    def ask(prompt: str) -> str:
        return '"no"'

    with pytest.raises(EnforcementError, match="the local fallback refused the schema") as caught:
        ask("anything")
    assert [a.raw for a in caught.value.attempts] == ['"no"']  # the wrapped call's own attempt is kept
