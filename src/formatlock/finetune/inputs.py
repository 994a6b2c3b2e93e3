"""Prompt inputs for probe and export: JSONL of ``{"input": ...}`` or plain text lines; and the
progress hook both use while working through them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import InputError, UsageError
from ..schema import json_text
from ..schema.documents import read_limited
from .dataset_formats import turns


@dataclass(frozen=True)
class Input:
    """One prompt input and the extra keys that came with it (kept as metadata)."""

    text: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


class Bar(Protocol):
    """What a progress bar must offer (``click.progressbar`` does)."""

    def update(self, n_steps: int) -> None: ...


Progress = Callable[[int], AbstractContextManager[Bar]]  # length -> a bar, like click.progressbar(length=...)


class _Silent:
    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n_steps: int) -> None:
        return None


def no_progress(length: int) -> AbstractContextManager[Bar]:
    """The default progress hook: shows nothing."""
    return _Silent()


def one_source(inputs_path: str | None, from_log: bool) -> None:
    """Refuse anything but exactly one of an inputs file and the call log."""
    if bool(inputs_path) == from_log:
        raise UsageError("give exactly one of --inputs FILE or --from-log")


def read_inputs(path: str | Path) -> list[Input]:
    """Inputs in file order; a line that starts with ``{`` must be a JSON object with a string ``input``
    (other keys, such as the ``target`` that ``export`` takes as the answer, are kept as metadata),
    or an exported chat example (``{"messages": [...]}``, e.g. an export's ``val.jsonl``), whose last
    user message is the input (its target is not kept)."""
    try:
        lines = read_limited(path).decode("utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"inputs file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read inputs file {path}: {exc}") from None
    inputs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json_text.loads(line)
            except json_text.ERRORS as exc:
                raise InputError(f"{path}:{number}: not valid JSON: {json_text.why_not(exc)}") from None
            if isinstance(row, dict) and "input" not in row and isinstance(row.get("messages"), list):
                users = [content for role, content in turns(row, "openai") if role == "user"]
                row = {"input": users[-1] if users else None}
            if not isinstance(row, dict) or not isinstance(row.get("input"), str) or not row["input"].strip():
                raise InputError(f'{path}:{number}: expected {{"input": "<non-empty text>", ...}} '
                                 'or a chat example {"messages": [..., {"role": "user", "content": "..."}, ...]}')
            inputs.append(Input(row.pop("input"), row))
        else:
            inputs.append(Input(line.strip()))
    if not inputs:
        raise InputError(f"{path} has no inputs")
    return inputs
