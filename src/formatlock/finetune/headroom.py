"""Label inside the bounds: the teacher writes under tightened length limits, with room to spare.

A fine-tuned model does not count characters, items or digits. When its training targets sit at
a schema's ``maxLength`` (the mask cut the teacher's text there), ``maxItems`` or the top of a
pattern's ``{m,n}`` repeat, it learns to run to the limit, and prompt-only replies that run a
little further fail. So the teacher labels with each such limit cut to a fraction of itself
(never below the minimum). Every target still validates against the real schema, which the
export checks again when it writes.
"""

from __future__ import annotations

import copy
import math
import re
import re._constants as C  # noqa: N812 - the stdlib's own names
import re._parser as sre_parse
from typing import Any

from ..schema.loading import Schema, count_keyword, iter_nodes
from .quality import is_free_text

DEFAULT = 0.8


def tightened(schema: Schema, headroom: float) -> Schema:
    """``schema`` with the ``maxLength`` of free-text strings, every ``maxItems`` and the top of
    every ``{m,n}`` repeat in a ``pattern`` cut to ``headroom`` of its value, floored and kept at
    or above the minimum (a repeat keeps room for one more than ``m``)."""
    if headroom >= 1 or not isinstance(schema.document, dict):
        return schema
    document = copy.deepcopy(schema.document)
    for _, node in iter_nodes(document):
        longest = count_keyword(node.get("maxLength"), None)
        if longest is not None and is_free_text(node):
            node["maxLength"] = _cut(longest, count_keyword(node.get("minLength"), 0), headroom)
        most = count_keyword(node.get("maxItems"), None)
        if most is not None:
            least = max(count_keyword(node.get("minItems"), 0),
                        count_keyword(node.get("minContains"), 0) if "contains" in node else 0)
            node["maxItems"] = _cut(most, least, headroom)
        if isinstance(node.get("pattern"), str):
            node["pattern"] = shorter_repeats(node["pattern"], headroom)
    return Schema(document, schema.name, schema.source, schema.pydantic_model)


def _cut(limit: int, minimum: int, headroom: float) -> int:
    """``headroom`` of ``limit``, not below ``minimum``, and never above ``limit``: only ever tighter."""
    return min(limit, max(minimum, math.floor(limit * headroom)))


_RANGE = re.compile(r"\{(\d+),(\d+)\}")


def shorter_repeats(pattern: str, headroom: float) -> str:
    """``pattern`` with each ``{m,n}`` repeat's ``n`` cut to ``headroom`` of itself (at least
    ``m + 1``). The rewrite is kept only where re-parsing proves that the repeat bounds are all it
    changed, so the language only narrows; otherwise the pattern is returned as it was."""
    out: list[str] = []
    i, opened, in_class = 0, 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = not (char == "]" and i > opened)  # a "]" first in a class is a member
        elif char == "[":
            in_class, opened = True, i + 1 + pattern.startswith("^", i + 1)
        elif char == "{" and (found := _RANGE.match(pattern, i)):
            low, high = int(found[1]), int(found[2])
            out.append(f"{{{low},{_repeat_cut(low, high, headroom)}}}")
            i = found.end()
            continue
        out.append(char)
        i += 1
    rewritten = "".join(out)
    try:
        same = _shape(sre_parse.parse(pattern), headroom) == _shape(sre_parse.parse(rewritten), None)
    except (re.error, OverflowError, RecursionError):
        return pattern
    return rewritten if same else pattern


def _repeat_cut(low: int, high: int, headroom: float) -> int:
    return min(high, max(low + (high > low), math.floor(high * headroom)))


def _shape(items: Any, headroom: float | None) -> Any:
    """A parsed pattern as nested tuples (comparable), with finite repeats cut when ``headroom`` is given."""
    if isinstance(items, sre_parse.SubPattern):
        return tuple(_shape(item, headroom) for item in items)
    if isinstance(items, (list, tuple)):
        if len(items) == 2 and items[0] in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, body = items[1]
            if headroom is not None and high is not C.MAXREPEAT:
                high = _repeat_cut(low, high, headroom)
            return (items[0], (low, high, _shape(body, headroom)))
        return tuple(_shape(item, headroom) for item in items)
    return items
