"""Fine-tuning file formats and the upload checks a dataset must pass before it is written.

One example (system prompt, user prompt, JSON target) becomes one JSONL row: ``openai`` chat
messages, ``messages`` (the same shape, for TRL / Axolotl ``chat_template``), ``alpaca``
(instruction/input/output) or ``sharegpt`` (conversations/from/value). The checks read the row
back in its own format, so what is checked is what gets uploaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UsageError

FORMATS = ("openai", "messages", "alpaca", "sharegpt")
ROLES = ("system", "user", "assistant")
MESSAGE_OVERHEAD_TOKENS = 4  # what a chat template adds around each message (role name, delimiters)
_SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}
_ALPACA_FIELDS = {"system": "instruction", "user": "input", "assistant": "output"}


def render(system: str, prompt: str, target: str, fmt: str) -> dict[str, Any]:
    """One example as a row of ``fmt``."""
    turns = [("system", system), ("user", prompt), ("assistant", target)]
    if fmt in ("openai", "messages"):
        return {"messages": [{"role": role, "content": text} for role, text in turns]}
    if fmt == "alpaca":
        return {_ALPACA_FIELDS[role]: text for role, text in turns}
    if fmt == "sharegpt":
        return {"conversations": [{"from": _SHAREGPT_ROLES[role], "value": text} for role, text in turns]}
    raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


def turns(row: dict[str, Any], fmt: str) -> list[tuple[Any, Any]]:
    """A row read back as (role, content) pairs with OpenAI role names (``None``s for a turn that is not an object)."""
    if fmt in ("openai", "messages"):
        return [(m.get("role"), m.get("content")) if isinstance(m, dict) else (None, None) for m in row.get("messages", [])]
    if fmt == "alpaca":
        return [(role, row.get(key)) for role, key in _ALPACA_FIELDS.items()]
    if fmt == "sharegpt":
        back: dict[Any, str] = {v: k for k, v in _SHAREGPT_ROLES.items()}
        return [(back.get(m.get("from"), m.get("from")), m.get("value")) if isinstance(m, dict) else (None, None)
                for m in row.get("conversations", [])]
    raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


def check(row: dict[str, Any], fmt: str, count_tokens: Callable[[str], int], context: int) -> str | None:
    """The common upload checks on one row; the problem in a few words, or None when it passes.

    Roles are system/user/assistant with a user turn and the assistant last, every content is a
    non-empty string, and the contents plus template overhead fit in ``context`` tokens.
    """
    pairs = turns(row, fmt)
    roles = [role for role, _ in pairs]
    if any(role not in ROLES for role in roles):
        return f"unknown role among {roles}: use {'/'.join(ROLES)}"
    if "user" not in roles or roles[-1] != "assistant":
        return f"roles {roles}: needs a user turn and the assistant last"
    for role, content in pairs:
        if not isinstance(content, str) or not content.strip():
            return f"the {role} content is empty"
    total = sum(count_tokens(content) + MESSAGE_OVERHEAD_TOKENS for _, content in pairs)
    if total > context:
        return f"{total} tokens, more than the model's context of {context}"
    return None
