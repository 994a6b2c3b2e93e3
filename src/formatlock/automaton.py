"""The token-level view of a compiled constraint that the decoder walks.

States are states of the lazily built byte DFA (:mod:`formatlock.fsm`). The tokens allowed in a
state are found by walking every token's bytes through the DFA at once (numpy, one gather per
byte position) and memoised, so only states that decoding visits cost anything. Text is *forced*
when the DFA has a single way on; the decoder then appends it without a model step
(jump-forward), tokenised the way the model would.

Each state also knows how far (in bytes) the furthest state one token away is from acceptance,
so the decoder can keep every output closable within its token budget (see :meth:`Automaton.within`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .fsm import LazyDFA
from .vocabulary import TokenVocabulary

_MAX_FORCED_BYTES = 256
_MAX_SUCCESSORS = 64  # states whose per-token successor distances are kept for the budget filter
SNAPSHOT_FORMAT = 2  # bump when snapshot() changes shape; part of the disk cache key


@dataclass(frozen=True)
class StateInfo:
    """What may come next in one automaton state."""

    allowed: np.ndarray  # token ids, excluding end-of-generation
    may_stop: bool
    reach: int  # the most bytes any allowed token can leave to acceptance


class Automaton:
    """A compiled constraint over one model's vocabulary, with memoised state queries."""

    def __init__(self, regex: str, vocabulary: TokenVocabulary, tokenize: Callable[[bytes], list[int]]) -> None:
        self.dfa = LazyDFA(regex)
        self.vocabulary = vocabulary
        self.initial_state: int = self.dfa.initial
        self._tokenize = tokenize
        self._info: dict[int, StateInfo] = {}
        self._forced: dict[int, tuple[list[int], int]] = {}
        self._successors: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.grown = False  # states were worked out since the last snapshot

    def snapshot(self) -> dict:
        """Everything worked out so far (DFA rows, allowed tokens, forced runs), compactly."""
        n_vocab = len(self.vocabulary.pieces)
        info = {}
        for state, found in self._info.items():
            mask = np.zeros(n_vocab, dtype=bool)
            mask[found.allowed] = True
            info[state] = (np.packbits(mask), found.may_stop, found.reach)
        self.grown = False
        return {"dfa": self.dfa.snapshot(), "info": info, "forced": dict(self._forced)}

    def restore(self, snapshot: dict) -> None:
        """Adopt a snapshot taken from an automaton of the same regex and vocabulary."""
        if not self.dfa.restore(snapshot["dfa"]):
            return
        n_vocab = len(self.vocabulary.pieces)
        for state, (bits, may_stop, reach) in snapshot["info"].items():
            allowed = np.flatnonzero(np.unpackbits(bits, count=n_vocab)).astype(np.int64)
            self._info[state] = StateInfo(allowed, may_stop, reach)
        self._forced.update(snapshot["forced"])

    def info(self, state: int) -> StateInfo:
        found = self._info.get(state)
        if found is None:
            allowed, distances = self._successor_distances(state)
            reach = int(distances.max()) if len(distances) else 0
            found = self._info[state] = StateInfo(allowed, self.dfa.accepting[state], reach)
            self.grown = True
        return found

    def distance(self, state: int) -> int:
        """The fewest bytes from ``state`` to acceptance."""
        return self.dfa.distance(state)

    def within(self, state: int, budget: int) -> np.ndarray:
        """The allowed tokens after which acceptance is at most ``budget`` bytes away.

        Every byte has a token of its own (byte-level and byte-fallback vocabularies), so a state
        ``d`` bytes from acceptance can always be closed in ``d`` tokens: a decoder that only takes
        tokens within its remaining budget never runs out of it mid-document.
        """
        if self.info(state).reach <= budget:
            return self.info(state).allowed
        allowed, distances = self._successor_distances(state)
        return allowed[distances <= budget]

    def _successor_distances(self, state: int) -> tuple[np.ndarray, np.ndarray]:
        found = self._successors.get(state)
        if found is None:
            allowed, ends = self._walk(state)
            found = self._successors[state] = (allowed, self.dfa.distances(ends))
            while len(self._successors) > _MAX_SUCCESSORS:
                self._successors.popitem(last=False)
        self._successors.move_to_end(state)
        return found

    def _walk(self, state: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the tokens whose every byte keeps the DFA alive from ``state``, sorted, and the
        state each of them leads to."""
        vocab = self.vocabulary
        ids = vocab.walk_ids
        states = np.full(len(ids), state, dtype=np.int32)
        finished, ends = [], []
        position = 0
        while len(ids):
            done = vocab.lengths[ids] == position
            if done.any():
                finished.append(ids[done])
                ends.append(states[done])
                ids, states = ids[~done], states[~done]
                if not len(ids):
                    break
            self.dfa.ensure(states)
            states = self.dfa.table[states, vocab.matrix[ids, position]]
            alive = states != 0
            ids, states = ids[alive], states[alive]
            position += 1
        if not finished:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        allowed, ends_at = np.concatenate(finished), np.concatenate(ends)
        order = np.argsort(allowed)
        return allowed[order], ends_at[order]

    def advance(self, state: int, token: int) -> int | None:
        return self.dfa.walk(state, self.vocabulary.pieces[token]) or None

    def forced(self, state: int) -> tuple[list[int], int]:
        """Tokens that must come next from ``state`` (possibly none) and the state after them."""
        found = self._forced.get(state)
        if found is None:
            found = self._forced[state] = self._compute_forced(state)
        return found

    def _compute_forced(self, state: int) -> tuple[list[int], int]:
        text = bytearray()
        current = state
        while len(text) < _MAX_FORCED_BYTES and not self.dfa.accepting[current]:
            ways = np.flatnonzero(self.dfa.row(current))
            if len(ways) != 1:
                break
            text.append(int(ways[0]))
            current = self.dfa.step(current, int(ways[0]))
        if not text:
            return [], state
        return self._tokens_for(bytes(text), state, current)

    def _tokens_for(self, text: bytes, start: int, end: int) -> tuple[list[int], int]:
        """Tokenise forced text as the model would; else as single bytes; else force nothing."""
        for tokens in (self._tokenize(text), [self.vocabulary.byte_token.get(b) for b in text]):
            if None in tokens or self.vocabulary.decode(tokens) != text:
                continue
            current: int | None = start
            for token in tokens:
                current = self.advance(current, token)
                if current is None:
                    break
            if current == end:
                return tokens, end
        return [], start
