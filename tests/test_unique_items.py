"""``uniqueItems`` held by the decoder: the tracker on a crafted vocabulary, the paths the compiler
lists, and on the real model, arrays of unique strings, enum values and integers that never need
a resample (the check after decoding stays)."""

from __future__ import annotations

import numpy as np
import pytest

from formatlock.automata.fsm import LazyDFA
from formatlock.compile.compiled import RESAMPLE
from formatlock.compile.json_regex import compile_schema
from formatlock.compile.unique_arrays import ANY_INDEX, ANY_KEY, matches
from formatlock.generation import generate_results
from formatlock.runtime.unique_items import UniqueItems, UniqueTables
from formatlock.schema.validation import Validator

PIECES = [bytes([b]) for b in range(128)] + [b'"a"', b'a"', b'",', b'"b', b"12", b"1,", b"1]"]
TABLES = UniqueTables(PIECES)
EVERY = np.packbits(np.ones(-(-len(PIECES) // 32) * 32, dtype=bool), bitorder="little").view(np.uint32)
FREE = r'\[("[a-z]+"(,"[a-z]+")*)?\]'
ENUM = r'\[("(a|b)"(,"(a|b)")*)?\]'


def allowed_after(regex: str, text: str, paths: tuple = ((),)) -> set[bytes]:
    unique = UniqueItems(TABLES, paths, lambda: LazyDFA(regex))
    for byte in text.encode():
        unique.follow(byte)  # the crafted vocabulary's first 128 tokens are the ASCII bytes
    bits = unique.narrow(EVERY.copy())
    flags = np.unpackbits(bits.view(np.uint8), bitorder="little", count=len(PIECES))
    return {PIECES[i] for i in np.flatnonzero(flags)}


def test_a_string_item_may_not_close_as_one_already_held() -> None:
    assert b'"a"' not in allowed_after(FREE, '["a","b",')  # a whole repeated item in one token
    assert b'"' in allowed_after(FREE, '["a","b",')  # a new string may start
    after = allowed_after(FREE, '["a","b","a')
    assert b'"' not in after and b'",' not in after and b"b" in after  # "a" must go on to another value


def test_an_enum_item_avoids_the_values_used_up_even_where_it_only_leads_to_them() -> None:
    assert allowed_after(ENUM, '["a",') >= {b'"', b'"b'} and b'"a"' not in allowed_after(ENUM, '["a",')
    after = allowed_after(ENUM, '["a","')
    assert b"a" not in after and b'a"' not in after and b"b" in after  # `a` can only end as "a"


def test_integer_items_end_only_where_they_differ() -> None:
    bounded = allowed_after(r"\[([1-3](,[1-3])*)?\]", "[1,")
    assert b"1" not in bounded and b"1," not in bounded and b"2" in bounded
    free = allowed_after(r"\[([0-9]+(,[0-9]+)*)?\]", "[1,")
    assert b"1" in free and b"12" in free and b"1," not in free and b"1]" not in free  # 1 may still become 12


def test_only_the_arrays_the_schema_makes_unique_are_narrowed() -> None:
    regex = r'\{"x":\[("[a-z]+"(,"[a-z]+")*)?\],"y":\[("[a-z]+"(,"[a-z]+")*)?\]\}'
    assert b'"a"' not in allowed_after(regex, '{"x":["a",', paths=((("p", "x"),),))
    assert b'"a"' in allowed_after(regex, '{"x":[],"y":["a",', paths=((("p", "x"),),))
    assert b'"a"' in allowed_after(regex, '{"x":["a",', paths=())


def test_a_mask_it_would_empty_is_left_to_the_check() -> None:
    assert b'a"' in allowed_after(r'\["a"(,"a")*\]', '["a","a')  # only "a" can follow: nothing to choose


def test_the_compiler_lists_the_instance_paths_of_unique_arrays() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "groups": {"type": "array", "items": {"$ref": "#/$defs/group"}},
            "free": {"type": "object", "additionalProperties": {"type": "array", "uniqueItems": True}},
        },
        "$defs": {"group": {"anyOf": [{"type": "array", "uniqueItems": True, "items": {"type": "integer"}}]}},
    }
    paths = compile_schema(schema).unique_arrays
    assert set(paths) == {(("p", "tags"),), (("p", "groups"), ANY_INDEX), (("p", "free"), ANY_KEY)}
    assert matches((("p", "groups"), ANY_INDEX), ("groups", 3)) and not matches((("p", "groups"), ANY_INDEX), ("groups", "x"))
    use = next(u for u in compile_schema(schema).uses if u.keyword == "uniqueItems")
    assert use.enforcement == RESAMPLE and "held by the decoder" in use.note  # and still checked after decoding


UNIQUE = {
    "strings": {"type": "object", "required": ["tags"], "properties": {"tags": {
        "type": "array", "minItems": 5, "maxItems": 5, "uniqueItems": True,
        "items": {"type": "string", "pattern": "^[a-z]{2,12}$"}}}},
    "enum values": {"type": "array", "minItems": 3, "maxItems": 3, "uniqueItems": True,
                    "items": {"enum": ["low", "medium", "high"]}},
    "integers": {"type": "array", "minItems": 4, "maxItems": 4, "uniqueItems": True,
                 "items": {"type": "integer", "minimum": 1, "maximum": 9}},
}
PROMPTS = ["Tag this ticket: the printer is on fire again", "List the same word several times: spam spam spam spam",
           "Give four numbers, all of them 7"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(UNIQUE))
def test_unique_arrays_never_need_a_resample_on_the_real_model(kind: str) -> None:
    schema = UNIQUE[kind]
    for prompt in PROMPTS:
        for temperature, seed in ((0.0, 0), (0.8, 1), (0.8, 2)):
            [result] = generate_results(schema, prompt, temperature=temperature, seed=seed)
            assert len(result.attempts) == 1, (prompt, [a.raw for a in result.attempts])
            assert Validator(schema).check_text(result.text)[1] == []


def test_a_unique_root_and_a_recursive_schema_are_listed_quickly() -> None:
    assert compile_schema({"type": "array", "uniqueItems": True, "items": {"type": "integer"}}).unique_arrays == ((),)
    tree = {"$defs": {"node": {"type": "object", "properties": {
        "tags": {"type": "array", "uniqueItems": True, "items": {"type": "string"}},
        "left": {"$ref": "#/$defs/node"}, "right": {"$ref": "#/$defs/node"}}}}, "$ref": "#/$defs/node"}
    paths = compile_schema(tree).unique_arrays
    assert (("p", "tags"),) in paths and (("p", "left"), ("p", "right"), ("p", "tags")) in paths
    assert len(paths) <= 64
