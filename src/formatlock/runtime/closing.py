"""Keeping every constrained output closable within its token budget.

llguidance's masks say which tokens keep the regex alive, not how far acceptance then is. Near the
end of the budget (or past the deadline) the decoder must only take tokens after which the output
can still be closed in the tokens left. That needs the distance to acceptance, which formatlock's
own lazy byte DFA gives (:mod:`formatlock.runtime.automaton`).

The DFA costs a Thompson NFA build (tens to hundreds of milliseconds on large schemas), so it is
built only when it can matter: while the tokens left cover the regex's reach
(:func:`formatlock.automata.distance.bounds`) or the most bytes still possible, every allowed
token is safe and the DFA is never built; most outputs end before that.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .automaton import Automaton


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
