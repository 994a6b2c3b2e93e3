"""The budget guard's bounds and the two engines behind constrained decoding.

Masks come from llguidance; distances to acceptance from formatlock's lazy DFA. These tests pin
what the guarantee rests on: the bounds read off a regex are exact (fewest bytes) and safe (no
state of a match is further from acceptance), both engines take the same texts, and an output
still closes in its budget, valid, when llguidance gives up midway.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from formatlock.automata.distance import bounds, completion
from formatlock.automata.fsm import LazyDFA, canonical
from formatlock.compile.constraints import for_regex, for_schema
from formatlock.errors import UsageError
from formatlock.generation import generate_results
from formatlock.runtime import masks
from formatlock.runtime.models import load_model

from schema_strategies import property_settings, schemas, servable_regex

_settings = property_settings(40)


@_settings
@given(schema=schemas, data=st.data())
def test_bounds_are_exact_and_safe_on_compiled_schemas(schema: dict, data: st.DataObject) -> None:
    regex = servable_regex(schema)
    if regex is None:
        return
    least, reach = bounds(regex)
    dfa = LazyDFA(regex)
    assert least == dfa.distance(dfa.initial)
    text = data.draw(st.from_regex(regex, fullmatch=True), label="output").encode("utf-8")
    state = dfa.initial
    for byte in text:  # every prefix of a match is at most `reach` bytes from acceptance
        state = dfa.step(state, byte)
        assert 0 < dfa.distance(state) <= reach or dfa.accepting[state]


@_settings
@given(schema=schemas, data=st.data())
def test_any_prefix_of_a_match_is_closed_into_a_shortest_match(schema: dict, data: st.DataObject) -> None:
    regex = servable_regex(schema)
    if regex is None:
        return
    text = data.draw(st.from_regex(regex, fullmatch=True), label="output")
    prefix = text[: data.draw(st.integers(0, len(text)), label="cut")]
    tail = completion(regex, prefix)
    assert tail is not None and re.fullmatch(regex, prefix + tail)
    dfa = LazyDFA(regex)
    assert len(tail.encode("utf-8")) == dfa.distance(dfa.walk(dfa.initial, prefix.encode("utf-8")))


def test_completion_of_a_cut_off_document_and_of_what_is_no_prefix() -> None:
    regex = for_schema({"type": "object", "properties": {"a": {"type": "string"}, "n": {"type": "integer", "minimum": 5},
                                                         "c": {"enum": ["xy", "z"]}},
                        "required": ["a", "n", "c"], "additionalProperties": False}).masked_regex()
    assert completion(regex, '{"a":"hé') == '","n":5,"c":"z"}'
    assert completion(regex, '{"a":"x","n":1') == '0,"c":"z"}'  # 1 alone is below the minimum
    assert completion(regex, '{"b"') is None
    assert completion(regex, "") == '{"a":"","n":5,"c":"z"}'


@pytest.mark.parametrize("regex", [r"[0-9]{3}-[0-9]{4}", r"(yes|no), [a-z]{3,8}", r"é{2,5}x?", r"(?:ab|a)c*", r"(a{4}b){2,3}"])
def test_bounds_of_hand_written_regexes(regex: str) -> None:
    dfa = LazyDFA(regex)
    least, reach = bounds(regex)
    assert least == dfa.distance(dfa.initial)
    assert reach >= max(dfa.distance(s) for s in range(1, len(dfa.accepting)) if dfa.distance(s) < 2**31 - 1)


def test_a_regex_the_decoder_cannot_mask_is_refused_when_compiled() -> None:
    with pytest.raises(UsageError, match="not supported"):
        for_regex(r"(?=a)a")
    with pytest.raises(UsageError, match="flags are not supported"):  # not masked case-sensitively
        for_regex(r"(?i)abc")


@pytest.mark.slow
@_settings
@given(schema=schemas, data=st.data())
def test_llguidance_and_the_closing_dfa_take_the_same_texts(schema: dict, data: st.DataObject) -> None:
    regex = servable_regex(schema)
    if regex is None:
        return
    model = load_model()
    grammar = masks.for_model(model).compile(regex)
    dfa = LazyDFA(regex)
    text = data.draw(st.from_regex(regex, fullmatch=True), label="output")
    cut = data.draw(st.integers(0, len(text)), label="cut")
    mutated = text[:cut] + data.draw(st.sampled_from(['"', "}", "x", "0", ",", "é"]), label="insert") + text[cut:]
    for candidate in (text, mutated):
        tokens = model.tokenize(candidate, add_bos=False, special=False)
        if model.vocabulary.decode(tokens) != candidate.encode("utf-8"):
            continue  # the tokenizer cannot spell it (SmolLM2 has no token for some bytes)
        masking = grammar.start()
        consumed = all(masking.consume(t) for t in tokens)
        if consumed:  # llguidance keeps the prefix alive; it must end exactly where the DFA accepts
            assert masking.allowed().may_stop == dfa.accepts(candidate), candidate
        else:
            state = dfa.walk(dfa.initial, candidate.encode("utf-8"))
            assert state == 0 or not dfa.accepts(candidate), candidate


@pytest.mark.slow
def test_closing_dfa_is_not_built_when_the_budget_cannot_run_short() -> None:
    """(On a schema without unique arrays: where one holds an item, unique items read the same DFA.)"""
    constraint = for_schema("contact", cached=False)
    assert constraint.unique_arrays == ()
    generate_results(constraint.schema.document, "Dana Smith, dana@example.com, works at Acme.")
    model = load_model()
    from formatlock.runtime import automaton_store

    assert not automaton_store.built(constraint.regex, model)


@pytest.mark.slow
def test_output_stays_valid_and_in_budget_when_llguidance_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DFA masks alone from the step llguidance reports an error; the output is still valid."""
    calls = {"n": 0}

    def failed(self: masks.Masking) -> str | None:
        calls["n"] += 1
        return "simulated engine error" if calls["n"] > 6 else None

    monkeypatch.setattr(masks.Masking, "failed", property(failed))
    [result] = generate_results("invoice", "Bill ACME for two days of consulting.", max_tokens=120, retries=0)
    assert calls["n"] > 6
    assert result.tokens <= 120
    assert for_schema("invoice").check(result.text)[1] == []
    assert json.loads(result.text)["invoice_number"].startswith("INV-")


@pytest.mark.slow
def test_mask_excludes_end_tokens_and_allows_exactly_the_live_tokens() -> None:
    model = load_model()
    masking = masks.for_model(model).compile(r'\{"a":[0-9]{1,3}\}').start()
    assert masking.forced() != []  # '{"a":' has one way on
    for token in masking.forced():
        assert masking.consume(token)
    mask = masking.allowed()
    assert not mask.may_stop and not np.isin(model.stop_ids, mask.ids).any()
    assert all(mask.allows(int(t)) for t in mask.ids) and not mask.allows(int(model.stop_ids[0]))
    texts = {model.vocabulary.pieces[t] for t in mask.ids}
    assert b"7" in texts and b"x" not in texts and b"}" not in texts
    for token in model.tokenize("42}", add_bos=False, special=False):
        assert masking.consume(token)
    assert masking.allowed().may_stop and masking.allowed().empty  # '}' closed it: only ending is left


_DIALECT_PATTERNS = [r"[[:alpha:]]+", r"\d{2}\w?\s*", r"[^a-c]é.?", r"(?:ab|a)c*$", r"^x{2,}[\]\-]"]


@property_settings(60)
@given(text=st.text(alphabet="abcxé:[]-_ 0123٣\n", max_size=8))
def test_canonical_regex_means_what_python_re_means(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for pattern in _DIALECT_PATTERNS:
            assert bool(re.fullmatch(canonical(pattern), text)) == bool(re.fullmatch(pattern, text)), (pattern, text)


@pytest.mark.slow
def test_user_regex_is_masked_with_python_semantics_not_rust_ones() -> None:
    """`[[:alpha:]]` is a POSIX class to llguidance and a plain set to `re`: `re` decides."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # re: "possible nested set", which is the point
        [result] = generate_results(for_regex(r"[[:alpha:]]+"), "Say something.", retries=0)
        assert re.fullmatch(r"[[:alpha:]]+", result.text)
