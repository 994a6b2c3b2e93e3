"""The compiled regex as GBNF: llama.cpp's own grammar engine accepts exactly what the regex matches.

The oracle is llama.cpp's grammar sampler (the code a llama.cpp server runs on the grammar),
driven token by token on the embedded model's vocabulary: a text is accepted when no token of it
is masked and the end-of-sequence token is allowed after it.
"""

from __future__ import annotations

import ctypes
import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formatlock.automata.fsm import canonical
from formatlock.compile.constraints import for_choice, for_regex
from formatlock.compile.gbnf import to_gbnf
from formatlock.compile.json_regex import compile_schema
from formatlock.errors import CompileError
from formatlock.runtime.backends import dialects
from formatlock.runtime.backends.dialects import llama_cpp_reads
from formatlock.runtime.models import load_model
from formatlock.schema.loading import bundled_names, load_schema

from schema_strategies import property_settings, schemas, servable_regex


class UnreadableGrammarError(Exception):
    """llama.cpp could not parse the grammar (its sampler init returned NULL)."""


def accepts(grammar: str, text: str) -> bool | None:
    """Whether llama.cpp's grammar engine takes ``text`` whole; None where the tokenizer cannot spell it."""
    import llama_cpp

    model = load_model()
    tokens = model.tokenize(text, add_bos=False, special=False)
    if model.vocabulary.decode(tokens) != text.encode("utf-8"):
        return None
    sampler = llama_cpp.llama_sampler_init_grammar(llama_cpp.llama_model_get_vocab(model.llm.model),
                                                   grammar.encode(), b"root")
    if not sampler:
        raise UnreadableGrammarError(grammar[:500])
    try:
        for token in [*tokens, model.eos_id]:
            data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 0.0, 0.0))
            candidates = llama_cpp.llama_token_data_array(data, 1, -1, False)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))
            if math.isinf(data[0].logit):
                return False
            if token != model.eos_id:
                llama_cpp.llama_sampler_accept(sampler, token)
        return True
    finally:
        llama_cpp.llama_sampler_free(sampler)


@pytest.mark.slow
@property_settings(40)
@given(schema=schemas, data=st.data())
def test_llama_cpp_takes_exactly_the_regexs_texts(schema: dict, data: st.DataObject) -> None:
    regex = servable_regex(schema)
    if regex is None:
        return
    grammar = to_gbnf(regex)  # uncapped: the regex's own language
    text = data.draw(st.from_regex(regex, fullmatch=True), label="output")
    cut = data.draw(st.integers(0, len(text)), label="cut")
    mutated = text[:cut] + data.draw(st.sampled_from(['"', "}", "x", "0", ",", "é", "\n", "\\"]), label="insert") + text[cut:]
    dropped = text[:cut] + text[cut + 1:]
    for candidate in (text, mutated, dropped):
        verdict = accepts(grammar, candidate)
        if verdict is not None:
            assert verdict == bool(re.fullmatch(regex, candidate)), candidate


@pytest.mark.slow
@property_settings(20)
@given(schema=schemas, cap=st.integers(1, 4), data=st.data())
def test_the_capped_grammar_and_the_capped_regex_sent_to_vllm_take_the_same_texts(schema: dict, cap: int,
                                                                                   data: st.DataObject) -> None:
    regex = servable_regex(schema)
    if regex is None:
        return
    capped = canonical(regex, cap)  # what the vllm dialect sends
    grammar = to_gbnf(regex, cap)  # what the gbnf dialect sends
    text = data.draw(st.from_regex(regex, fullmatch=True), label="output")  # may or may not pass the cap
    for candidate in (text, data.draw(st.from_regex(capped, fullmatch=True), label="capped output")):
        verdict = accepts(grammar, candidate)
        if verdict is not None:
            assert verdict == bool(re.fullmatch(capped, candidate)), candidate


@pytest.mark.slow
@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_schema_has_a_grammar_llama_cpp_reads(name: str) -> None:
    compiled = compile_schema(load_schema(name).document)
    assert compiled.regex is not None
    grammar = to_gbnf(compiled.regex, compiled.string_cap)
    assert accepts(grammar, "{") is False  # parsed (no UnreadableGrammarError) and not accepting a fragment


@pytest.mark.slow
def test_the_string_cap_is_in_the_grammar_and_each_repeat_is_one_rule() -> None:
    schema = {"type": "object", "properties": {k: {"type": "string"} for k in "abcdefgh"}, "required": list("abcdefgh")}
    compiled = compile_schema(schema)
    assert compiled.regex is not None and compiled.string_cap == 200
    grammar = to_gbnf(compiled.regex, compiled.string_cap)
    assert grammar.count("{0,200}") == 1  # eight strings, one rule for their bodies
    document = '{"a":"%s","b":"","c":"","d":"","e":"","f":"","g":"","h":""}'
    assert accepts(grammar, document % ("x" * 200)) is True
    assert accepts(grammar, document % ("x" * 201)) is False  # the local decoder's cap, on the server too
    assert re.fullmatch(compiled.regex, document % ("x" * 201))


@pytest.mark.parametrize("regex, good, bad", [
    (for_regex(r"[0-9]{3}-[0-9]{4}").regex, "555-0199", "555-019"),
    (for_regex(r"\d+ é|ü{2}").regex, "12 é", "12 e"),
    (for_choice(["yes", "no", 'say "hi"\\']).regex, 'say "hi"\\', "maybe"),
])
@pytest.mark.slow
def test_regexes_and_choices_convert(regex: str, good: str, bad: str) -> None:
    grammar = to_gbnf(regex)
    assert accepts(grammar, good) is True and accepts(grammar, bad) is False


@pytest.mark.slow
def test_a_repeat_of_a_repeat_is_one_repeat_so_llama_cpp_reads_a_run_one_way() -> None:
    # The pattern of a held-out schema: llama.cpp's engine spent minutes on one token of it, and the server hung.
    pattern = "^(https?:\\/\\/)?([\\da-z\\.-]+)\\.([a-z\\.]{2,6})([\\/\\w \\.-]*)*\\/?$"
    compiled = compile_schema({"type": "string", "pattern": pattern})
    assert compiled.regex is not None
    grammar = to_gbnf(compiled.regex, compiled.string_cap)
    assert not re.search(r"r[0-9]+\{", grammar)  # no rule repeats a rule
    assert accepts(grammar, '"http://a.bc/' + "x" * 150 + '"') is True
    assert to_gbnf("(?:(?:[a-z]*)*)+", 200) == "root ::= r0\nr0 ::= [a-z]{0,200}\n"


_bound = st.one_of(st.none(), st.integers(1, 3))


@property_settings(200)
@given(inner_lo=st.integers(0, 1), inner_more=_bound, lo=st.integers(0, 2), more=_bound,
       text=st.text(alphabet="ab", max_size=12))
def test_flattened_repeats_match_the_same_texts(inner_lo: int, inner_more: int | None, lo: int, more: int | None,
                                                text: str) -> None:
    def bounds(low: int, extra: int | None) -> str:
        return f"{{{low},}}" if extra is None else f"{{{low},{low + extra}}}"

    regex = f"(?:(?:[ab]{bounds(inner_lo, inner_more)}){bounds(lo, more)})c"
    assert bool(re.fullmatch(canonical(regex), text + "c")) == bool(re.fullmatch(regex, text + "c"))


def test_what_llama_cpp_cannot_say_is_a_compile_error() -> None:
    with pytest.raises(CompileError, match="no GBNF form"):
        to_gbnf(r"a(?=b)b")
    with pytest.raises(CompileError, match="no GBNF form"):
        to_gbnf(r"(a)\1")


@pytest.mark.slow
def test_the_gbnf_dialect_asks_for_the_compiled_grammar_or_nothing() -> None:
    from formatlock.compile.constraints import for_schema

    constraint = for_schema("calendar_event", masked=False)  # a server's constraint: not compiled here
    request = dialects.request("gbnf", constraint)
    assert request["extra_body"]["grammar"].startswith("root ::= ")
    refused = for_schema({"not": {}}, masked=False)
    assert dialects.request("gbnf", refused) == {}  # the compiler cannot carry it: no server-side constraint
    assert dialects.unenforced("gbnf", {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}) \
        == [("", "uniqueItems")]


SHARED = Path(__file__).resolve().parents[2] / "shared" / "jsonschemabench"
NESTED = " ".join(f'("a{i}" | "b{i}")' for i in range(20))  # a group that makes 20 rules when llama.cpp parses it


@pytest.mark.slow
def test_a_repeated_group_is_a_named_rule_so_llama_cpp_takes_it() -> None:
    assert not llama_cpp_reads(f"root ::= ({NESTED}){{0,200}}")  # 20 rules x 200 > llama.cpp's 2,000
    assert llama_cpp_reads(f"item ::= {NESTED}\nroot ::= item{{0,200}}")
    regex = "(?:" + "".join(f"(?:a{i}|b{i})" for i in range(20)) + "){0,200}"
    assert llama_cpp_reads(to_gbnf(regex))


@pytest.mark.slow
def test_every_shared_schemas_grammar_is_read_by_llama_cpp() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    refused, read = [], 0
    for path in sorted(SHARED.glob("*/*.json")):
        compiled = compile_schema(json.loads(path.read_text(encoding="utf-8")))
        if compiled.regex is None or compiled.unsupported:
            continue
        read += 1
        if not llama_cpp_reads(to_gbnf(compiled.regex, compiled.string_cap)):
            refused.append(f"{path.parent.name}/{path.name}")
    assert read >= 250 and refused == []


def test_a_grammar_llama_cpp_cannot_read_is_never_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    from formatlock.compile.constraints import for_schema

    constraint = for_schema("invoice", masked=False)
    monkeypatch.setattr(dialects, "llama_cpp_reads", lambda grammar: False)
    dialects._gbnf.cache_clear()
    dialects._schema_gbnf.cache_clear()
    try:
        assert dialects.request("gbnf", constraint) == {}  # no server-side constraint, never a grammar it may crash on
    finally:
        dialects._gbnf.cache_clear()
        dialects._schema_gbnf.cache_clear()
