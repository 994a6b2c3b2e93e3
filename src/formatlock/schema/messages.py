"""Wording a failing document's errors: python-jsonschema's messages, asked only where jsonschema-rs found them.

python-jsonschema words an error by walking the whole document, about 120 µs for an invoice, which
was most of ``validate``'s time on input with failures. jsonschema-rs finds the same errors in a
tenth of that. Where each one is a plain keyword (``type``, ``required``, ``maximum``, ``format``,
...) reached through plain applicators (``properties``, ``items``, ``allOf``, ``$ref``, ...),
python-jsonschema is asked for that keyword alone, at that place, and the issues come out in the
order its own walk gives. Anything else (``anyOf``, ``not``, ``unevaluated*``, a path that cannot be
followed) gives None, and the caller words the whole document the old way. A test checks that both
ways give the same issues on the official test suite and on JSONSchemaBench's instances.
"""

from __future__ import annotations

from typing import Any

from ..errors import Issue
from .loading import SCHEMA_MAPS
from .references import Resolver, pointer_of

# jsonschema-rs error kinds that are one keyword's own verdict, with that keyword.
_PLAIN = {
    "Type": "type", "Enum": "enum", "Constant": "const", "Required": "required", "Format": "format",
    "Maximum": "maximum", "Minimum": "minimum", "ExclusiveMaximum": "exclusiveMaximum",
    "ExclusiveMinimum": "exclusiveMinimum", "MultipleOf": "multipleOf", "MaxLength": "maxLength",
    "MinLength": "minLength", "Pattern": "pattern", "MaxItems": "maxItems", "MinItems": "minItems",
    "UniqueItems": "uniqueItems", "MaxProperties": "maxProperties", "MinProperties": "minProperties",
}
# Applicators python-jsonschema reports differently (one error for the group, another instance).
_COMPOSED = frozenset({"anyOf", "oneOf", "not", "contains", "propertyNames", "unevaluatedProperties",
                       "unevaluatedItems", "dependentSchemas", "dependencies", "dependentRequired",
                       "$dynamicRef", "$recursiveRef", "if"})


class Wording:
    """Words the errors of one schema's failing documents; build once per validator."""

    def __init__(self, document: Any, reference: Any) -> None:
        self._document = document
        self._reference = reference  # the python-jsonschema validator whose keyword functions word the errors
        self._resolver: Resolver | None = None

    def issues(self, document: Any, found: Any) -> list[tuple[tuple[int, ...], Issue]] | None:
        """(visit order, issue) for each error jsonschema-rs found (``found``) in ``document``, in
        python-jsonschema's words; None where one of them is not a plain keyword at a place we can follow."""
        done: set[tuple[Any, ...]] = set()
        worded: list[tuple[tuple[int, ...], Issue]] = []
        for error in found:
            keyword = _PLAIN.get(type(error.kind).__name__)
            route = list(error.evaluation_path)
            if keyword is None or not route or route[-1] != keyword or _COMPOSED.intersection(map(str, route)):
                return None
            key = (tuple(map(str, route)), tuple(error.instance_path))
            if key in done:  # one python-jsonschema call words all of a keyword's errors (every missing property)
                continue
            done.add(key)
            place = self._follow(route)
            instance = _at(document, error.instance_path)
            if place is None or instance is _NOWHERE or _at(self._document, error.schema_path[:-1]) is not place[0]:
                return None
            schema, order = place
            word = self._reference.VALIDATORS.get(keyword)  # the draft's own function for the keyword
            if word is None:
                return None
            messages = [e.message for e in word(self._reference, schema[keyword], instance, schema)]
            if not messages:
                return None
            pointer = pointer_of(error.instance_path)
            worded += [(order, Issue(pointer=pointer, keyword=keyword, message=m)) for m in messages]
        return worded or None

    def _follow(self, route: list[Any]) -> tuple[dict[str, Any], tuple[int, ...]] | None:
        """The subschema that holds the route's last keyword, and the index of every step, which sorts
        errors in the order python-jsonschema's depth-first walk (schema keys in order) yields them."""
        node: Any = self._document
        order: list[int] = []
        steps = iter(route[:-1])
        for step in steps:
            if not isinstance(node, dict) or step not in node:
                return None
            order.append(list(node).index(step))
            if step == "$ref":
                if self._resolver is None:
                    self._resolver = Resolver(self._document)
                target = self._resolver.lookup(node["$ref"], at=node)
                if target is None:
                    return None
                node = target[0]
                continue
            node = node[step]
            if isinstance(node, list) or (step in SCHEMA_MAPS and isinstance(node, dict)):
                member: Any = next(steps, _NOWHERE)
                keys = list(range(len(node))) if isinstance(node, list) else list(node)
                if member not in keys:
                    return None
                order.append(keys.index(member))
                node = node[member]
        if not isinstance(node, dict) or route[-1] not in node:
            return None
        order.append(list(node).index(route[-1]))
        return node, tuple(order)


_NOWHERE = object()


def _at(value: Any, path: Any) -> Any:
    """The part of a JSON value at a path of keys and indexes, or ``_NOWHERE``."""
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return _NOWHERE
    return value
