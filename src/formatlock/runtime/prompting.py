"""Prompt building: the one place that turns a user's prompt into the model's input tokens.

Instruct models get chat messages rendered with their own chat template (from the GGUF
metadata); base models get plain text. A schema instruction goes first, in the system message, so
prompt-only and constrained runs see the same words, and calls that share a schema share a prompt
prefix that the decoder keeps in the KV cache (only the user's words are evaluated again).
"""

from __future__ import annotations

import weakref
from typing import Any

from ..errors import Issue, UsageError
from .models import Model

Prompt = str | list[dict[str, str]]
_FEEDBACK = {  # constraint kind -> (what the reply had to match, what to send again)
    "schema": ("the required JSON schema", "the corrected JSON value"),
    "regex": ("the required format", "the corrected answer"),
    "choice": ("the allowed answers", "the corrected answer"),
}


def feedback_text(issues: list[Issue], kind: str = "schema") -> str:
    """What a model is shown after a failed reply (``feedback=`` of a wrapped call, a server's
    retry) for a constraint of ``kind``: one ``pointer: message`` line per error."""
    lines = "\n".join(f"- {issue}" for issue in issues)
    what, again = _FEEDBACK[kind]
    return f"Your previous reply did not match {what}:\n{lines}\nReply again with only {again}."


def as_messages(prompt: Prompt, instruction: str | None = None) -> list[dict[str, str]]:
    """Normalise a prompt to chat messages, with ``instruction`` at the end of a leading system
    message (added when there is none), before anything that varies from call to call."""
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and prompt and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in prompt
    ):
        messages = [dict(m) for m in prompt]
    else:
        raise UsageError("a prompt must be a string or a non-empty list of {'role', 'content'} messages")
    if instruction:
        if messages[0]["role"] == "system":
            messages[0]["content"] = f"{messages[0]['content']}\n\n{instruction}"
        else:
            messages.insert(0, {"role": "system", "content": instruction})
    return messages


def render(model: Model, prompt: Prompt, instruction: str | None = None) -> str:
    """The prompt as the model should see it: its chat template, or plain text for base models."""
    messages = as_messages(prompt, instruction)
    if not model.is_chat:
        return "\n\n".join(m["content"] for m in messages) + "\n"
    from jinja2 import TemplateError  # start-up: `import formatlock` loads this module

    formatter = _formatter(model)
    try:
        return formatter(messages=messages).prompt
    except (TemplateError, ValueError) as exc:  # templates raise ValueError via raise_exception()
        if messages[0]["role"] == "system" and len(messages) > 1 and messages[1]["role"] == "user":
            # Templates without a system role: the system words lead the first user turn instead.
            system, first, *rest = messages
            merged = {"role": "user", "content": f"{system['content']}\n\n{first['content']}"}
            try:
                return formatter(messages=[merged, *rest]).prompt
            except (TemplateError, ValueError):
                pass
        raise UsageError(f"the chat template of {model.name} rejects these messages: {exc}") from None


_formatters: weakref.WeakKeyDictionary[Model, Any] = weakref.WeakKeyDictionary()


def _formatter(model: Model) -> Any:
    """The model's chat template, compiled once (llama_cpp's Jinja2ChatFormatter)."""
    if model not in _formatters:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # start-up: `import formatlock` loads this module

        def special_text(token: int) -> str:
            return model.llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

        _formatters[model] = Jinja2ChatFormatter(
            template=model.chat_template or "",
            eos_token=special_text(model.eos_id),
            bos_token=special_text(model.llm.token_bos()),
            add_generation_prompt=True,
        )
    return _formatters[model]


def prompt_tokens(model: Model, prompt: Prompt, instruction: str | None = None) -> list[int]:
    """Token ids of the rendered prompt (special tokens of the template parsed as such)."""
    add_bos = bool(model.llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true")
    return model.tokenize(render(model, prompt, instruction), add_bos=add_bos, special=model.is_chat)
