"""The closing automaton: a compiled constraint over one vocabulary, with distances to acceptance.

Masks come from llguidance (:mod:`formatlock.runtime.masks`); this automaton answers what llguidance
cannot: how many bytes from acceptance a state is, and which tokens keep an output closable in a
given number of bytes (:meth:`Automaton.within`), for :mod:`formatlock.runtime.closing`. It also masks on
its own where llguidance gives up on an output.

States are states of the lazily built byte DFA (:mod:`formatlock.automata.fsm`). The tokens allowed in a
state are found by walking every token's bytes through the DFA at once (numpy, one gather per
byte position) and memoised, so only states that closing visits cost anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..automata.fsm import LazyDFA
from ..lru import LRU
from .vocabulary import TokenVocabulary

_MAX_SUCCESSORS = 64  # states whose per-token successor distances are kept for the budget filter
SNAPSHOT_FORMAT = 3  # bump when snapshot() changes shape; part of the disk cache key


@dataclass(frozen=True)
class StateInfo:
    """What may come next in one automaton state."""

    allowed: np.ndarray  # token ids, excluding end-of-generation
    may_stop: bool
    reach: int  # the most bytes any allowed token can leave to acceptance


class Automaton:
    """A compiled constraint over one model's vocabulary, with memoised state queries."""

    def __init__(self, regex: str, vocabulary: TokenVocabulary) -> None:
        self.dfa = LazyDFA(regex)
        self.vocabulary = vocabulary
        self.initial_state: int = self.dfa.initial
        self._info: dict[int, StateInfo] = {}
        self._successors: LRU[int, tuple[np.ndarray, np.ndarray]] = LRU(_MAX_SUCCESSORS)
        self.grown = False  # states were worked out since the last snapshot

    def snapshot(self) -> dict:
        """Everything worked out so far (DFA rows, allowed tokens), compactly."""
        n_vocab = len(self.vocabulary.pieces)
        info = {}
        for state, found in self._info.items():
            mask = np.zeros(n_vocab, dtype=bool)
            mask[found.allowed] = True
            info[state] = (np.packbits(mask), found.may_stop, found.reach)
        self.grown = False
        return {"dfa": self.dfa.snapshot(), "info": info}

    def restore(self, snapshot: dict) -> None:
        """Adopt a snapshot taken from an automaton of the same regex and vocabulary."""
        if not self.dfa.restore(snapshot["dfa"]):
            return
        n_vocab = len(self.vocabulary.pieces)
        for state, (bits, may_stop, reach) in snapshot["info"].items():
            allowed = np.flatnonzero(np.unpackbits(bits, count=n_vocab)).astype(np.int64)
            self._info[state] = StateInfo(allowed, may_stop, reach)

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
        return self._successors.get_or_make(state, lambda: self._measured_walk(state))

    def _measured_walk(self, state: int) -> tuple[np.ndarray, np.ndarray]:
        allowed, ends = self._walk(state)
        return allowed, self.dfa.distances(ends)

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
