"""Prompt layout on the real models: the schema instruction leads, so calls on one schema share
a cached prompt prefix, and reusing it changes nothing in what is generated."""

from __future__ import annotations

import pytest
from llama_cpp.llama_chat_format import MISTRAL_INSTRUCT_CHAT_TEMPLATE

from formatlock.compile import constraints
from formatlock.errors import UsageError
from formatlock.generation import run
from formatlock.runtime.models import Model, load_model
from formatlock.runtime.prompting import as_messages, prompt_tokens, render

INSTRUCTION = "Reply with only a JSON value that matches this JSON Schema:\n{}"
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer", "minimum": 0, "maximum": 120}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_instruction_leads_in_a_system_message() -> None:
    assert as_messages("Hi", "Be JSON.") == [{"role": "system", "content": "Be JSON."}, {"role": "user", "content": "Hi"}]
    given = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]
    assert as_messages(given, "Be JSON.")[0] == {"role": "system", "content": "Be terse.\n\nBe JSON."}
    assert given[0]["content"] == "Be terse."  # the caller's messages are not changed
    assert as_messages("Hi") == [{"role": "user", "content": "Hi"}]


@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["smollm2", "gemma3-270m"])
def test_prompts_on_one_schema_share_the_prefix_up_to_the_users_words(model_name: str) -> None:
    model = load_model(model_name)
    first = prompt_tokens(model, "Write one example.", INSTRUCTION)
    second = prompt_tokens(model, "Describe a customer called Dana.", INSTRUCTION)
    shared = next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
    instruction = model.tokenize(INSTRUCTION, add_bos=False, special=False)
    assert shared >= len(instruction)
    assert render(model, "Write one example.", INSTRUCTION).index(INSTRUCTION) < render(
        model, "Write one example.", INSTRUCTION
    ).index("Write one example.")


@pytest.mark.slow
def test_a_template_without_a_system_role_gets_the_instruction_in_the_first_user_turn() -> None:
    default = load_model("smollm2")
    model = Model("mistral-template", default.path, n_ctx=512)
    model.chat_template = MISTRAL_INSTRUCT_CHAT_TEMPLATE
    try:
        text = render(model, "Write one example.", "Be JSON.")
        assert "[INST] Be JSON.\n\nWrite one example. [/INST]" in text
        with pytest.raises(UsageError, match="chat template of mistral-template rejects these messages"):
            render(model, [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    finally:
        model.llm.close()


@pytest.mark.slow
def test_a_cached_prefix_is_reused_and_changes_nothing() -> None:
    model = load_model("smollm2")
    constraint = constraints.for_schema(SCHEMA)
    prompt, other = "Describe a pilot.", "Describe a customer called Dana Smith who lives in Oslo."
    model.llm.reset()
    cold = run(constraint, prompt, model=model)[0].text
    run(constraint, other, model=model)
    tokens = prompt_tokens(model, prompt, constraint.instruction)
    assert model.cached_prefix(tokens) >= len(model.tokenize(constraint.instruction, add_bos=False, special=False))
    assert run(constraint, prompt, model=model)[0].text == cold
    assert len(model.keep_prefix(tokens)) < len(tokens) // 4
