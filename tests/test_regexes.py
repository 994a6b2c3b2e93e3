"""Regex building blocks: every fragment is sound (what it matches meets the keyword it stands for)
and accepted by both regex engines that consume it (Python ``re`` / our lazy DFA, outlines-core).

Hypothesis draws bounds and then texts from the fragments themselves (``from_regex``).
FORMATLOCK_HYPOTHESIS_EXAMPLES scales the example counts (nightly: 1000 or more).
"""

from __future__ import annotations

import json
import os
import re
from fractions import Fraction

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from formatlock.automata.fsm import LazyDFA
from formatlock.compile.fragments.base import (
    Frag,
    PatternUnsupportedError,
    alt,
    compact_json,
    json_literal,
    literal,
    nesting_depth,
    repeat,
    seq,
)
from formatlock.compile.fragments.containers import any_value, array_items, object_members
from formatlock.compile.fragments.formats import FORMATS, format_string
from formatlock.compile.fragments.numbers import (
    Bound,
    _fraction,
    decimal_range,
    integer_limits,
    integer_range,
    natural_range,
    number_bounds,
    unit_limits,
)
from formatlock.compile.fragments.patterns import PatternLimits, pattern_string
from formatlock.compile.fragments.strings import string_of_length

EXAMPLES = int(os.environ.get("FORMATLOCK_HYPOTHESIS_EXAMPLES", "0") or 0)
quick = settings(max_examples=EXAMPLES or 60, deadline=None, suppress_health_check=list(HealthCheck))
LIMITS = PatternLimits(8, 8, 16)


def texts(fragment: Frag) -> st.SearchStrategy[str]:
    return st.from_regex(fragment.re, fullmatch=True)


# -- numbers ---------------------------------------------------------------------------------

@quick
@given(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 3 * 10**7))
def test_natural_range_is_exact(a: int, b: int, x: int) -> None:
    lo, hi = sorted((a, b))
    pattern = re.compile(natural_range(lo, hi).re)
    for value in (x, lo, hi, lo - 1, hi + 1):
        if value >= 0:
            assert bool(pattern.fullmatch(str(value))) == (lo <= value <= hi), (lo, hi, value)
    assert not pattern.fullmatch("0" + str(lo))  # no leading zeros


@quick
@given(st.one_of(st.none(), st.integers(-10**6, 10**6)), st.one_of(st.none(), st.integers(-10**6, 10**6)), st.data())
def test_integer_range_texts_are_in_range(lo: int | None, hi: int | None, data: st.DataObject) -> None:
    fragment = integer_range(lo, hi)
    if lo is not None and hi is not None and lo > hi:
        assert fragment is None
        return
    assert fragment is not None
    value = json.loads(data.draw(texts(fragment)))
    assert isinstance(value, int) and (lo is None or value >= lo) and (hi is None or value <= hi)


def _bound(value: float | int, strict: bool) -> Bound:
    return Bound(Fraction(value), strict)


_edges = st.one_of(st.integers(-1000, 1000), st.floats(-1000, 1000, allow_nan=False),
                   st.decimals(-1000, 1000, places=3).map(float), st.sampled_from([0.1, 0.2, 0.3, 1e-7, 2.5e-7, 123456.7]))


@quick
@given(_edges, _edges, st.booleans(), st.booleans(), st.data())
def test_decimal_range_texts_pass_float_bounds(a: float, b: float, strict_lo: bool, strict_hi: bool, data: st.DataObject) -> None:
    lo_value, hi_value = sorted((a, b))
    lower, upper = _bound(lo_value, strict_lo), _bound(hi_value, strict_hi)
    fragment = decimal_range(*unit_limits(lower, upper))
    if fragment is None:  # only when no 6-decimal number lies strictly inside
        assert hi_value - lo_value < 2e-6
        return
    value = json.loads(data.draw(texts(fragment)))
    assert value > lo_value if strict_lo else value >= lo_value
    assert value < hi_value if strict_hi else value <= hi_value


@quick
@given(st.decimals(-10**9, 10**9, places=6), _edges, _edges)
def test_decimal_range_admits_every_short_decimal_inside(x: object, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    text = format(x, "f")
    value = float(text)
    assume(lo <= value <= hi and "." in text)
    fragment = decimal_range(*unit_limits(_bound(lo, False), _bound(hi, False)))
    assert fragment is not None and re.fullmatch(fragment.re, text.rstrip("0").rstrip(".") or "0")


def test_fraction_ranges_exhaustively_for_short_bounds() -> None:
    for lo, hi in [(0, 999_999), (200_000, 800_000), (123_456, 123_456), (0, 5), (999_990, 999_999), (100_000, 199_999)]:
        pattern = re.compile(_fraction(lo, hi).re)
        for digits in range(0, 4):
            for n in range(10**digits if digits else 1):
                text = "" if digits == 0 else "." + str(n).zfill(digits)
                value = int(text[1:].ljust(6, "0")) if text else 0
                assert bool(pattern.fullmatch(text)) == (lo <= value <= hi), (lo, hi, text)


def test_number_bounds_take_the_tightest_of_all_spellings() -> None:
    lower, upper = number_bounds({"minimum": 1, "exclusiveMinimum": 1, "maximum": 5, "exclusiveMaximum": 6})
    assert lower == _bound(1, True) and upper == _bound(5, False)
    lower, upper = number_bounds({"minimum": 0, "exclusiveMinimum": True, "maximum": 2, "exclusiveMaximum": False})
    assert lower == _bound(0, True) and upper == _bound(2, False)  # draft 4 booleans
    assert integer_limits(_bound(0.5, False), _bound(2.5, True)) == (1, 2)
    assert integer_limits(_bound(1, True), _bound(3, True)) == (2, 2)


def test_strict_bound_on_a_large_double_moves_past_its_neighbours() -> None:
    lo, _ = unit_limits(_bound(1e17, True), None)
    assert lo is not None and float(Fraction(lo, 10**6)) > 1e17


# -- strings, classes, patterns ----------------------------------------------------------------

@quick
@given(st.integers(0, 6), st.one_of(st.none(), st.integers(0, 6)), st.data())
def test_string_of_length_counts_decoded_characters(lo: int, span: int | None, data: st.DataObject) -> None:
    hi = None if span is None else lo + span
    text = data.draw(texts(string_of_length(lo, hi)))
    value = json.loads(text)
    assert isinstance(value, str) and len(value) >= lo and (hi is None or len(value) <= hi)


PATTERNS = [
    r"^[A-Z]{2}-\d{3}$", r"^[a-z]+$", r"^(yes|no)$", r"[0-9]", r"^\d{4}$", r"x+y?", r"^\D+$", r"^\W\w$",
    r"^\S+@\S+$", r"^[^\d\s]{1,3}$", r"^[^abc]$", r"^[^\D]$", r"^.{2,5}$", r"ab|^c", r"^a|b$", r"^$",
    r'^["\\]+$', r"^[\t\n]x$", r"^(?:ab)+c*$", r"^[\u4e00-\u9fa5]{1,2}$", r"^[-&~|]+$", r"^\.\*\+\?$",
    r"^[^\x00-\x7f]$", r"^a{2}b{1,3}c{2,}$", r"^([^,]+(,|$)){3,}$", r"^(a|$)b?$", r"x(y|$)", r"^(\d+(\.|$)){2}$",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pattern_strings_match_the_pattern(pattern: str) -> None:
    fragment, _ = pattern_string(pattern, LIMITS)
    compiled = re.compile(pattern)

    @settings(max_examples=EXAMPLES or 25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(texts(fragment))
    def check(text: str) -> None:
        value = json.loads(text)
        assert compiled.search(value), (pattern, value)

    check()
    LazyDFA(fragment.re)


@quick
@given(st.sampled_from(PATTERNS), st.integers(0, 3), st.one_of(st.none(), st.integers(0, 12)), st.data())
def test_pattern_length_claim_holds(pattern: str, lo: int, hi: int | None, data: st.DataObject) -> None:
    assume(hi is None or hi >= lo)
    fragment, fits = pattern_string(pattern, LIMITS, (lo, hi))
    value = json.loads(data.draw(texts(fragment)))
    assert re.search(pattern, value)
    if fits:
        assert len(value) >= lo and (hi is None or len(value) <= hi)


@pytest.mark.parametrize(("pattern", "lengths", "accepted", "refused"), [
    ("[0-9]{10,10}", (10, 10), ["0123456789"], ["012345678", "01234567890", "x0123456789"]),  # a real timestamp
    ("ab", (5, 8), ["abxyz", "abxyzxyz"], ["ab", "abxy", "abxyzxyzx"]),
])
def test_unanchored_patterns_size_their_free_text_to_the_lengths(
        pattern: str, lengths: tuple[int, int | None], accepted: list[str], refused: list[str]) -> None:
    fragment, fits = pattern_string(pattern, LIMITS, lengths)
    dfa = LazyDFA(fragment.re)
    assert fits
    assert all(dfa.accepts(json.dumps(text)) for text in accepted)
    assert not any(dfa.accepts(json.dumps(text)) for text in refused)


@pytest.mark.parametrize(("pattern", "lengths"), [
    ("^ab", (0, 1)),       # every match is longer than maxLength
    ("^x$|ab", (3, None)),  # the anchored branch gets no free text to reach minLength
])
def test_unanchored_patterns_that_cannot_fit_leave_lengths_to_resampling(pattern: str,
                                                                          lengths: tuple[int, int | None]) -> None:
    assert pattern_string(pattern, LIMITS, lengths)[1] is False


def test_unbounded_repeats_are_cut_to_fit_max_length() -> None:
    fragment, fits = pattern_string("^[a-z]+$", PatternLimits(8, 64, 64), (0, 10))
    assert fits and fragment.re == '"[a-z]{1,10}"'


@pytest.mark.parametrize(("pattern", "accepted", "refused"), [
    (r"^([^,]+(,|$)){3,}$", ["a,b,c", "a,b,c,", "a,b,c,d"], ["a,b", "a,b,", "a,,b,c"]),  # JsonSchemaStore catalogue tags
    (r"^(a|$)b?$", ["", "a", "ab"], ["b", "aa"]),
    (r"^(\d+(\.|$)){2}$", ["1.2", "1.2."], ["1", "1.2.3"]),
])
def test_end_anchors_inside_a_pattern_are_masked(pattern: str, accepted: list[str], refused: list[str]) -> None:
    dfa = LazyDFA(pattern_string(pattern, LIMITS)[0].re)
    assert all(dfa.accepts(json.dumps(text)) for text in accepted)
    assert not any(dfa.accepts(json.dumps(text)) for text in refused)


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)b", r"(?i)abc", r"\bword", r"a{100}", r"(?<!x)y"])
def test_patterns_beyond_the_mask_are_refused(pattern: str) -> None:
    with pytest.raises(PatternUnsupportedError):
        pattern_string(pattern, LIMITS)


_DRAFTS = [jsonschema.Draft4Validator, jsonschema.Draft7Validator, jsonschema.Draft202012Validator]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_format_strings_pass_every_drafts_format_checker(name: str) -> None:
    found = format_string(name)
    assert found is not None
    fragment, (low, high) = found

    @settings(max_examples=EXAMPLES or 15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(texts(fragment))
    def check(text: str) -> None:
        value = json.loads(text)
        assert low <= len(value) <= high
        for cls in _DRAFTS:
            assert cls.FORMAT_CHECKER.conforms(value, name), (name, value, cls.__name__)

    check()


# -- containers --------------------------------------------------------------------------------

@quick
@given(st.lists(st.booleans(), min_size=1, max_size=5), st.integers(0, 400), st.data())
def test_object_members_keep_order_commas_and_required(required: list[bool], budget: int, data: st.DataObject) -> None:
    members = [(r, seq(json_literal(f"m{i}"), literal(":"), literal(str(i)))) for i, r in enumerate(required)]
    body = object_members(members, budget)
    value = json.loads("{" + data.draw(texts(body)) + "}")
    keys = list(value)
    assert keys == sorted(keys, key=lambda k: int(k[1:]))
    assert all(f"m{i}" in value for i, r in enumerate(required) if r)


def test_object_members_allow_every_subset_when_cheap() -> None:
    members = [(False, json_literal(f"m{i}")) for i in range(3)]
    pattern = re.compile(object_members(members, 10_000).re)
    for subset in ([], [0], [1], [2], [0, 2], [1, 2], [0, 1, 2]):
        assert pattern.fullmatch(",".join(f'"m{i}"' for i in subset))


@quick
@given(st.integers(0, 3), st.integers(0, 3), st.one_of(st.none(), st.integers(0, 3)), st.data())
def test_array_items_count_and_commas(n_head: int, lo: int, extra: int | None, data: st.DataObject) -> None:
    head = [literal(f'"h{i}"') for i in range(n_head)]
    tail_lo = max(0, lo - n_head)
    tail_hi = None if extra is None else tail_lo + extra
    body = array_items(head, lo, literal("0"), tail_lo, tail_hi)
    value = json.loads("[" + data.draw(texts(body)) + "]")
    assert len(value) >= lo
    assert value[: min(len(value), n_head)] == [f"h{i}" for i in range(min(len(value), n_head))]
    if tail_hi is not None:
        assert len(value) <= n_head + tail_hi


@pytest.mark.slow
@quick
@given(st.data())
def test_any_value_is_json(data: st.DataObject) -> None:
    json.loads(data.draw(texts(any_value(1, string_of_length(0, 4), 3))))


# -- bookkeeping ---------------------------------------------------------------------------

@quick
@given(st.sampled_from(PATTERNS))
def test_tracked_nesting_depth_matches_the_text(pattern: str) -> None:
    fragment, _ = pattern_string(pattern, LIMITS)
    wrapped = repeat(alt(fragment, literal("x")), 0, 3)
    assert wrapped.depth == nesting_depth(wrapped.re)


def test_compact_json_refuses_values_without_text() -> None:
    with pytest.raises(ValueError):
        compact_json(float("nan"))


def test_every_construct_builds_an_outlines_core_index() -> None:
    outlines_core = pytest.importorskip("outlines_core")
    eager = PatternLimits(None, None, 4)  # as EAGER_INDEX_LIMITS
    tokens = [bytes([b]) for b in range(0x20, 0x7F)] + ["é".encode(), "中".encode(), b'\\"', b'",', b'{"', b"\xe4", b"\xb8\xad"]
    vocabulary = outlines_core.Vocabulary(0, {t: [i + 1] for i, t in enumerate(dict.fromkeys(tokens))})
    fragments = [integer_range(-5, 120), decimal_range(-1_500_000, 2_250_000), string_of_length(1, 3),
                 format_string("date-time")[0], any_value(1, string_of_length(0, None), None)]  # type: ignore[index]
    fragments += [pattern_string(p, eager)[0] for p in PATTERNS]
    for fragment in fragments:
        assert fragment is not None
        outlines_core.Index(fragment.re, vocabulary)
