"""The string cap: JSON strings the regex leaves unbounded are closed by the decoder at the cap.

Characters are counted on bytes the way JSON Schema counts them for the strings the regex allows
(never fewer), near the cap only tokens that fit are allowed, and a model that would run on past
a large ``maxLength`` is closed in time, so the output stays valid.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from formatlock import generate
from formatlock.compile import constraints
from formatlock.runtime import masks
from formatlock.runtime.decoding import Decoder
from formatlock.runtime.guide import guide as guide_for
from formatlock.runtime.models import load_model
from formatlock.runtime.prompting import render
from formatlock.runtime.string_cap import ESC, IN, OUT, lead, scan

pytestmark = pytest.mark.slow  # generates on the real model

COUNTING = "List every number from 1 to 1000, separated by commas."  # SmolLM2 keeps counting inside the string


@pytest.mark.parametrize("piece, chars", [
    (b"abc", 3), (b'abc"def', 3), (b'"', 0), ('é"'.encode(), 1), ("é".encode()[:1], 1), ("é".encode()[1:], 0),
    (b'\\"x"', 2), (b"\\\\", 1), (b'\\n"', 1), (b"", 0),
])
def test_lead_counts_the_characters_before_the_string_closes(piece: bytes, chars: int) -> None:
    assert lead(piece) == chars


@pytest.mark.parametrize("piece, start, result", [
    (b'{"ab', OUT, (IN, True, 2)),
    (b'ab", "c', IN, (IN, True, 1)),
    (b'ab"', IN, (OUT, False, 2)),
    (b"x\\", IN, (ESC, False, 2)),
    (b'"more', ESC, (IN, False, 4)),  # the escaped quote does not close the string
    (b": 1, ", OUT, (OUT, False, 0)),
])
def test_scan_follows_strings_across_tokens(piece: bytes, start: int, result: tuple[int, bool, int]) -> None:
    assert scan(piece, start) == result


def _masking_after(text: str) -> tuple[masks.Masking, list[int]]:
    model = load_model()
    constraint = constraints.for_schema({"type": "string"}, cached=False)
    assert constraint.string_cap == 200
    masking = masks.for_model(model).compile(constraint.regex).start(constraint.string_cap)
    tokens = model.tokenize(text, add_bos=False, special=False)
    assert all(masking.consume(t) for t in tokens)
    return masking, tokens


def test_near_the_cap_only_tokens_that_fit_are_allowed() -> None:
    model = load_model()
    pieces = model.vocabulary.pieces
    far, _ = _masking_after('"' + "word " * 20)  # 100 characters
    near, _ = _masking_after('"' + "word " * 39)  # 195 characters
    full, _ = _masking_after('"' + "word " * 40)  # 200 characters
    longest = max((i for i in far.allowed().ids), key=lambda i: lead(pieces[i]))
    assert lead(pieces[longest]) > 5  # far from the cap, long tokens are allowed
    allowed = near.allowed().ids
    assert len(allowed) > 1 and all(lead(pieces[i]) <= 5 for i in allowed)
    assert model.vocabulary.byte_token[ord('"')] in allowed
    assert all(lead(pieces[i]) == 0 for i in full.allowed().ids)


def test_a_regex_constraint_has_no_string_cap() -> None:
    assert constraints.for_regex(r'"[a-z ]*"').string_cap is None
    assert constraints.for_choice(["yes", "no"]).string_cap is None


def test_a_model_that_runs_on_is_closed_at_the_cap_and_the_output_stays_valid() -> None:
    schema = {"type": "string", "maxLength": 300}
    model = load_model()
    constraint = constraints.for_schema(schema, cached=False)
    guide = guide_for(constraint, model)
    guide.string_cap = None  # the regex alone: the model runs past maxLength until the budget closes it
    prompt = model.llm.tokenize(render(model, COUNTING, constraint.instruction).encode(), special=True)
    uncapped = Decoder(model).run(prompt, guide, max_tokens=400, temperature=0, rng=np.random.default_rng(0))
    assert len(json.loads(uncapped.text)) > 300
    [result] = generate(schema, COUNTING, max_tokens=400)
    assert 190 <= len(result) <= 200
