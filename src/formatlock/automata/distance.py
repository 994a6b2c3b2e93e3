"""Distances to acceptance, read off a regex alone (no model, no vocabulary).

:func:`bounds` reads two numbers off the parse tree: the fewest bytes of any match, and an upper
bound on the bytes from *any* point of a match to acceptance (the budget guard of
:mod:`formatlock.runtime.closing` stays idle while the tokens left cover it). :func:`completion`
walks the byte DFA to the shortest text that closes a prefix (how a reply a server cut off at its
token budget is closed).
"""

from __future__ import annotations

import functools
import threading
from re import _constants as C  # noqa: N812 - the stdlib's own names
from typing import Any

from ..errors import CompileError
from .charsets import SURROGATES, subtract
from .fsm import UNREACHABLE, LazyDFA, char_ranges, read_regex


def bounds(regex: str) -> tuple[int, int]:
    """(fewest bytes of a match, most bytes from any point of a match to acceptance)."""
    return read_regex(regex, _seq)


def _utf8(code: int) -> int:
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def _seq(items: list) -> tuple[int, int]:
    least, reach = 0, 0
    for op, arg in reversed(items):  # reach of an item, plus the least of everything after it
        item_least, item_reach = _one(op, arg)
        reach = max(reach, item_reach + least)
        least += item_least
    return least, max(reach, least)


def _one(op: object, arg: Any) -> tuple[int, int]:
    if op is C.LITERAL:
        return _utf8(arg), _utf8(arg)
    ranges = char_ranges(op, arg)
    if ranges is not None:
        ranges = subtract(ranges, SURROGATES)
        if not ranges:
            return 0, 0
        return _utf8(ranges[0][0]), _utf8(ranges[-1][1])
    if op is C.SUBPATTERN:
        return _seq(list(arg[3]))
    if op is C.BRANCH:
        found = [_seq(list(branch)) for branch in arg[1]]
        return min(f[0] for f in found), max(f[1] for f in found)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        lo, hi, body = arg
        if hi == 0:
            return 0, 0
        body_least, body_reach = _seq(list(body))
        return lo * body_least, max(lo * body_least, body_reach + max(lo - 1, 0) * body_least)
    if op is C.AT:
        return 0, 0
    raise CompileError(f"regex construct {op} is not supported for constrained decoding")


_COMPLETING = threading.Lock()
_READABLE = [*range(0x20, 0x7F), *range(0x80, 0x100), *range(0x20)]  # ties go to printable bytes


def completion(regex: str, text: str) -> str | None:
    """The shortest text that, after ``text``, makes a full match of ``regex``; None if ``text``
    is no prefix of a match. How a reply a server cut off at the token budget is closed: the
    server has no budget guard, so formatlock closes it as the guard would have, by the shortest way."""
    with _COMPLETING:  # a LazyDFA grows as it is read, and servers are called from several threads
        dfa = _dfa(regex)
        state = dfa.walk(dfa.initial, text.encode("utf-8"))
        if state == 0 or dfa.distance(state) >= UNREACHABLE:
            return None
        tail = bytearray()
        while (left := dfa.distance(state)) > 0:
            row = dfa.row(state)
            distance = dfa.distances(row)
            byte = next(b for b in _READABLE if row[b] and distance[b] == left - 1)
            tail.append(byte)
            state = int(row[byte])
    return tail.decode("utf-8")


@functools.lru_cache(maxsize=8)
def _dfa(regex: str) -> LazyDFA:
    return LazyDFA(regex)
