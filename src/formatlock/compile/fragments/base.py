"""The fragment: a regex over compact JSON text, the most bytes it matches and its unrolled size.

Every fragment describes *encoded JSON text* (what the model writes) in the regex subset that
both Python ``re`` and the mask engines accept: literals, ``(?:...)`` groups, alternation, character
classes and ``? * + {m,n}``. Its *size* is its length with bounded repeats unrolled, which is what an
automaton built from it costs. Fragments are sound: everything they match is valid for the keywords
they claim to enforce; they may match less than the schema allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ...schema.json_text import dumps as compact_json  # the form every fragment describes

_META = set("\\.^$|?*+()[]{}")


@dataclass(frozen=True)
class Frag:
    """A regex, the most bytes it can match (None: unbounded) and its unrolled size."""

    re: str
    max: int | None
    size: int = -1  # -1: the length of ``re``
    atom: bool = False  # known to be one unit that a quantifier can follow (a group, a class)
    depth: int = -1  # how deeply groups nest in ``re`` (-1: count them)

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.re))
        if self.depth < 0:
            object.__setattr__(self, "depth", nesting_depth(self.re))


EMPTY = Frag("", 0, 0, False, 0)


def literal(text: str) -> Frag:
    """A fragment matching exactly ``text``."""
    return Frag("".join("\\" + c if c in _META else c for c in text), len(text.encode("utf-8")))


def json_literal(value: Any) -> Frag:
    """A fragment matching the compact JSON encoding of ``value``."""
    return literal(compact_json(value))


def seq(*parts: Frag) -> Frag:
    """Concatenation."""
    total: int | None = 0
    for p in parts:
        total = None if total is None or p.max is None else total + p.max
    return Frag("".join(p.re for p in parts), total, sum(p.size for p in parts), False, max((p.depth for p in parts), default=0))


def alt(*parts: Frag) -> Frag:
    """Alternation (duplicates removed, order kept)."""
    unique = list(dict.fromkeys(parts))
    if len(unique) == 1:
        return unique[0]
    maxes = [p.max for p in unique]
    regex = "(?:" + "|".join(p.re for p in unique) + ")"
    size = sum(p.size for p in unique) + len(unique) + 3
    return Frag(regex, None if None in maxes else max(maxes), size, True, 1 + max(p.depth for p in unique))  # type: ignore[type-var]


def repeat(part: Frag, lo: int, hi: int | None) -> Frag:
    """``part`` repeated lo..hi times (hi None: unbounded)."""
    if lo == hi == 1:
        return part
    if hi == 0:
        return EMPTY
    wrapped = not (part.atom or (len(part.re) <= 64 and is_atom(part.re)))
    body = f"(?:{part.re})" if wrapped else part.re
    depth = part.depth + wrapped
    if hi is None:
        suffix = "*" if lo == 0 else "+" if lo == 1 else f"{{{lo},}}"
        return Frag(body + suffix, None if part.max else 0, part.size * max(lo, 1) + 5, False, depth)
    suffix = "?" if (lo, hi) == (0, 1) else f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"
    return Frag(body + suffix, None if part.max is None else part.max * hi, part.size * hi + 5, False, depth)


def optional(part: Frag) -> Frag:
    return repeat(part, 0, 1)


def is_atom(regex: str) -> bool:
    if len(regex) == 1 or (len(regex) == 2 and regex[0] == "\\"):
        return True
    if regex.startswith("[") and _class_end(regex) == len(regex) - 1:
        return True
    return regex.startswith("(?:") and _closing_paren(regex) == len(regex) - 1


def _class_end(regex: str) -> int:
    """Index of the ``]`` closing the class that starts ``regex``."""
    i = 2 if regex.startswith("[^") else 1
    while i < len(regex):
        if regex[i] == "\\":
            i += 2
            continue
        if regex[i] == "]":
            return i
        i += 1
    return -1


def _paren_depths(regex: str) -> Iterator[tuple[int, int]]:
    """``(index, depth after it)`` for each group parenthesis of ``regex`` (escapes and classes skipped)."""
    depth = i = 0
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = i + _class_end(regex[i:]) + 1
            continue
        if c in "()":
            depth += 1 if c == "(" else -1
            yield i, depth
        i += 1


def _closing_paren(regex: str) -> int:
    return next((i for i, depth in _paren_depths(regex) if depth == 0), -1)


def nesting_depth(regex: str) -> int:
    """The deepest group nesting in ``regex`` (regex parsers limit it, e.g. 250 in Rust's)."""
    return max((depth for _, depth in _paren_depths(regex)), default=0)


class PatternUnsupportedError(ValueError):
    """No fragment can say this (a pattern's lookaround or backreference, an empty character class)."""
