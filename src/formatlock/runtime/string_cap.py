"""The string cap: every JSON string of a schema's output is closed by its ``N``-th character.

A schema string with no ``maxLength`` (or one past the cap) is left unbounded in the compiled
regex. A counted repeat would make each character a new lexer state, and llguidance would
compute a fresh mask for each of them; unbounded, the state repeats and llguidance reuses its
cached mask. The cap is kept here instead, so a looping model must still close the string.

Characters are counted on the output's bytes, never fewer than JSON Schema counts: a UTF-8
character is one, an escape ``\\x`` one, ``\\uXXXX`` five. Near the cap the mask is narrowed to
the tokens that bring at most the characters left before they close the string. A mask that
would be emptied (a string the schema does not let close yet) is left as it is.
"""

from __future__ import annotations

import numpy as np

OUT, IN, ESC = 0, 1, 2  # outside a string; inside one; inside one, right after a backslash
_QUOTE, _BACKSLASH = 0x22, 0x5C
_CONTINUATION = bytes(range(0x80, 0xC0))


def scan(piece: bytes, state: int) -> tuple[int, bool, int]:
    """(state after ``piece``, whether a string opened in it, characters counted since then or
    since its start)."""
    opened, chars = False, 0
    for byte in piece:
        if state == OUT:
            if byte == _QUOTE:
                state, opened, chars = IN, True, 0
        elif state == ESC:
            state = IN
        elif byte == _QUOTE:
            state = OUT
        elif byte == _BACKSLASH:
            state, chars = ESC, chars + 1
        elif byte & 0xC0 != 0x80:
            chars += 1
    return state, opened, chars


def lead(piece: bytes) -> int:
    """Characters ``piece`` adds to an open string before it closes it (all of them if it does not)."""
    if _BACKSLASH not in piece:
        end = piece.find(b'"')
        return len((piece if end < 0 else piece[:end]).translate(None, _CONTINUATION))
    state, chars = IN, 0
    for byte in piece:
        if state == ESC:
            state = IN
        elif byte == _QUOTE:
            break
        elif byte == _BACKSLASH:
            state, chars = ESC, chars + 1
        elif byte & 0xC0 != 0x80:
            chars += 1
    return chars


class CapTables:
    """Per vocabulary: each token's effect on the string state, and bitmasks of the tokens that
    fit in ``j`` more characters (both built on first use)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.longest = max(map(len, pieces), default=0)  # characters any token adds (bytes until counted)
        self._steps: dict[tuple[int, int], tuple[int, bool, int]] = {}
        self._leads: dict[int, np.ndarray] = {}
        self._within: dict[tuple[int, int], np.ndarray] = {}

    def step(self, state: int, token: int) -> tuple[int, bool, int]:
        key = (state, token)
        found = self._steps.get(key)
        if found is None:
            found = self._steps[key] = scan(self.pieces[token], state)
        return found

    def within(self, state: int, chars: int) -> np.ndarray:
        """Bitmask (uint32 words) of the tokens that add at most ``chars`` characters to the open
        string before closing it, from ``state`` (IN or ESC)."""
        key = (state, chars)
        found = self._within.get(key)
        if found is None:
            if not self._leads:
                for start, skip in ((IN, 0), (ESC, 1)):  # after a backslash, its escaped byte was counted with it
                    self._leads[start] = np.array([lead(p[skip:]) for p in self.pieces], dtype=np.int32)
                self.longest = max(int(leads.max(initial=0)) for leads in self._leads.values())
            leads = self._leads[state]
            flags = np.zeros(-(-len(leads) // 32) * 32, dtype=bool)
            flags[: len(leads)] = leads <= chars
            found = self._within[key] = np.packbits(flags, bitorder="little").view(np.uint32)
        return found


class StringCap:
    """One output's place in its strings: follows each token and narrows masks near the cap."""

    def __init__(self, tables: CapTables, cap: int) -> None:
        self._tables = tables
        self.cap = cap
        self.state = OUT
        self.chars = 0

    def follow(self, token: int) -> None:
        state, opened, chars = self._tables.step(self.state, token)
        self.chars = 0 if state == OUT else chars if opened else self.chars + chars
        self.state = state

    def narrow(self, bits: np.ndarray) -> np.ndarray:
        """``bits`` less the tokens that would take the open string past the cap (unchanged if
        none is open, the cap is out of reach of any token, or nothing would be left)."""
        if self.state == OUT or self.chars + self._tables.longest <= self.cap:
            return bits
        narrowed = bits & self._tables.within(self.state, max(self.cap - self.chars, 0))
        return narrowed if narrowed.any() else bits
