"""Hypothesis strategies over JSON Schemas built from the keywords formatlock masks."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FORMATLOCK_HYPOTHESIS_EXAMPLES", "0") or 0)


def property_settings(examples: int) -> settings:
    """Hypothesis settings for the schema-drawing tests (``FORMATLOCK_HYPOTHESIS_EXAMPLES`` overrides)."""
    return settings(max_examples=EXAMPLES or examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])


def servable_regex(schema: dict[str, Any]) -> str | None:
    """The compiled regex of ``schema``, or None where the compiler refuses part of it."""
    from formatlock.compile.json_regex import compile_schema

    compiled = compile_schema(schema)
    return None if compiled.regex is None or compiled.unsupported else compiled.regex


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_formats = st.sampled_from(["date", "date-time", "time", "email", "uuid", "ipv4", "hostname", "uri"])
_patterns = st.sampled_from(["^[A-Z]{2}-[0-9]{3}$", "^[a-z]+$", "^(yes|no)$", "[0-9]", "^\\d{4}$", "x+y?"])


def _integer() -> st.SearchStrategy[dict[str, Any]]:
    def build(bounds: tuple[int, int], use: tuple[bool, bool], step: int | None) -> dict[str, Any]:
        lo, hi = sorted(bounds)
        schema: dict[str, Any] = {"type": "integer"}
        if use[0]:
            schema["minimum"] = lo
        if use[1]:
            schema["maximum"] = hi
        if step and use[0] and use[1] and (hi - lo) >= step:
            schema["multipleOf"] = step
        return schema

    return st.builds(build, st.tuples(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6)),
                     st.tuples(st.booleans(), st.booleans()), st.sampled_from([None, None, 2, 5, 7]))


def _number() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda lo, span: {"type": "number", "minimum": lo, "maximum": lo + span},
                     st.integers(-1000, 1000), st.integers(0, 5000))


def _string() -> st.SearchStrategy[dict[str, Any]]:
    def build(lo: int, span: int | None) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "minLength": lo}
        if span is not None:
            schema["maxLength"] = lo + span
        return schema

    return st.one_of(
        st.builds(build, st.integers(0, 5), st.none() | st.integers(0, 20)),
        st.builds(lambda f: {"type": "string", "format": f}, _formats),
        st.builds(lambda p: {"type": "string", "pattern": p}, _patterns),
    )


_leaves = st.one_of(
    _integer(), _number(), _string(),
    st.just({"type": "boolean"}), st.just({"type": "null"}),
    st.lists(st.one_of(st.integers(-5, 5), _names, st.booleans()), min_size=1, max_size=4, unique=True).map(
        lambda values: {"enum": values}),
    st.one_of(st.integers(), _names).map(lambda v: {"const": v}),
)


def _containers(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    def obj(props: dict[str, Any], required: list[bool], extra: Any) -> dict[str, Any]:
        names = list(props)
        schema: dict[str, Any] = {"type": "object", "properties": props,
                                  "required": [n for n, r in zip(names, required, strict=False) if r]}
        if extra is not None:
            schema["additionalProperties"] = extra
        return schema

    def arr(item: dict[str, Any], lo: int, span: int | None, prefix: list[dict[str, Any]]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": item, "minItems": lo}
        if span is not None:
            schema["maxItems"] = lo + span
        if prefix:
            schema["prefixItems"] = prefix
        return schema

    return st.one_of(
        st.builds(obj, st.dictionaries(_names, children, min_size=1, max_size=4),
                  st.lists(st.booleans(), min_size=4, max_size=4), st.sampled_from([None, False])),
        st.builds(arr, children, st.integers(0, 2), st.none() | st.integers(0, 3), st.lists(children, max_size=2)),
        st.lists(children, min_size=2, max_size=3).map(lambda branches: {"anyOf": branches}),
    )


schemas = st.recursive(_leaves, _containers, max_leaves=6)


def recursive_tree() -> dict[str, Any]:
    """A recursive ``$ref`` schema (a tree), the case plain Outlines broke on."""
    return {"$defs": {"node": {"type": "object", "properties": {
        "label": {"type": "string", "maxLength": 10},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
        "required": ["label"], "additionalProperties": False}}, "$ref": "#/$defs/node"}
