"""Fragments for JSON Schema ``pattern``s: a pattern (ECMA-262 read as Python ``re``) written as a
JSON string fragment, unanchored ends and free repeats bounded by :class:`PatternLimits`."""

from __future__ import annotations

import re._constants as C  # noqa: N812 - the stdlib's own names
import re._parser as sre_parse
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from ...automata.charsets import MAX_CODE, Ranges, class_items, complement, subtract
from ...automata.fsm import read_regex
from ...errors import CompileError
from .base import EMPTY, Frag, PatternUnsupportedError, alt, is_atom, repeat, seq
from .strings import STRING_CHAR, class_of, quoted

# -- JSON Schema patterns ------------------------------------------------------------------


@dataclass(frozen=True)
class PatternLimits:
    """How a pattern is bounded in the mask: every bound narrows the language, never widens it."""

    free_chars: int | None  # an unanchored pattern gets at most this many characters around it (None: unbounded)
    free_repeats: int | None  # `*`/`+` become at most lo + this many repeats (None: unbounded)
    max_repeat: int  # explicit {m,n} upper bounds are cut to this; m beyond it is unsupported


@lru_cache(maxsize=1024)
def pattern_string(pattern: str, limits: PatternLimits, lengths: tuple[int, int | None] = (0, None)) -> tuple[Frag, bool]:
    """A JSON string whose decoded content matches ``pattern`` (Python ``re.search`` semantics,
    which is what the validator runs), and whether all its strings have a length within ``lengths``.

    When the pattern is anchored at both ends, its unbounded repeats are cut so that the
    strings fit ``lengths[1]`` where that is possible.
    """
    items = list(_parse(pattern))
    lo, hi = lengths
    anchored = _is_anchored(items)
    if anchored and hi is not None and _width(_bounded(items, limits))[1] > hi \
            and _width(_bounded(items, replace(limits, free_repeats=0)))[1] <= hi:
        limits = replace(limits, free_repeats=_largest_fitting(items, limits, hi))
    bounded = _bounded(items, limits)
    free = repeat(STRING_CHAR, 0, limits.free_chars)
    if anchored:
        low, high = _width(bounded)
        fits = low >= lo and (hi is None or high <= hi)
    else:
        fitted = _fitted_free(bounded, limits.free_chars, lo, hi)
        fits = fitted is not None
        free = fitted or free
    return quoted(_Emitter(free).anchored(bounded)), fits


def _fitted_free(items: list, free_chars: int | None, lo: int, hi: int | None) -> Frag | None:
    """Free text around an unanchored (bounded) pattern sized so that every string has ``lo..hi`` characters.

    With the pattern's matches ``low..high`` long, free text of ``lo - low .. hi - high``
    characters keeps any match within the lengths. None where no such size exists, or where an
    anchored branch could go without the free text the lower length relies on.
    """
    low, high = _width(items)
    least = max(0, lo - low)
    most = None if hi is None else hi - high
    if free_chars is not None:
        most = least + free_chars if most is None else min(most, least + free_chars)
    if (most is not None and most < least) or (least and _has_anchor(items)):
        return None
    return repeat(STRING_CHAR, least, most)


def _has_anchor(items: list) -> bool:
    """Whether an anchor (``^``, ``$``, ``\\b``, ...) occurs anywhere in a parsed pattern."""
    for op, arg in items:
        if op is C.AT:
            return True
        if op is C.BRANCH and any(_has_anchor(list(b)) for b in arg[1]):
            return True
        if op is C.SUBPATTERN and _has_anchor(list(arg[3])):
            return True
        if op in _REPEATS and _has_anchor(list(arg[2])):
            return True
    return False


def _largest_fitting(items: list, limits: PatternLimits, most: int) -> int:
    """The largest allowance for unbounded repeats whose strings are at most ``most`` long."""
    bottom, top = 0, most if limits.free_repeats is None else limits.free_repeats
    while bottom < top:
        middle = (bottom + top + 1) // 2
        if _width(_bounded(items, replace(limits, free_repeats=middle)))[1] <= most:
            bottom = middle
        else:
            top = middle - 1
    return bottom


def _parse(pattern: str) -> list:
    """The parsed items of a schema ``pattern``, read by the one regex reader (``fsm.read_regex``)."""
    try:
        return read_regex(pattern, lambda items: items)
    except CompileError as exc:
        raise PatternUnsupportedError(f"{exc} in the mask") from None


_STARTS = (C.AT_BEGINNING, C.AT_BEGINNING_STRING)
_ENDS = (C.AT_END, C.AT_END_STRING)
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)


def whole_match(pattern: str) -> bool:
    """Whether ``pattern`` is anchored at both ends (``^...$``), so it describes the whole string."""
    try:
        return _is_anchored(list(_parse(pattern)))
    except PatternUnsupportedError:
        return False


def _is_anchored(items: list) -> bool:
    return (len(items) >= 2 and items[0][0] is C.AT and items[0][1] in _STARTS
            and items[-1][0] is C.AT and items[-1][1] in _ENDS)


def _width(items: list) -> tuple[int, int]:
    """(min, max) characters matched by a parsed sequence (anchors match none)."""
    try:
        return _sub(items).getwidth()
    except IndexError:  # a backreference: its width is the group's, which a bare SubPattern does not know
        raise PatternUnsupportedError("backreferences are not supported in the mask") from None


def _sub(items: list) -> Any:
    return sre_parse.SubPattern(sre_parse.State(), items)


def _bounded(items: list, limits: PatternLimits) -> list:
    """The parsed pattern with every repeat bounded as ``limits`` say (a narrower language)."""
    out = []
    for op, arg in items:
        if op is C.BRANCH:
            arg = (arg[0], [_sub(_bounded(list(b), limits)) for b in arg[1]])
        elif op is C.SUBPATTERN:
            arg = (*arg[:3], _sub(_bounded(list(arg[3]), limits)))
        elif op in _REPEATS:
            lo, hi, body = arg
            if lo > limits.max_repeat:
                raise PatternUnsupportedError(f"a repeat of at least {lo} is longer than the mask allows ({limits.max_repeat})")
            if hi is C.MAXREPEAT:
                hi = hi if limits.free_repeats is None else lo + limits.free_repeats
            else:
                hi = min(hi, max(lo, limits.max_repeat))
            arg = (lo, hi, _sub(_bounded(list(body), limits)))
        out.append((op, arg))
    return out


# Python's \d, \w, \s are Unicode-aware; the mask uses their ASCII part (a subset, so sound).
_ASCII: Ranges = [(0x20, 0x7E)]  # where complements of Unicode categories are taken (sound)


class _Emitter:
    """Translate a parsed (and bounded) pattern into a fragment over JSON string text."""

    def __init__(self, free: Frag) -> None:
        self.free = free

    def anchored(self, items: list, left: bool = True, right: bool = True) -> Frag:
        """A sequence, with free text after it unless anchored by ``$``, or else before it unless
        anchored by ``^``. Never on both sides: ``free P free`` makes automata track every place
        P might have matched (exponentially many states); ``P free`` still contains a match."""
        if items and items[0][0] is C.AT and items[0][1] in _STARTS:
            items, left = items[1:], False
        if items and items[-1][0] is C.AT and items[-1][1] in _ENDS:
            items, right = items[:-1], False
        if len(items) == 1 and items[0][0] is C.BRANCH:
            return alt(*(self.anchored(list(b), left, right) for b in items[0][1][1]))
        if _has_anchor(items):  # `$` inside, as in ^([^,]+(,|$)){3,}$: matches that use it end the string
            through, ending = self.ending(items)
            parts = [] if through is None else [seq(through, self.free) if right else through]
            parts += [] if ending is None else [ending]
            if not parts:
                raise PatternUnsupportedError("no string matches the pattern")
            body = alt(*parts)
            return seq(self.free, body) if left and not right else body
        body = self.emit(items)
        if right:
            return seq(body, self.free)
        return seq(self.free, body) if left else body

    def ending(self, items: list) -> tuple[Frag | None, Frag | None]:
        """A sequence with end anchors inside, as two fragments: the matches that use no ``$``,
        and those that use one (nothing may follow them). None stands for no match at all."""
        through: Frag | None = EMPTY
        ending: Frag | None = None
        for op, arg in items:
            item_through, item_ending = self.ending_one(op, arg)
            after_end = ending if ending is not None and _width([(op, arg)])[0] == 0 else None  # must match empty
            via_item = None if through is None or item_ending is None else seq(through, item_ending)
            ending = _alt_of(after_end, via_item)
            through = None if through is None or item_through is None else seq(through, item_through)
        return through, ending

    def ending_one(self, op: Any, arg: Any) -> tuple[Frag | None, Frag | None]:
        if op is C.AT:
            if arg in _ENDS:
                return None, EMPTY
            raise PatternUnsupportedError(f"the anchor {str(arg).lower()} is only supported at the start")
        if not _has_anchor([(op, arg)]):
            return self.one(op, arg), None
        if op is C.BRANCH:
            pairs = [self.ending(list(b)) for b in arg[1]]
            return _alt_of(*(t for t, _ in pairs)), _alt_of(*(e for _, e in pairs))
        if op is C.SUBPATTERN:
            through, ending = self.ending(_group_items(arg))
            return (None if through is None else _wrap(through)), (None if ending is None else _wrap(ending))
        if op in _REPEATS:
            lo, hi, body = arg
            high = None if hi is C.MAXREPEAT else hi
            through, ending = self.ending(list(body))
            whole = (EMPTY if lo == 0 else None) if through is None else repeat(_wrap(through), lo, high)
            if ending is None or high == 0:
                return whole, None
            # the iteration that meets `$` is the last non-empty one; any after it match empty
            first = 0 if _width(list(body))[0] == 0 else max(0, lo - 1)
            last = None if high is None else high - 1
            if through is None:
                return whole, ending if first == 0 else None
            return whole, seq(repeat(_wrap(through), first, last), ending)
        raise PatternUnsupportedError(f"{str(op).lower()} is not supported in the mask")

    def emit(self, items: list) -> Frag:
        return seq(*(self.one(op, arg) for op, arg in items)) if items else EMPTY

    def one(self, op: Any, arg: Any) -> Frag:
        if op is C.LITERAL:
            return class_of([(arg, arg)])
        if op is C.NOT_LITERAL:
            return class_of(complement([(arg, arg)]))
        if op is C.ANY:
            return class_of(complement([(0x0A, 0x0A)]))
        if op is C.IN:
            return class_of(_class_ranges(arg))
        if op is C.BRANCH:
            return alt(*(self.emit(list(b)) for b in arg[1]))
        if op is C.SUBPATTERN:
            return _wrap(self.emit(_group_items(arg)))
        if op in _REPEATS:
            lo, hi, body = arg
            return repeat(_wrap(self.emit(list(body))), lo, None if hi is C.MAXREPEAT else hi)
        raise PatternUnsupportedError(f"{str(op).lower()} is not supported in the mask")


def _group_items(arg: Any) -> list:
    """The parsed items inside a group, which must carry no inline flags."""
    if arg[1] or arg[2]:
        raise PatternUnsupportedError("inline flags are not supported in the mask")
    return list(arg[3])


def _alt_of(*frags: Frag | None) -> Frag | None:
    """The alternation of the fragments given (None where none is)."""
    present = [f for f in frags if f is not None]
    return alt(*present) if present else None


def _class_ranges(items: list) -> Ranges:
    """Code points of a class, within what is sound: with a category, complements are taken in ASCII."""
    try:
        negate, ranges, has_category = class_items(items, _ASCII)
    except ValueError as exc:
        raise PatternUnsupportedError(f"{exc} in the mask") from None
    if not negate:
        return ranges
    # [^\d] excludes every Unicode digit: only its ASCII complement is known to be safe.
    return subtract(_ASCII if has_category else [(0, MAX_CODE)], ranges)


def _wrap(frag: Frag) -> Frag:
    return frag if frag.atom or is_atom(frag.re) else Frag(f"(?:{frag.re})", frag.max, frag.size + 4, True, frag.depth + 1)
