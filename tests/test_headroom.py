"""export --headroom: the teacher's schema has tighter limits, only ever tighter, only where text is free."""

from __future__ import annotations

import pytest

from formatlock.finetune.headroom import tightened
from formatlock.schema.loading import load_schema

SCHEMA = load_schema({
    "type": "object",
    "properties": {
        "summary": {"type": "string", "minLength": 5, "maxLength": 60},
        "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$", "maxLength": 8},
        "email": {"type": ["string", "null"], "format": "email", "maxLength": 40},
        "pick": {"enum": ["alpha", "beta"], "maxLength": 5},
        "tight": {"type": "string", "minLength": 58, "maxLength": 60},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 1, "maxItems": 4},
        "pairs": {"type": "array", "contains": {"const": 1}, "minContains": 3, "maxItems": 4},
    },
    "$defs": {"tag": {"type": "string", "maxLength": 20}},
})


def props(headroom: float) -> dict:
    document = tightened(SCHEMA, headroom).document
    assert isinstance(document, dict)
    return {**document["properties"], "tag": document["$defs"]["tag"]}


def test_free_text_and_item_counts_are_cut_to_the_share() -> None:
    cut = props(0.8)
    assert cut["summary"]["maxLength"] == 48 and cut["tag"]["maxLength"] == 16  # through $defs too
    assert cut["tags"]["maxItems"] == 3


def test_minimums_hold_and_nothing_is_loosened() -> None:
    cut = props(0.5)
    assert cut["tight"]["maxLength"] == 58  # not below minLength
    assert cut["tags"]["maxItems"] == 2 and cut["pairs"]["maxItems"] == 3  # minItems 1, minContains 3
    odd = load_schema({"type": "string", "minLength": 9, "maxLength": 4})  # unsatisfiable stays unsatisfiable
    document = tightened(odd, 0.5).document
    assert isinstance(document, dict) and document["maxLength"] == 4


def test_strings_whose_words_are_fixed_keep_their_limits() -> None:
    cut = props(0.5)  # a pattern, a format or an enum decides the length; cutting could leave no value
    assert (cut["code"]["maxLength"], cut["email"]["maxLength"], cut["pick"]["maxLength"]) == (8, 40, 5)


@pytest.mark.parametrize("headroom", [1.0, 0.8])
def test_the_original_is_untouched(headroom: float) -> None:
    before = repr(SCHEMA.document)
    result = tightened(SCHEMA, headroom)
    assert repr(SCHEMA.document) == before and result.name == SCHEMA.name
    assert (result is SCHEMA) is (headroom == 1.0)


def test_a_count_written_as_a_float_is_cut_like_the_mask_reads_it() -> None:
    document = tightened(load_schema({"type": "string", "maxLength": 60.0}), 0.8).document
    assert isinstance(document, dict) and document["maxLength"] == 48
