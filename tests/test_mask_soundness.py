"""Soundness of the compiled mask: every text the regex (and our DFA) accepts is schema-valid.

No model here: hypothesis draws schemas from the masked keywords and texts from the compiled
regex itself (``from_regex``), so this runs fast and explores far more outputs than decoding would.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formatlock.automata.fsm import LazyDFA
from formatlock.compile.compiled import MASK, RESAMPLE
from formatlock.compile.json_regex import compile_schema
from formatlock.schema.loading import load_schema
from formatlock.schema.validation import Validator

from schema_strategies import property_settings, recursive_tree, schemas

_settings = property_settings(60)


@pytest.mark.slow
@_settings
@given(schema=schemas, data=st.data())
def test_every_masked_text_validates(schema: dict, data: st.DataObject) -> None:
    compiled = compile_schema(schema)
    if compiled.regex is None or compiled.unsupported:
        return
    validator = Validator(load_schema(schema))
    dfa = LazyDFA(compiled.regex)
    fully_masked = all(u.enforcement == MASK for u in compiled.uses)
    for _ in range(3):
        text = data.draw(st.from_regex(compiled.regex, fullmatch=True), label="output")
        assert dfa.accepts(text), text
        document = json.loads(text)  # always JSON, whatever the keywords
        if fully_masked:
            assert validator.errors(document) == [], (schema, text)


@_settings
@given(text=st.text(max_size=12))
def test_dfa_agrees_with_python_re_on_arbitrary_text(text: str) -> None:
    for pattern in (r"[0-9]{3}-[0-9]{4}", r"(yes|no), [a-z]{3,8}", r"\"(?:[^\"\\\x00-\x1f]|\\[\"\\/bfnrt]){0,5}\"",
                    r"[^a]é+.?", r"(?:ab|a)c*"):
        assert LazyDFA(pattern).accepts(text) == bool(re.fullmatch(pattern, text, re.ASCII)), (pattern, text)


def test_recursive_ref_compiles_to_valid_bounded_json() -> None:
    schema = recursive_tree()
    compiled = compile_schema(schema)
    assert compiled.regex is not None and compiled.max_bytes is not None
    validator = Validator(load_schema(schema))

    @settings(max_examples=30, deadline=None)
    @given(st.from_regex(compiled.regex, fullmatch=True))
    def check(text: str) -> None:
        assert validator.errors(json.loads(text)) == []

    check()


def test_resampled_keywords_are_reported() -> None:
    compiled = compile_schema({"type": "array", "items": {"type": "integer"}, "uniqueItems": True})
    assert [(u.keyword, u.enforcement) for u in compiled.uses if u.enforcement != MASK] == [("uniqueItems", RESAMPLE)]


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)b", r"(?i)abc"])
def test_unsupported_regex_constructs_are_compile_errors(pattern: str) -> None:
    """Inside the compiler they are refusals; only the user-regex entry words them as UsageError."""
    from formatlock.compile.constraints import for_regex
    from formatlock.errors import CompileError, UsageError

    with pytest.raises(CompileError):
        LazyDFA(pattern)
    with pytest.raises(UsageError, match="cannot be masked"):
        for_regex(pattern)
