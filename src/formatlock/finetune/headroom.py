"""Label inside the bounds: the teacher writes under tightened length limits, with room to spare.

A fine-tuned model does not count characters or items. When its training targets sit at a
schema's ``maxLength`` (the mask cut the teacher's text there) or ``maxItems``, it learns to run
to the limit, and prompt-only replies that run a little further fail. So the teacher labels with
each such limit cut to a fraction of itself (never below the minimum). Every target still
validates against the real schema, which the export checks again when it writes.
"""

from __future__ import annotations

import copy
import math

from ..schema.loading import Schema, count_keyword, iter_nodes
from .quality import is_free_text

DEFAULT = 0.8


def tightened(schema: Schema, headroom: float) -> Schema:
    """``schema`` with the ``maxLength`` of free-text strings and every ``maxItems`` cut to
    ``headroom`` of its value, floored and kept at or above the node's own minimum."""
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
    return Schema(document, schema.name, schema.source, schema.pydantic_model)


def _cut(limit: int, minimum: int, headroom: float) -> int:
    """``headroom`` of ``limit``, not below ``minimum``, and never above ``limit``: only ever tighter."""
    return min(limit, max(minimum, math.floor(limit * headroom)))
