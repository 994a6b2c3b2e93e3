"""Where in an output arrays must hold unique items: instance paths the decoder holds ``uniqueItems`` at.

The regex cannot say "no item equal to an earlier one"; the decoder can, with state, for items
that are strings, numbers or literals (:mod:`formatlock.runtime.unique_items`). It needs to know
which arrays of the output the keyword applies to: this walk follows the schema through
properties, items, combinators and references and lists the instance paths of the subschemas
that set ``uniqueItems: true``. A path reached through one branch of ``anyOf`` is listed too:
holding it where the branch taken did not ask for it narrows the output, never widens it, and every
output is still checked against the whole schema.
"""

from __future__ import annotations

from typing import Any

from ..schema.references import Resolver
from .algebra import ref_of

# A path is a tuple of segments: ("p", name) a property; ("k",) any property; ("i",) any index.
Segment = tuple[str, ...]
Path = tuple[Segment, ...]
ANY_KEY: Segment = ("k",)
ANY_INDEX: Segment = ("i",)
_MAX_DEPTH = 12  # instance depth followed (recursive schemas are cut there)
_MAX_PATHS = 64
_MAX_VISITS = 10_000  # (subschema, path) pairs the walk visits: bounds it on recursive schemas
_BRANCHES = ("allOf", "anyOf", "oneOf")
_CONDITIONAL_BRANCHES = ("then", "else")


def unique_arrays(document: Any, refs: Resolver) -> tuple[Path, ...]:
    """The instance paths of arrays ``document`` requires unique items of (at most 64, nearest first)."""
    children = _children_of(document, refs)
    leads = _leading_to_unique(children)
    if isinstance(document, dict) and document.get("uniqueItems") is True:
        leads.add(id(document))
    found: list[Path] = []
    seen: set[tuple[int, Path]] = set()
    stack: list[tuple[Any, Path]] = [(document, ())]
    while stack and len(found) < _MAX_PATHS and len(seen) < _MAX_VISITS:
        schema, path = stack.pop(0)
        if id(schema) not in leads or len(path) > _MAX_DEPTH or (id(schema), path) in seen:
            continue
        seen.add((id(schema), path))
        if schema.get("uniqueItems") is True and path not in found:
            found.append(path)
        stack += [(child, path if segment is None else (*path, segment)) for segment, child in children[id(schema)]]
    return tuple(found)


def _children_of(document: Any, refs: Resolver) -> dict[int, list[tuple[Segment | None, Any]]]:
    """Every subschema reachable from ``document`` (references followed), by id, with the
    subschemas that apply to its instance (segment None) or to a member or item of it."""
    children: dict[int, list[tuple[Segment | None, Any]]] = {}
    stack = [document]
    while stack:
        schema = stack.pop()
        if not isinstance(schema, dict) or id(schema) in children:
            continue
        found: list[tuple[Segment | None, Any]] = []
        ref = ref_of(schema)
        target = refs.lookup(ref, schema) if ref is not None else None
        if target is not None:
            found.append((None, target[0]))
        for key in _BRANCHES:
            branches = schema.get(key)
            found += [(None, branch) for branch in branches] if isinstance(branches, list) else []
        found += [(None, schema.get(key)) for key in _CONDITIONAL_BRANCHES]
        properties = schema.get("properties")
        if isinstance(properties, dict):
            found += [(("p", name), sub) for name, sub in properties.items()]
        found += [(ANY_KEY, schema.get(key)) for key in ("additionalProperties", "unevaluatedProperties")]
        patterns = schema.get("patternProperties")
        found += [(ANY_KEY, sub) for sub in patterns.values()] if isinstance(patterns, dict) else []
        items = schema.get("items")
        found += [(ANY_INDEX, sub) for sub in (items if isinstance(items, list) else [items])]
        prefix = schema.get("prefixItems")
        found += [(ANY_INDEX, sub) for sub in prefix] if isinstance(prefix, list) else []
        found.append((ANY_INDEX, schema.get("additionalItems")))
        children[id(schema)] = [(segment, child) for segment, child in found if isinstance(child, dict)]
        stack += [child for _, child in children[id(schema)]]
    return children


def _leading_to_unique(children: dict[int, list[tuple[Segment | None, Any]]]) -> set[int]:
    """Ids of the subschemas from which some ``uniqueItems: true`` can be reached: the walk goes nowhere else."""
    parents: dict[int, list[int]] = {}
    marked = []
    for parent, found in children.items():
        for _, child in found:
            parents.setdefault(id(child), []).append(parent)
            if child.get("uniqueItems") is True:
                marked.append(id(child))
    leads = set(marked)
    while marked:
        for parent in parents.get(marked.pop(), []):
            if parent not in leads:
                leads.add(parent)
                marked.append(parent)
    return leads


def matches(pattern: Path, path: tuple[str | int, ...]) -> bool:
    """Whether the instance ``path`` (property names and indices) is one ``pattern`` describes."""
    if len(pattern) != len(path):
        return False
    for segment, step in zip(pattern, path, strict=True):
        if segment == ANY_INDEX:
            if not isinstance(step, int):
                return False
        elif segment == ANY_KEY:
            if not isinstance(step, str):
                return False
        elif step != segment[1]:
            return False
    return True
