"""The token-level view of a compiled constraint that the decoder walks.

Wraps an outlines_core ``Index`` with per-state memos: the allowed token ids as a numpy array
(so masking is one vectorised gather), whether generation may stop, and the *forced* run of
text from a state. Text is forced when every allowed token starts with the same byte; the decoder
then appends it without a model step (jump-forward), tokenised the way the model would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .vocabulary import TokenVocabulary

_MAX_FORCED_BYTES = 256


@dataclass(frozen=True)
class StateInfo:
    """What may come next in one automaton state."""

    allowed: np.ndarray  # token ids, excluding end-of-generation
    may_stop: bool


class Automaton:
    """A compiled constraint over one model's vocabulary, with memoised state queries."""

    def __init__(self, index: Any, vocabulary: TokenVocabulary, tokenize: Callable[[bytes], list[int]]) -> None:
        self.index = index
        self.vocabulary = vocabulary
        self.initial_state: int = index.get_initial_state()
        self._tokenize = tokenize
        self._info: dict[int, StateInfo] = {}
        self._forced: dict[int, tuple[list[int], int]] = {}

    def info(self, state: int) -> StateInfo:
        found = self._info.get(state)
        if found is None:
            tokens = self.index.get_allowed_tokens(state) or []
            eos = self.vocabulary.eos_id
            allowed = np.fromiter((t for t in tokens if t != eos), dtype=np.int64)
            found = self._info[state] = StateInfo(allowed, self.index.is_final_state(state))
        return found

    def advance(self, state: int, token: int) -> int | None:
        return self.index.get_next_state(state, token)

    def forced(self, state: int) -> tuple[list[int], int]:
        """Tokens that must come next from ``state`` (possibly none) and the state after them."""
        found = self._forced.get(state)
        if found is None:
            found = self._forced[state] = self._compute_forced(state)
        return found

    def _compute_forced(self, state: int) -> tuple[list[int], int]:
        text = bytearray()
        current = state
        while len(text) < _MAX_FORCED_BYTES:
            info = self.info(current)
            if info.may_stop or len(info.allowed) == 0:
                break
            firsts = self.vocabulary.first_byte[info.allowed]
            if (firsts != firsts[0]).any():
                break
            byte_token = self.vocabulary.byte_token.get(int(firsts[0]))
            following = None if byte_token is None else self.advance(current, byte_token)
            if following is None:
                break
            text.append(int(firsts[0]))
            current = following
        if not text:
            return [], state
        return self._tokens_for(bytes(text), state, current)

    def _tokens_for(self, text: bytes, start: int, end: int) -> tuple[list[int], int]:
        """Tokenise forced text as the model would; fall back to single bytes if that leaves the automaton."""
        tokens = self._tokenize(text)
        if self.vocabulary.decode(tokens) == text:
            current: int | None = start
            for token in tokens:
                current = self.advance(current, token)
                if current is None:
                    break
            if current == end:
                return tokens, end
        return [self.vocabulary.byte_token[b] for b in text], end
