"""Operations on JSON Schemas that the regex compiler needs: conjunction and equality.

(References resolve through the one registry, :class:`formatlock.schema.references.Resolver`.)

- :func:`merge_schemas` writes the conjunction of two schemas (``allOf``) as one schema, and says
  whether that is exact; where it is not, the caller validates after decoding.
- :func:`json_key` gives JSON values a hashable form with JSON Schema's equality (``1 == 1.0``,
  ``true != 1``), for ``enum``/``const`` intersections and disjointness checks.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .fragments.numbers import number_bounds
from .keywords import ANNOTATIONS, ITEM_SCHEMAS, LOWER_COUNTS, MEMBER_SCHEMAS, NUMBER_BOUNDS, REF_KEYWORDS, UPPER_COUNTS


def json_key(value: Any) -> Any:
    """A hashable key for a JSON value; equal keys exactly when JSON Schema calls the values equal."""
    if isinstance(value, bool) or value is None:
        return ("v", value)
    if isinstance(value, (int, float)):
        return ("n", Fraction(value)) if value == value and abs(value) != float("inf") else ("f", repr(value))
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("l", tuple(json_key(v) for v in value))
    if isinstance(value, dict):
        return ("d", frozenset((k, json_key(v)) for k, v in value.items()))
    return ("?", repr(value))


def ref_of(schema: dict[str, Any]) -> str | None:
    """The reference a schema object makes, if any (dynamic references resolve statically here)."""
    for key in REF_KEYWORDS:
        if isinstance(schema.get(key), str):
            return schema[key]
    return None


# -- conjunction -----------------------------------------------------------------------------


def conjoin(a: Any, b: Any) -> Any:
    """``a`` and ``b`` as one schema without merging them (``allOf`` unless one is trivial)."""
    if a is True or a == {}:
        return b
    if b is True or b == {}:
        return a
    return {"allOf": [a, b]}


def merge_schemas(a: Any, b: Any) -> tuple[Any, bool]:
    """The conjunction of two (reference-free at the top) schemas as one, and whether it is exact.

    Where two values cannot be combined the first is kept and ``exact`` is False: the merged
    schema is then wider than the conjunction and outputs must be validated after decoding.
    """
    if a is True or a == {}:
        return b, True
    if b is True or b == {}:
        return a, True
    if a is False or b is False:
        return False, True
    if not isinstance(a, dict) or not isinstance(b, dict):
        return a, False
    out = {k: v for k, v in a.items() if k not in NUMBER_BOUNDS}
    exact = True
    for key, value in b.items():
        if key in NUMBER_BOUNDS or key in ITEM_SCHEMAS or key in MEMBER_SCHEMAS:
            continue
        if key not in out:
            out[key] = value
        elif key in ANNOTATIONS or json_key(out[key]) == json_key(value):
            continue
        elif key in ("anyOf", "oneOf"):  # both sides have one: keep ours, the other joins allOf
            out["allOf"] = [*out.get("allOf", []), {key: value}]
        else:
            merged = _merge_keyword(key, out[key], value)
            if merged is None:
                exact = False
            else:
                out.update(merged)
    _merge_bounds(out, a, b)
    exact = _merge_arrays(out, a, b) and exact
    exact = _merge_objects(out, a, b) and exact
    return out, exact


def _merge_keyword(key: str, current: Any, value: Any) -> dict[str, Any] | None:
    """The merged value(s) for one keyword present on both sides; None when not expressible."""
    if key in LOWER_COUNTS and _is_number(current) and _is_number(value):
        return {key: max(current, value)}
    if key in UPPER_COUNTS and _is_number(current) and _is_number(value):
        return {key: min(current, value)}
    if key == "required":
        return {key: list(dict.fromkeys([*current, *value]))}
    if key == "type":
        return {key: _type_intersection(current, value)}
    if key == "enum":
        allowed = {json_key(v) for v in value}
        return {key: [v for v in current if json_key(v) in allowed]}
    if key == "const":
        return {"enum": []}  # two different constants: nothing satisfies both
    if key == "uniqueItems":
        return {key: bool(current or value)}
    if key == "not":
        return {key: {"anyOf": [current, value]}}
    if key == "allOf":
        return {key: [*current, *value]}
    if key == "multipleOf" and _is_number(current) and _is_number(value):
        big, small = max(current, value), min(current, value)
        if isinstance(big, int) and isinstance(small, int) and big % small == 0:
            return {key: big}
    return None


def _type_intersection(current: Any, value: Any) -> list[str]:
    left = current if isinstance(current, list) else [current]
    right = value if isinstance(value, list) else [value]
    both = [t for t in left if t in right]
    for one, other in ((left, right), (right, left)):
        if "integer" in one and "number" in other and "integer" not in both:
            both.append("integer")
    return both


def _merge_bounds(out: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> None:
    """The tighter numeric bounds of both sides, written draft-6 style (numeric exclusives)."""
    bounds_a, bounds_b = number_bounds(a), number_bounds(b)
    for side, (x, y) in (("Minimum", (bounds_a[0], bounds_b[0])), ("Maximum", (bounds_a[1], bounds_b[1]))):
        candidates = [c for c in (x, y) if c is not None]
        if not candidates:
            continue
        sign = 1 if side == "Minimum" else -1
        tight = max(candidates, key=lambda c: (sign * c.value, c.strict))
        value = int(tight.value) if tight.value.denominator == 1 else float(tight.value)
        out["exclusive" + side if tight.strict else side.lower()] = value


def _array_parts(schema: dict[str, Any]) -> tuple[list[Any], Any]:
    """(prefix item schemas, schema of the items after them), in either draft's spelling."""
    if isinstance(schema.get("items"), list):
        return list(schema["items"]), schema.get("additionalItems", True)
    return list(schema.get("prefixItems", [])), schema.get("items", True)


def _merge_arrays(out: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Item schemas position by position (written as prefixItems/items); always exact."""
    if not any(k in s for s in (a, b) for k in ITEM_SCHEMAS):
        return True
    for key in ITEM_SCHEMAS:
        out.pop(key, None)
    (prefix_a, rest_a), (prefix_b, rest_b) = _array_parts(a), _array_parts(b)
    length = max(len(prefix_a), len(prefix_b))
    at_a = prefix_a + [rest_a] * (length - len(prefix_a))
    at_b = prefix_b + [rest_b] * (length - len(prefix_b))
    if length:
        out["prefixItems"] = [conjoin(x, y) for x, y in zip(at_a, at_b, strict=False)]
    rest = conjoin(rest_a, rest_b)
    if rest is not True:
        out["items"] = rest
    return True


def _merge_objects(out: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Properties of both sides; a property only one side names must also meet the other side's
    additionalProperties. Exact unless patternProperties meet properties of the other side."""
    if not any(k in s for s in (a, b) for k in MEMBER_SCHEMAS):
        return True
    for key in MEMBER_SCHEMAS:
        out.pop(key, None)
    props_a, props_b = a.get("properties", {}), b.get("properties", {})
    extra_a, extra_b = a.get("additionalProperties", True), b.get("additionalProperties", True)
    props = {}
    for name in dict.fromkeys([*props_a, *props_b]):
        here_a = props_a[name] if name in props_a else extra_a
        here_b = props_b[name] if name in props_b else extra_b
        props[name] = conjoin(here_a, here_b)
    if props:
        out["properties"] = props
    extra = conjoin(extra_a, extra_b)
    if extra is not True:
        out["additionalProperties"] = extra
    patterns_a, patterns_b = a.get("patternProperties", {}), b.get("patternProperties", {})
    if patterns_a or patterns_b:
        out["patternProperties"] = {p: conjoin(patterns_a.get(p, True), patterns_b.get(p, True))
                                    for p in dict.fromkeys([*patterns_a, *patterns_b])}
    crossed = (patterns_a and (props_b or "additionalProperties" in b)) or (
        patterns_b and (props_a or "additionalProperties" in a))
    return not crossed


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
