"""Sets of code points as sorted, merged ``(lo, hi)`` ranges, shared by the regex builder
(:mod:`formatlock.compile.fragments`) and the automaton (:mod:`formatlock.automata.fsm`)."""

from __future__ import annotations

import re._constants as C  # noqa: N812 - the stdlib's own names

Ranges = list[tuple[int, int]]

MAX_CODE = 0x10FFFF
SURROGATES: Ranges = [(0xD800, 0xDFFF)]  # code points with no UTF-8 encoding

# The ASCII meanings of \d, \w and \s, as in ECMA-262 (JSON Schema `pattern`) without the u flag.
CATEGORIES: dict[object, Ranges] = {
    C.CATEGORY_DIGIT: [(0x30, 0x39)],
    C.CATEGORY_WORD: [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    C.CATEGORY_SPACE: [(0x09, 0x0D), (0x20, 0x20)],
}
NEGATED = {C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT, C.CATEGORY_NOT_WORD: C.CATEGORY_WORD,
           C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE}


def normalise(ranges: Ranges) -> Ranges:
    """Sorted, with overlapping and adjacent ranges merged."""
    merged: Ranges = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def subtract(ranges: Ranges, removed: Ranges) -> Ranges:
    """The code points of ``ranges`` that are not in ``removed``, normalised."""
    out: Ranges = []
    for lo, hi in normalise(ranges):
        for a, b in normalise(removed):
            if b < lo or a > hi:
                continue
            if a > lo:
                out.append((lo, a - 1))
            lo = b + 1
            if lo > hi:
                break
        if lo <= hi:
            out.append((lo, hi))
    return out


def complement(ranges: Ranges) -> Ranges:
    """Every code point not in ``ranges``."""
    return subtract([(0, MAX_CODE)], ranges)


def class_items(items: list, outside: Ranges) -> tuple[bool, Ranges, bool]:
    """A parsed ``[...]`` class as (negated?, its items' code points, any \\d/\\w/\\s in it?).

    Negated categories (``\\D``, ...) are taken within ``outside``; an item that is not a literal,
    range or category raises ValueError.
    """
    negate = bool(items) and items[0][0] is C.NEGATE
    ranges: Ranges = []
    has_category = False
    for op, arg in items[1:] if negate else items:
        if op is C.LITERAL:
            ranges.append((arg, arg))
        elif op is C.RANGE:
            ranges.append(arg)
        elif op is C.CATEGORY and (arg in CATEGORIES or arg in NEGATED):
            ranges += CATEGORIES[arg] if arg in CATEGORIES else subtract(outside, CATEGORIES[NEGATED[arg]])
            has_category = True
        else:
            raise ValueError(f"character class item {op} {arg} is not supported")
    return negate, ranges, has_category
