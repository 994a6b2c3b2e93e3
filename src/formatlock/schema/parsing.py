"""Finding the JSON in an LLM reply: the tolerant front end of validation for text from any model.

Remote models wrap JSON in Markdown fences or in a sentence of prose. :func:`extract_json` picks
out the JSON text and leaves judging it to :meth:`~formatlock.schema.validation.Validator.check_text`.
It extracts, it never repairs: a trailing comma or a comment is still an error.
"""

from __future__ import annotations

import json
import re

from .json_text import DECODER as _DECODER
from .json_text import ERRORS, NotJSONError

_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)  # an unclosed fence runs to the end


def extract_json(text: str) -> str:
    """The JSON part of ``text``, tried in order: the whole text, a fenced block, one embedded value.

    1. the whole text (surrounding whitespace ignored) when it parses as JSON;
    2. the first Markdown code fence (```json, ``` or any language tag) whose body parses;
    3. the first ``{...}`` or ``[...]`` in the text that parses, so prose before and after it is
       ignored (scalars are not searched for in prose: a stray number would match);
    4. otherwise the first fence's body, or the whole text, so the parse error names what was meant.
    """
    stripped = text.strip()
    if _parses(stripped):
        return stripped
    fenced = [body.strip() for body in _FENCE.findall(stripped)]
    for body in fenced:
        if _parses(body):
            return body
    embedded = _first_embedded_value(stripped)
    if embedded is not None:
        return embedded
    return fenced[0] if fenced else stripped


def _parses(text: str) -> bool:
    try:
        _DECODER.decode(text)
    except ERRORS:
        return False
    return True


def _first_embedded_value(text: str) -> str | None:
    for match in re.finditer(r"[{\[]", text):
        try:
            _, end = _DECODER.raw_decode(text, match.start())
        except ERRORS:
            continue
        return text[match.start():end]
    return None


_OPEN_END = 8  # a decode error this close to the end may be a token still being written (`tru`, `1e-`, `\u00`)


def reply_settled(text: str) -> bool:
    """Whether more text can no longer change the reply's first ``{...}``/``[...]``: it is complete
    JSON, or broken before its end. Prompt-only sampling stops there instead of at its budget.

    Only what comes after that value would change, and :func:`extract_json` takes the first value
    that parses, so a complete one stays what is judged. A broken one is judged as it stands: a
    later value the model might still write is not waited for. Prose with no value yet is never
    settled.
    """
    match = re.search(r"[{\[]", text)
    if match is None:
        return False
    try:
        _DECODER.raw_decode(text, match.start())
    except json.JSONDecodeError as exc:
        return not exc.msg.startswith("Unterminated string") and exc.pos < len(text) - _OPEN_END
    except (NotJSONError, RecursionError):
        return True
    return True
