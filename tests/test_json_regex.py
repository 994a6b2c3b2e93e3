"""The schema compiler: every text the regex matches is JSON that meets each keyword marked
``mask``; the regex is never empty when returned; and each keyword is reported right.

Hypothesis draws schemas from the keywords the compiler handles, then texts from the compiled
regex (``from_regex``). Errors the validator then finds must all come from ``resample`` keywords.
FORMATLOCK_HYPOTHESIS_EXAMPLES scales the example counts (nightly: 1000 or more).
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formatlock.automata.fsm import LazyDFA
from formatlock.compile.compiled import EAGER_INDEX_LIMITS, MASK, RESAMPLE, UNSUPPORTED, CompiledSchema, Limits
from formatlock.compile.fragments.formats import FORMATS
from formatlock.compile.json_regex import compile_schema
from formatlock.schema.loading import load_schema, validator_class
from formatlock.schema.references import local_registry
from formatlock.schema.validation import Validator

EXAMPLES = int(os.environ.get("FORMATLOCK_HYPOTHESIS_EXAMPLES", "0") or 0)
SMALL = Limits(free_string_chars=12, free_pattern_repeats=6, free_array_items=3, free_any_chars=6)

# -- schema strategies -------------------------------------------------------------------------

_names = st.text(alphabet="abcdefgh_", min_size=1, max_size=5)
_scalars = st.one_of(st.integers(-20, 20), st.sampled_from([0.5, -1.25, 3.0]), st.text("xyz\"é\\", max_size=3),
                     st.booleans(), st.none())
_patterns = st.sampled_from([r"^[A-Z]{2}-\d{3}$", r"^[a-z]+$", r"^(yes|no)$", r"[0-9]", r"x+y?", r"^\S+@\S+$",
                             r"^[^\d\s]{1,3}$", r"^.{2,5}$", r"(?=x)y", r"\.json$"])
_bounds = st.one_of(st.integers(-50, 50), st.sampled_from([-2.5, 0.1, 0.2, 0.3, 7.75, 1e-3]))


def _numeric(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    def build(a: float, b: float, keys: list[str], step: Any) -> dict[str, Any]:
        lo, hi = sorted((a, b))
        schema: dict[str, Any] = {"type": kind}
        for key in keys:
            schema[key] = lo if "inimum" in key else hi
        if step is not None:
            schema["multipleOf"] = step
        return schema

    keys = st.lists(st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]), unique=True, max_size=3)
    return st.builds(build, _bounds, _bounds, keys, st.sampled_from([None, None, 1, 2, 5, 0.5, 0.25]))


def _string() -> st.SearchStrategy[dict[str, Any]]:
    def build(lo: int | None, span: int | None, fmt: str | None, pattern: str | None) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if lo is not None:
            schema["minLength"] = lo
        if span is not None:
            schema["maxLength"] = (lo or 0) + span
        if fmt is not None:
            schema["format"] = fmt
        if pattern is not None:
            schema["pattern"] = pattern
        return schema

    return st.builds(build, st.none() | st.integers(0, 4), st.none() | st.integers(0, 30),
                     st.none() | st.sampled_from([*sorted(FORMATS), "int32", "regex"]), st.none() | _patterns)


_leaves = st.one_of(
    _numeric("integer"), _numeric("number"), _string(),
    st.just({"type": "boolean"}), st.just({"type": "null"}), st.just({}), st.just(True),
    st.lists(_scalars, min_size=1, max_size=4).map(lambda values: {"enum": values}),
    _scalars.map(lambda value: {"const": value}),
    st.tuples(st.lists(_scalars, min_size=1, max_size=4), st.sampled_from(["string", "integer", ["string", "null"]]))
    .map(lambda t: {"type": t[1], "enum": t[0]}),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    def obj(props: dict[str, Any], required: list[bool], extra: Any, patterns: dict[str, Any] | None) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "properties": props,
                                  "required": [n for n, r in zip(props, required, strict=False) if r]}
        if extra is not None:
            schema["additionalProperties"] = extra
        if patterns is not None:
            schema["patternProperties"] = patterns
        return schema

    def arr(item: Any, lo: int | None, span: int | None, prefix: list[Any], unique: bool) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": item}
        if lo is not None:
            schema["minItems"] = lo
        if span is not None:
            schema["maxItems"] = (lo or 0) + span
        if prefix:
            schema["prefixItems"] = prefix
        if unique:
            schema["uniqueItems"] = True
        return schema

    return st.one_of(
        st.builds(obj, st.dictionaries(_names, children, max_size=4), st.lists(st.booleans(), min_size=4, max_size=4),
                  st.sampled_from([None, False, True]) | children, st.none() | st.dictionaries(st.sampled_from(["^a", "b$"]), children, max_size=1)),
        st.builds(lambda extra: {"type": "object", "additionalProperties": extra}, children),
        st.builds(arr, children, st.none() | st.integers(0, 2), st.none() | st.integers(0, 3),
                  st.lists(children, max_size=2), st.booleans()),
        st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches}),
        st.lists(children, min_size=1, max_size=3).map(lambda branches: {"oneOf": branches}),
        st.lists(children, min_size=1, max_size=3).map(lambda parts: {"allOf": parts}),
        st.tuples(st.sampled_from(["kind", "tag"]), st.lists(children, min_size=2, max_size=3)).map(_discriminated),
    )


def _discriminated(t: tuple[str, list[Any]]) -> dict[str, Any]:
    key, branches = t
    return {"oneOf": [{"type": "object", "properties": {key: {"const": f"v{i}"}, "body": b}, "required": [key]}
                      for i, b in enumerate(branches)]}


def _recursive(leaf: Any) -> dict[str, Any]:
    return {"$defs": {"node": {"type": "object", "properties": {
        "value": leaf, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["value"]}},
        "$ref": "#/$defs/node"}


_trees = st.recursive(_leaves, _containers, max_leaves=8)
# `#/$defs/d` resolves against the root, so $defs with a reference into it live at the root only.
_with_defs = st.tuples(_trees, _trees).map(lambda t: {"$defs": {"d": t[0]}, "allOf": [{"$ref": "#/$defs/d"}, t[1]]})
schemas = st.one_of(_trees, _leaves.map(_recursive), _with_defs)


# -- the oracle --------------------------------------------------------------------------------

def _explained(error: Any, resampled: set[str], cap: int | None) -> bool:
    """Whether a validation error comes only from keywords left to the check after decoding, or
    from a string the decoder's string cap would have closed sooner."""
    if error.validator in resampled:
        return True
    if error.validator == "maxLength" and cap is not None and len(error.instance) > cap:
        return True
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[Any]] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0]].append(sub)
        return any(all(_explained(e, resampled, cap) for e in errors) for errors in branches.values())
    return False


def _strings(value: Any) -> list[str]:
    """Every string in ``value``, object keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [key, *_strings(item)]]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _validator(schema: Any) -> Any:
    cls = validator_class(schema)
    return cls(schema, registry=local_registry(schema), format_checker=cls.FORMAT_CHECKER)


def assert_sound(schema: Any, compiled: CompiledSchema, data: st.DataObject, draws: int = 3) -> None:
    assert compiled.regex is not None
    validator = _validator(schema)
    resampled = {u.keyword for u in compiled.uses if u.enforcement == RESAMPLE}
    dfa = LazyDFA(compiled.regex)
    for _ in range(draws):
        text = data.draw(st.from_regex(compiled.regex, fullmatch=True), label="output")
        assert dfa.accepts(text)
        if compiled.max_bytes is not None:
            assert len(text.encode("utf-8")) <= compiled.max_bytes
        document = json.loads(text)
        errors = list(validator.iter_errors(document))
        capped = compiled.string_cap is not None and any(len(s) > compiled.string_cap for s in _strings(document))
        if compiled.fully_masked and not capped:
            assert errors == [], (schema, text, [e.message for e in errors])
        for error in errors:
            assert _explained(error, resampled, compiled.string_cap), (schema, text, error.validator, error.message, compiled.uses)


# -- properties --------------------------------------------------------------------------------

_settings = settings(max_examples=EXAMPLES or 120, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.slow
@_settings
@given(schemas, st.data())
def test_every_matched_text_meets_the_masked_keywords(schema: Any, data: st.DataObject) -> None:
    compiled = compile_schema(schema, SMALL)
    if compiled.regex is None:
        assert compiled.unsupported and compiled.unsupported[0].note
        return
    assert not compiled.unsupported
    assert_sound(schema, compiled, data)


@pytest.mark.slow
@settings(max_examples=EXAMPLES // 4 or 30, deadline=None, suppress_health_check=list(HealthCheck))
@given(schemas, st.data())
def test_default_and_eager_limits_are_sound_too(schema: Any, data: st.DataObject) -> None:
    for limits in (Limits(), EAGER_INDEX_LIMITS):
        compiled = compile_schema(schema, limits)
        if compiled.regex is not None:
            assert compiled.size <= limits.max_size
            assert_sound(schema, compiled, data, draws=1)


# -- keyword by keyword ---------------------------------------------------------------------

def uses(compiled: CompiledSchema) -> dict[tuple[str, str], str]:
    return {(u.pointer, u.keyword): u.enforcement for u in compiled.uses}


def matches(compiled: CompiledSchema, value: Any) -> bool:
    """Whether the decoder may let ``value`` out: the regex matches it and no string passes the cap
    (the decoder counts characters as ``len`` does for the strings the regex allows)."""
    assert compiled.regex is not None
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    cap = compiled.string_cap
    return re.fullmatch(compiled.regex, text) is not None and (cap is None or all(len(s) <= cap for s in _strings(value)))


# if/then/else on one required property: rewritten into masked anyOf branches (formatlock.compile.conditionals)
CONDITIONAL_ON_ENUM: dict[str, Any] = {
    "type": "object", "required": ["s", "t"], "additionalProperties": False,
    "properties": {"s": {"enum": ["a", "b", "c"]}, "t": {"enum": ["x", "y", "z"]}},
    "allOf": [{"if": {"properties": {"s": {"enum": ["a", "b"]}}}, "then": {"properties": {"t": {"enum": ["x", "y"]}}}},
              {"$ref": "#/$defs/c-means-z"}],
    "$defs": {"c-means-z": {"if": {"properties": {"s": {"const": "c"}}, "required": ["s"]},
                            "then": {"properties": {"t": {"const": "z"}}}}},
}
CONDITIONAL_ON_OPTIONAL_FLAG: dict[str, Any] = {  # JsonSchemaStore io-package: compact mode forbids extras
    "type": "object", "additionalProperties": False,
    "properties": {"flag": {"type": "boolean"}, "extra": {"type": "integer", "minimum": 0, "maximum": 9}},
    "allOf": [{"if": {"$ref": "#/$defs/flag-set"}, "then": {"not": {"required": ["extra"]}, "properties": {"extra": False}}}],
    "$defs": {"flag-set": {"properties": {"flag": {"const": True}}, "required": ["flag"]}},
}
CONDITIONAL_ON_STRING: dict[str, Any] = {
    "type": "object", "required": ["kind", "n"], "additionalProperties": False,
    "properties": {"kind": {"type": "string", "maxLength": 8}, "n": {"type": "integer", "minimum": 0, "maximum": 99}},
    "if": {"properties": {"kind": {"const": "small"}}},
    "then": {"properties": {"n": {"maximum": 9}}},
    "else": {"properties": {"n": {"minimum": 10}}},
}


@pytest.mark.parametrize(("schema", "keyword", "enforcement", "inside", "outside"), [
    ({"type": "integer", "minimum": 3, "exclusiveMaximum": 10}, "exclusiveMaximum", MASK, [3, 9], [2, 10, 3.5]),
    ({"type": "number", "minimum": 0.2, "maximum": 0.8}, "minimum", MASK, [0.2, 0.5, 0.8], [0.1, 0.81, 1]),
    ({"type": "number", "exclusiveMinimum": 0}, "exclusiveMinimum", MASK, [0.001, 3], [0, -1]),
    ({"type": "integer", "multipleOf": 5, "minimum": 0, "maximum": 20}, "multipleOf", MASK, [0, 15, 20], [3, 25]),
    ({"type": "integer", "multipleOf": 7}, "multipleOf", RESAMPLE, [7, 8], []),
    ({"type": "number", "multipleOf": 0.01}, "multipleOf", RESAMPLE, [0.5], []),
    ({"type": "string", "minLength": 2, "maxLength": 3}, "maxLength", MASK, ["ab", "a\nb"], ["a", "abcd"]),
    ({"type": "string", "maxLength": 5000}, "maxLength", MASK, ["x" * 100], ["x" * 300]),
    ({"type": "string", "format": "date"}, "format", MASK, ["2024-02-28"], ["2024-13-01", "x"]),
    ({"type": "string", "format": "int32"}, "format", MASK, ["anything"], []),
    ({"type": "string", "format": "regex"}, "format", RESAMPLE, ["a+"], []),
    ({"type": "string", "pattern": "^[a-z]+$", "maxLength": 4}, "maxLength", MASK, ["abcd"], ["abcde", "A"]),
    ({"type": "string", "pattern": "(?=a)a"}, "pattern", RESAMPLE, ["a", "b"], []),
    ({"type": "string", "format": "uri", "pattern": "^https://ex\\.org/[a-z]{2}$"}, "pattern", MASK,
     ["https://ex.org/ab"], ["https://ex.org/abc", "https://other.org/ab"]),  # a whole-string pattern beats the format
    ({"type": "string", "format": "date", "pattern": "-01"}, "format", MASK, ["2024-01-05"], ["x-01"]),
    ({"type": "string", "pattern": "[0-9]{4}", "minLength": 4, "maxLength": 4}, "maxLength", MASK, ["2024"], ["20245"]),
    ({"enum": ["a", 1, None, {"k": [1]}]}, "enum", MASK, ["a", 1, None, {"k": [1]}], ["b", 2]),
    ({"type": "string", "enum": ["a", 1]}, "enum", MASK, ["a"], [1]),
    ({"const": "x", "maxLength": 0}, "const", UNSUPPORTED, [], []),
    ({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2}, "maxItems", MASK, [[1], [1, 2]], [[], [1, 2, 3]]),
    ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False}, "prefixItems", MASK,
     [[], ["a"], ["a", 1]], [[1], ["a", 1, 2]]),
    ({"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, "uniqueItems", RESAMPLE, [[1, 1]], []),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": False},
     "additionalProperties", MASK, [{"a": 1}], [{}, {"a": 1, "b": 2}]),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, "additionalProperties", MASK,
     [{}, {"x": 1, "y": 2}], [{"x": "s"}]),
    ({"type": "object", "patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False},
     "patternProperties", MASK, [{"x-a": 1}], [{"y": 1}, {"x-a": "s"}]),
    ({"type": "object", "properties": {"x-a": {}}, "patternProperties": {"^x-": {"type": "integer"}}},
     "patternProperties", MASK, [{"x-a": 1}], [{"x-a": "s"}]),
    ({"type": "object", "minProperties": 1, "properties": {"a": {}}, "required": ["a"]}, "minProperties", MASK, [{"a": 1}], []),
    ({"type": "object", "maxProperties": 1}, "maxProperties", MASK, [{}, {"a": 1}], [{"a": 1, "b": 2}]),
    ({"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 1, "maxProperties": 2},
     "minProperties", MASK, [{"a": 1}, {"a": 1, "b": 2}], [{}, {"a": 1, "b": 2, "c": 3}]),
    ({"type": "object", "patternProperties": {"^x-[a-z]$": {"type": "integer"}}, "additionalProperties": False,
      "minProperties": 1}, "minProperties", MASK, [{"x-a": 1}], [{}]),  # JsonSchemaStore io-package's news
    ({"type": "object", "properties": {"a": {}}, "minProperties": 1}, "minProperties", RESAMPLE, [{"a": 1}, {}], []),
    ({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}, "anyOf", MASK, ["s", 3], [-1, None]),
    ({"oneOf": [{"type": "string"}, {"type": "null"}]}, "oneOf", MASK, ["s", None], [1]),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, "oneOf", RESAMPLE, [1, 1.5], []),
    ({"oneOf": [{"properties": {"k": {"const": "a"}}, "required": ["k"]},
                {"properties": {"k": {"const": "b"}, "v": {"type": "integer"}}, "required": ["k", "v"]}]},
     "oneOf", MASK, [{"k": "a"}, {"k": "b", "v": 1}], [{"k": "c"}]),
    ({"allOf": [{"type": "integer", "minimum": 0}, {"maximum": 5}]}, "allOf", MASK, [0, 5], [-1, 6]),
    ({"allOf": [{"pattern": "^a"}, {"pattern": "b$"}], "type": "string"}, "allOf", RESAMPLE, ["ab"], []),
    ({"allOf": [{"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]},
                {"anyOf": [{"type": "integer", "maximum": 5}, {"type": "null"}]}]}, "allOf", MASK,
     [0, 5], [-1, 6, "s", None]),  # two alternations used to recurse until "nests too deeply"
    ({"anyOf": [{"type": "string"}, {"type": "integer"}], "allOf": [{"anyOf": [{"type": "string"}, {"type": "null"}]}]},
     "anyOf", MASK, ["s"], [1, None]),
    ({"not": {"type": "string"}}, "not", RESAMPLE, [1], []),
    (CONDITIONAL_ON_ENUM, "if", MASK, [{"s": "a", "t": "x"}, {"s": "b", "t": "y"}, {"s": "c", "t": "z"}],
     [{"s": "a", "t": "z"}, {"s": "c", "t": "x"}]),
    # "any other kind" is a `not` (resampled): {"kind": "small", "n": 10} passes the mask, fails the check
    (CONDITIONAL_ON_STRING, "if", MASK, [{"kind": "small", "n": 3}, {"kind": "big", "n": 10}, {"kind": "", "n": 99}],
     [{"kind": "big", "n": 3}, {"kind": "small", "n": 100}]),
    # an optional property: without it the test passes (then applies) unless the test requires it
    ({**CONDITIONAL_ON_STRING, "required": ["n"]}, "if", MASK, [{"n": 3}, {"kind": "big", "n": 10}], [{"n": 10}]),
    (CONDITIONAL_ON_OPTIONAL_FLAG, "if", MASK, [{}, {"flag": False, "extra": 1}, {"flag": True}],
     [{"flag": True, "extra": 1}]),
    ({**CONDITIONAL_ON_STRING, "if": {"properties": {"kind": {"const": "small"}, "n": {"const": 1}}}}, "if", RESAMPLE,
     [{"kind": "small", "n": 10}], []),  # a test of two properties is not rewritten
])
def test_keyword(schema: dict[str, Any], keyword: str, enforcement: str, inside: list[Any], outside: list[Any]) -> None:
    compiled = compile_schema(schema)
    assert uses(compiled).get(("", keyword)) == enforcement, compiled.uses
    if enforcement == UNSUPPORTED:
        assert compiled.regex is None
        return
    for value in inside:
        assert matches(compiled, value), value
    for value in outside:
        assert not matches(compiled, value), value


@pytest.mark.parametrize("lo, hi", [(0, 10), (0, 64), (0, 65), (0, 80), (0, 100), (0, 200), (50, 200)])
def test_every_max_length_within_the_string_cap_is_masked_exactly(lo: int, hi: int) -> None:
    # 65..200 used to be resampled: a Pydantic max_length=80 ran past 1,000 characters.
    compiled = compile_schema({"type": "string", "minLength": lo, "maxLength": hi})
    assert uses(compiled)[("", "maxLength")] == MASK
    assert re.search(r"\{\d*,?\d+\}", compiled.regex or "")  # counted in the regex itself
    assert matches(compiled, "x" * hi) and matches(compiled, "é" * hi) and matches(compiled, "x" * max(lo, 1))
    assert not matches(compiled, "x" * (hi + 1))


@pytest.mark.parametrize("lo, hi", [(0, 201), (5, 205), (50, 250), (0, 1000), (0, 100_000), (10, None)])
def test_a_longer_or_missing_max_length_is_left_to_the_string_cap(lo: int, hi: int | None) -> None:
    # Unbounded in the regex, so llguidance's lexer state repeats (and its mask is reused) inside it.
    compiled = compile_schema({"type": "string", "minLength": lo, **({} if hi is None else {"maxLength": hi})})
    assert compiled.string_cap == 200 and compiled.max_bytes is None
    assert uses(compiled).get(("", "maxLength"), MASK) == MASK
    assert re.fullmatch(compiled.regex or "", json.dumps("x" * 5000))
    assert matches(compiled, "x" * 200) and not matches(compiled, "x" * 201)
    assert lo == 0 or not matches(compiled, "x" * (lo - 1))


def test_recursive_ref_is_unrolled_and_stays_valid() -> None:
    schema = _recursive({"type": "integer"})
    compiled = compile_schema(schema)
    assert compiled.fully_masked and compiled.max_bytes is not None
    assert any("unrolled 3 deep" in u.note for u in compiled.uses if u.keyword == "$ref")
    tree = {"value": 1, "children": [{"value": 2, "children": [{"value": 3, "children": []}]}]}
    assert matches(compiled, tree)
    assert not matches(compiled, {"value": 1, "children": [{"value": 2, "children": [{"value": 3, "children": [{"value": 4}]}]}]})


def test_recursion_without_a_base_case_is_unsupported() -> None:
    schema = {"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}, "required": ["next"]}},
              "$ref": "#/$defs/n"}
    compiled = compile_schema(schema)
    assert compiled.regex is None
    [refused] = compiled.unsupported
    assert refused.keyword == "$ref" and refused.pointer == "/$defs/n/properties/next"


def test_references_resolve_against_their_own_base_uri() -> None:
    # Inside item.json, `#/$defs/code` is item.json's own $defs (a 3-letter string), not the root's (an integer).
    schema = {
        "$id": "https://example.com/root.json", "type": "object", "required": ["item"],
        "properties": {"item": {"$ref": "item.json"}},
        "$defs": {
            "code": {"type": "integer"},
            "item": {"$id": "item.json", "type": "object", "required": ["code"], "additionalProperties": False,
                     "properties": {"code": {"$ref": "#/$defs/code"}},
                     "$defs": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}},
        },
    }
    load_schema(schema)  # python-jsonschema's reading agrees that it resolves
    compiled = compile_schema(schema)
    assert compiled.fully_masked
    assert matches(compiled, {"item": {"code": "ABC"}}) and not matches(compiled, {"item": {"code": 1}})


@pytest.mark.parametrize(("schema", "inside", "outside"), [
    ({"$defs": {"t": {"type": "string", "$anchor": "text"}}, "$ref": "#text"}, "x", 1),  # an anchor
    ({"$defs": {"no": False}, "type": "array", "items": {"$ref": "#/$defs/no"}}, [], [1]),  # a boolean target
    ({"$schema": "http://json-schema.org/draft-04/schema#", "id": "http://x.test/a",  # draft 4's `id`
      "definitions": {"b": {"id": "b", "type": "boolean"}}, "$ref": "b"}, True, "b"),
    ({"$defs": {"a~b/c": {"type": "integer"}}, "$ref": "#/$defs/a~0b~1c"}, 3, "x"),  # escaped pointer tokens
    ({"$defs": {"enum": {"type": "integer"}}, "$ref": "#/$defs/enum"}, 3, "x"),  # a definition named like a keyword
    ({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "required": ["id"],  # a member named id
      "properties": {"id": {"$ref": "#/definitions/i"}}, "definitions": {"i": {"type": "integer"}}}, {"id": 1}, {"id": "1"}),
])
def test_reference_forms(schema: dict[str, Any], inside: Any, outside: Any) -> None:
    load_schema(schema)
    compiled = compile_schema(schema)
    assert compiled.regex is not None and matches(compiled, inside) and not matches(compiled, outside)


@pytest.mark.parametrize(("schema", "pointer", "keyword"), [
    ({"type": "integer", "minimum": 5, "maximum": 1}, "", "minimum"),
    ({"type": "object", "properties": {"a": False}, "required": ["a"]}, "/properties/a", "false"),
    ({"allOf": [{"type": "string"}, {"type": "integer"}]}, "", "type"),
    ({"type": "string", "minLength": 3, "maxLength": 2}, "", "maxLength"),
    ({"$ref": "#/$defs/missing"}, "", "$ref"),
    ({"anyOf": [False, {"enum": []}]}, "", "anyOf"),
])
def test_unsatisfiable_parts_are_named(schema: dict[str, Any], pointer: str, keyword: str) -> None:
    compiled = compile_schema(schema)
    assert compiled.regex is None
    assert [(u.pointer, u.keyword) for u in compiled.unsupported] == [(pointer, keyword)]


def test_optional_parts_that_cannot_be_produced_are_left_out() -> None:
    compiled = compile_schema({"type": "object", "properties": {"a": False, "b": {"type": "integer"}}})
    assert compiled.regex is not None and not compiled.unsupported
    assert matches(compiled, {"b": 1}) and not matches(compiled, {"a": 1})
    assert any("left out" in u.note and "a" in u.note for u in compiled.uses)


def test_an_optional_prefix_item_that_cannot_be_produced_ends_the_array() -> None:
    # Found by hypothesis: the unproducible prefixItems[0] was skipped and `items` filled its place.
    compiled = compile_schema({"type": "array", "items": {"type": "null"},
                               "prefixItems": [{"allOf": [{"type": "integer"}, {"type": "string"}]}]})
    assert matches(compiled, []) and not matches(compiled, [None])


def test_ref_siblings_are_ignored_before_2019() -> None:
    defs = {"definitions": {"s": {"type": "string"}}}
    old = compile_schema({"$schema": "http://json-schema.org/draft-07/schema#", **defs, "$ref": "#/definitions/s", "maxLength": 1})
    new = compile_schema({**defs, "$ref": "#/definitions/s", "maxLength": 1})
    assert matches(old, "long") and not matches(new, "long")


def test_all_of_merge_respects_additional_properties_of_each_part() -> None:
    schema = {"allOf": [{"properties": {"x": {"type": "integer"}}, "additionalProperties": False},
                        {"properties": {"y": {"type": "integer"}}}]}
    compiled = compile_schema(schema)
    assert matches(compiled, {"x": 1}) and not matches(compiled, {"y": 1})


def test_draft4_boolean_exclusive_bounds() -> None:
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer", "minimum": 0, "exclusiveMinimum": True}
    compiled = compile_schema(schema)
    assert not matches(compiled, 0) and matches(compiled, 1)


def test_size_budget_relaxes_then_refuses() -> None:
    strings = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(40)}}
    assert compile_schema(strings, Limits(max_size=3_000)).size <= 3_000  # free strings cost no size: nothing to relax
    wide = {"type": "object", "properties": {f"p{i}": {"type": "array", "items": {"type": "integer"}} for i in range(20)}}
    assert not matches(compile_schema(wide), {"p0": list(range(50))})
    relaxed = compile_schema(wide, Limits(max_size=3_000))
    assert relaxed.regex is not None and relaxed.size <= 3_000
    assert matches(relaxed, {"p0": list(range(50))})  # free arrays became unbounded to fit
    nested = {"type": "object", "properties": {"a": wide}, "required": ["a"]}
    trimmed = compile_schema(nested, Limits(max_size=3_000))
    assert trimmed.regex is not None and matches(trimmed, {"a": {}})
    refused = compile_schema({"enum": [f"value {i}" for i in range(500)]}, Limits(max_size=1_000))
    assert refused.regex is None and refused.unsupported[0].keyword == "schema"


def test_deep_nesting_is_refused_not_crashing() -> None:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(400):
        schema = {"type": "array", "items": schema, "minItems": 1}
    compiled = compile_schema(schema)
    assert compiled.regex is None and compiled.unsupported


def test_outlines_core_accepts_compiled_regexes() -> None:
    outlines_core = pytest.importorskip("outlines_core")
    tokens = [bytes([b]) for b in range(0x20, 0x7F)] + [b'{"', b'":', b'",', b"true", b"null", "é".encode()]
    vocabulary = outlines_core.Vocabulary(0, {t: [i + 1] for i, t in enumerate(dict.fromkeys(tokens))})
    samples = [_recursive({"type": "string", "format": "date"}),
               {"type": "object", "properties": {"n": {"type": "number", "minimum": -1.5}, "s": {"pattern": "^[a-z]+$"}},
                "additionalProperties": {"enum": [1, "x"]}},
               {"oneOf": [{"type": "array", "prefixItems": [{"type": "boolean"}]}, {"type": "null"}]}]
    for schema in samples:
        compiled = compile_schema(schema, EAGER_INDEX_LIMITS)
        assert compiled.regex is not None
        outlines_core.Index(compiled.regex, vocabulary)


def test_rewritten_conditionals_mask_exactly() -> None:
    compiled = compile_schema(CONDITIONAL_ON_ENUM, SMALL)
    assert compiled.regex is not None and all(u.enforcement == MASK for u in compiled.uses), compiled.uses
    validator = validator_class(CONDITIONAL_ON_ENUM)(CONDITIONAL_ON_ENUM, registry=local_registry(CONDITIONAL_ON_ENUM))

    @settings(max_examples=EXAMPLES or 40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(text=st.from_regex(compiled.regex, fullmatch=True))
    def every_text_validates(text: str) -> None:
        assert validator.is_valid(json.loads(text)), text

    every_text_validates()


def test_conditional_on_free_text_resamples_only_the_other_values_branch() -> None:
    compiled = compile_schema(CONDITIONAL_ON_STRING, SMALL)
    resampled = {(u.pointer, u.keyword) for u in compiled.uses if u.enforcement != MASK}
    assert resampled == {("/anyOf/1/properties/kind", "not")}


def test_an_optional_property_without_its_own_branch_joins_the_values_with_the_same_outcome() -> None:
    compiled = compile_schema(CONDITIONAL_ON_OPTIONAL_FLAG)
    branches = {u.pointer.split("/")[2] for u in compiled.uses if u.pointer.startswith("/anyOf/")}
    assert branches == {"0", "1"}  # flag true; flag false or absent (not three branches)


def test_a_map_trimmed_by_the_size_budget_keeps_its_minimum_members() -> None:
    schema = {"type": "object", "required": ["m"], "properties": {
        "m": {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 2}}}
    compiled = compile_schema(schema, Limits(optional_depth=1))
    assert uses(compiled)[("/properties/m", "minProperties")] == MASK
    assert matches(compiled, {"m": {"a": 1, "b": 2}})
    assert not matches(compiled, {"m": {}}) and not matches(compiled, {"m": {"a": 1}})


def test_one_of_members_named_by_required_alone_is_masked_exactly() -> None:
    """"Give either wkid or wkt": each branch leaves the other members out, so no resampling."""
    schema = {"type": "object", "properties": {"wkid": {"type": "integer"}, "wkt": {"type": "string", "maxLength": 5},
                                               "vcs": {"type": "integer"}},
              "oneOf": [{"required": ["wkid"]}, {"required": ["wkt"]}, {"required": ["vcs"], "description": "x"}]}
    compiled = compile_schema(schema)
    assert [u.enforcement for u in compiled.uses if u.keyword == "oneOf"] == [MASK]
    validator = Validator(load_schema(schema))

    @settings(max_examples=60, deadline=None)
    @given(st.from_regex(compiled.regex, fullmatch=True))
    def check(text: str) -> None:
        assert validator.errors(json.loads(text)) == [], text

    check()
    untyped = {k: v for k, v in schema.items() if k != "type"}  # a string would pass every branch
    assert [u.enforcement for u in compile_schema(untyped).uses if u.keyword == "oneOf"] == [RESAMPLE]
