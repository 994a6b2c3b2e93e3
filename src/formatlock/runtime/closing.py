"""Keeping every constrained output closable within its token budget.

llguidance's masks say which tokens keep the regex alive, not how far acceptance then is. Near the
end of the budget (or past the deadline) the decoder must only take tokens after which the output
can still be closed in the tokens left. That needs the distance to acceptance, which formatlock's
own lazy byte DFA gives (:mod:`formatlock.runtime.automaton`).

The DFA costs a Thompson NFA build (tens to hundreds of milliseconds on large schemas), so it is
built only when it can matter. :func:`bounds` reads two numbers off the regex's parse tree, the
fewest bytes of any match and an upper bound on the distance to acceptance from *any* point of a
match. While the tokens left cover that bound (or the most bytes still possible), every allowed
token is safe and the DFA is never built; most outputs end before that.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from re import _constants as C  # noqa: N812 - the stdlib's own names
from typing import Any

import numpy as np

from ..automata.charsets import SURROGATES, subtract
from ..automata.fsm import UNREACHABLE, LazyDFA, char_ranges, read_regex
from ..errors import CompileError
from .automaton import Automaton


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


class Closing:
    """One output's budget guard: idle while the budget cannot run short, then DFA-backed."""

    def __init__(self, reach: Callable[[], int], max_bytes: int | None, automaton: Callable[[], Automaton] | None) -> None:
        """``automaton`` builds the closing automaton; None turns the guard off (a comparison path)."""
        self._reach = reach
        self._max_bytes = max_bytes
        self._make = automaton
        self.automaton: Automaton | None = None
        self._state = 0

    def limit(self, left: int, emitted: bytes | bytearray, past_deadline: bool) -> int | None:
        """The most bytes acceptance may be away after the next token, or None: anything goes.

        ``left`` (at least 0) is the tokens left after the next one; ``emitted`` the output so far.
        """
        if self._make is None:
            return None
        if self.automaton is None:
            if not past_deadline and (
                (self._max_bytes is not None and left >= self._max_bytes - len(emitted)) or left >= self._reach()
            ):
                return None
            self.take_over(emitted)
        assert self.automaton is not None
        needed = self.automaton.distance(self._state) - 1  # bytes, so tokens at the most
        if needed > left or past_deadline:
            # Past the deadline, or when even one token per byte would not fit (multi-byte tokens
            # may still): close by the shortest way, each token bringing the end closer.
            return needed
        return left

    def fits(self, token: int, limit: int) -> bool:
        """Whether acceptance is at most ``limit`` bytes away after ``token``."""
        assert self.automaton is not None
        after = self.automaton.advance(self._state, token)
        return after is not None and self.automaton.distance(after) <= limit

    def narrow(self, allowed: np.ndarray, limit: int) -> np.ndarray:
        """The tokens of ``allowed`` after which acceptance is at most ``limit`` bytes away."""
        assert self.automaton is not None
        return np.intersect1d(allowed, self.automaton.within(self._state, limit), assume_unique=True)

    def advance(self, tokens: list[int]) -> None:
        """Follow the output once the DFA is in use."""
        if self.automaton is None:
            return
        for token in tokens:
            self._state = self.automaton.advance(self._state, token) or 0

    def mask(self) -> tuple[np.ndarray, bool]:
        """The DFA's own mask, where llguidance has stopped working for this output."""
        assert self.automaton is not None
        info = self.automaton.info(self._state)
        return info.allowed, info.may_stop

    def take_over(self, emitted: bytes | bytearray) -> None:
        """Build the DFA now (if not yet) and place it after ``emitted``."""
        if self.automaton is None:
            assert self._make is not None
            self.automaton = self._make()
            self._state = self.automaton.dfa.walk(self.automaton.initial_state, emitted)
