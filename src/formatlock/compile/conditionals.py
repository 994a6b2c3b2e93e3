"""``if``/``then``/``else`` on one property's value, rewritten as alternatives the mask can hold.

A conditional whose ``if`` only tests one property ``P`` (``{"properties": {"P": S}}``, perhaps
requiring ``P``) is, on objects, the same constraint as choosing ``P``'s value first: for the
values ``S`` accepts ``then`` applies, for the others ``else``; without ``P``, ``then`` unless the
test requires ``P``. When ``P``'s values are finite (its own ``enum``/``const``, a boolean, or
else the values the tests name plus "any other value"), several such conditionals become one
``anyOf`` with a branch per group of values meeting the same tests; objects without an optional
``P`` join the branch with their outcome, or get one of their own. The rewrite is exact, so the
branches are masked, not checked after decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .algebra import json_key
from .keywords import ANNOTATIONS, CONDITIONAL


@dataclass(frozen=True)
class Conditional:
    """One ``if``/``then``/``else`` whose ``if`` tests the property ``name`` against ``test``."""

    name: str
    test: Any
    then: Any
    otherwise: Any
    requires: bool  # the test also requires the property (so an object without it fails the test)


def as_conditional(schema: Any) -> Conditional | None:
    """``schema`` as a :class:`Conditional` when it is one (annotations aside), else None."""
    if not isinstance(schema, dict) or "if" not in schema or not schema.keys() - ANNOTATIONS <= set(CONDITIONAL):
        return None
    test = schema["if"]
    if not isinstance(test, dict) or not test.keys() - ANNOTATIONS <= {"properties", "required"}:
        return None
    properties, required = test.get("properties"), test.get("required", [])
    if not isinstance(properties, dict) or len(properties) != 1 or not isinstance(required, list):
        return None
    (name, sub), = properties.items()
    if any(r != name for r in required):
        return None
    return Conditional(name, sub, schema.get("then", True), schema.get("else", True), name in required)


def branches(
    name: str,
    values: list[Any],
    open_ended: bool,
    optional: bool,
    conditionals: list[Conditional],
    accepts: Callable[[list[Any], Any], list[Any] | None],
) -> list[Any] | None:
    """The ``anyOf`` branches equal to ``conditionals`` on objects.

    ``values`` are the property's possible values, or (``open_ended``) the ones the tests name,
    with one more branch for every other value; an ``optional`` property may also be absent.
    ``accepts(values, schema)`` returns those of ``values`` valid against ``schema`` (None when it
    cannot tell, and then nothing is rewritten).
    """
    members = []
    for conditional in conditionals:
        accepted = accepts(values, conditional.test)
        if accepted is None:
            return None
        members.append({json_key(v) for v in accepted})
    groups: dict[tuple[bool, ...], list[Any]] = {}
    for value in values:
        groups.setdefault(tuple(json_key(value) in m for m in members), []).append(value)
    alternatives: list[tuple[tuple[bool, ...], dict[str, Any]]] = [(signature, {"enum": group}) for signature, group in groups.items()]
    if open_ended:  # values no test names fail every test, since each test is a list of values
        alternatives.append((tuple(False for _ in conditionals), {"not": {"enum": values}}))
    # Without the property, a test passes unless it requires it. The branch of values with the same
    # outcome also takes that case (it does not require the property); else it gets its own branch.
    absent = tuple(not c.requires for c in conditionals) if optional else None
    out = [_branch({**({"required": [name]} if optional and signature != absent else {}),
                    "properties": {name: value}},
                   [c.then if met else c.otherwise for c, met in zip(conditionals, signature, strict=False)])
           for signature, value in alternatives]
    if absent is not None and all(signature != absent for signature, _ in alternatives):
        out.append(_branch({"properties": {name: False}}, [c.then if met else c.otherwise for c, met in zip(conditionals, absent, strict=False)]))
    return out


def named_values(conditionals: list[Conditional]) -> list[Any] | None:
    """Every value the conditions' tests list in ``enum``/``const`` (None if one test is not a list)."""
    values: dict[Any, Any] = {}
    for conditional in conditionals:
        test = conditional.test
        if not isinstance(test, dict) or not test.keys() - ANNOTATIONS <= {"enum", "const", "type"}:
            return None
        listed = [test["const"]] if "const" in test else test.get("enum")
        if not isinstance(listed, list):
            return None
        for value in listed:
            values.setdefault(json_key(value), value)
    return list(values.values())


def _branch(branch: dict[str, Any], parts: list[Any]) -> dict[str, Any]:
    kept = [p for p in parts if p is not True and p != {}]
    return {"allOf": [branch, *kept]} if kept else branch
