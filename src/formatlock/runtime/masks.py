"""Token masks for a compiled constraint, computed by llguidance.

formatlock's compiler turns a schema into one regex (:mod:`formatlock.compile.json_regex`); llguidance
(a token trie walked by a lazy derivative-based lexer, in Rust) gives the tokens that keep that
regex alive in tens of microseconds on any vocabulary size, and the forced tokens for
jump-forward. What llguidance does not give, the distance to acceptance that keeps an output
closable within its token budget, comes from :mod:`formatlock.runtime.closing`. Strings the regex
leaves unbounded are closed at the schema's string cap (:mod:`formatlock.runtime.string_cap`).

Per model: the tokenizer (read once from llama.cpp, the one-time vocabulary load). Per constraint
and model: a compiled grammar, cached. Per output: a :class:`Masking`, a copy of the grammar's
start state.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import llama_cpp
import llguidance
import llguidance.llamacpp
import numpy as np

from ..errors import CompileError
from ..lru import LRU
from .models import Model
from .string_cap import CapTables, StringCap
from .unique_items import UniqueItems, UniqueTables

_lock = threading.Lock()
_models: dict[int, ModelMasks] = {}


def for_model(model: Model) -> ModelMasks:
    """The mask engine for ``model`` (its tokenizer is read on first use, then kept)."""
    with _lock:
        found = _models.get(id(model))
        if found is None or found.model is not model:
            found = _models[id(model)] = ModelMasks(model)
        return found


class ModelMasks:
    """llguidance's view of one model's vocabulary, and the grammars compiled over it."""

    def __init__(self, model: Model) -> None:
        self.model = model
        vocab = llama_cpp.llama_model_get_vocab(model.llm.model)
        with warnings.catch_warnings():  # llguidance reads token attributes through a deprecated alias
            warnings.simplefilter("ignore", DeprecationWarning)
            self.tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(vocab, n_vocab=model.n_vocab)
        self.n_vocab = model.n_vocab
        self.stop_ids = model.stop_ids
        self._grammars: LRU[str, Grammar] = LRU(32)
        self._cap_tables: CapTables | None = None
        self._unique_tables: UniqueTables | None = None

    def cap_tables(self) -> CapTables:
        """The vocabulary's string-cap tables (made on first use)."""
        with _lock:
            if self._cap_tables is None:
                self._cap_tables = CapTables(self.model.vocabulary.pieces)
            return self._cap_tables

    def unique_tables(self) -> UniqueTables:
        """The vocabulary's index of tokens by their bytes, for unique items (made on first use)."""
        with _lock:
            if self._unique_tables is None:
                self._unique_tables = UniqueTables(self.model.vocabulary.pieces)
            return self._unique_tables

    def grammar(self, regex: str) -> Grammar:
        """The compiled grammar of ``regex`` over this vocabulary (cached)."""
        return self._grammars.get_or_make(regex, lambda: self.compile(regex))

    def compile(self, regex: str) -> Grammar:
        """A fresh grammar for ``regex`` (not cached); CompileError if llguidance refuses it."""
        matcher = llguidance.LLMatcher(self.tokenizer, llguidance.LLMatcher.grammar_from_regex(regex), log_level=0)
        if matcher.is_error():
            raise CompileError(f"the mask engine refused the compiled regex: {matcher.get_error()}")
        return Grammar(self, matcher)


class Grammar:
    """A compiled constraint over one vocabulary; :meth:`start` begins one output."""

    def __init__(self, owner: ModelMasks, matcher: Any) -> None:
        self.owner = owner
        self._start = matcher

    def start(self, string_cap: int | None = None, unique: UniqueItems | None = None) -> Masking:
        """One output's state; ``string_cap`` closes every JSON string by that many characters, and
        ``unique`` keeps the items of unique arrays apart."""
        cap = None if string_cap is None else StringCap(self.owner.cap_tables(), string_cap)
        return Masking(self.owner, self._start.deep_copy(), cap, unique)


class Mask:
    """The tokens allowed at one step, as a bitmask over the vocabulary (end tokens cleared).

    Testing one token is O(1); the sorted ids (:attr:`ids`) are unpacked only when asked for, so
    a decoder that samples first and checks after pays nothing per step for the vocabulary size.
    """

    def __init__(self, bits: np.ndarray, n_vocab: int, may_stop: bool) -> None:
        self.bits = bits.view(np.uint32)
        self.n_vocab = n_vocab
        self.may_stop = may_stop
        self._ids: np.ndarray | None = None

    @classmethod
    def from_ids(cls, ids: np.ndarray, n_vocab: int, may_stop: bool) -> Mask:
        flags = np.zeros(-(-n_vocab // 32) * 32, dtype=bool)
        flags[ids] = True
        mask = cls(np.packbits(flags, bitorder="little").view(np.uint32), n_vocab, may_stop)
        mask._ids = np.asarray(ids, dtype=np.int64)
        return mask

    @property
    def empty(self) -> bool:
        """No token (other than ending) is allowed."""
        return not self.bits.any()

    def allows(self, token: int) -> bool:
        return bool((int(self.bits[token >> 5]) >> (token & 31)) & 1)

    @property
    def ids(self) -> np.ndarray:
        """Sorted ids of the allowed tokens."""
        if self._ids is None:
            flags = np.unpackbits(self.bits.view(np.uint8), bitorder="little", count=self.n_vocab)
            self._ids = np.flatnonzero(flags)
        return self._ids


class Masking:
    """One output's place in the constraint: allowed tokens, forced tokens, consumed tokens."""

    def __init__(self, owner: ModelMasks, matcher: Any, cap: StringCap | None = None,
                 unique: UniqueItems | None = None) -> None:
        self._owner = owner
        self._matcher = matcher
        self._cap = cap
        self._unique = unique
        self._words = (owner.n_vocab + 31) // 32

    @property
    def failed(self) -> str | None:
        """llguidance's error, if it has stopped working for this output (then its masks are void)."""
        return self._matcher.get_error() if self._matcher.is_error() else None

    def allowed(self) -> Mask:
        """The tokens allowed next (end-of-generation tokens excluded) and whether the output may end here."""
        bits = np.empty(self._words, dtype=np.uint32)
        self._matcher.unsafe_compute_mask_ptr(bits.ctypes.data, bits.nbytes)
        bits = self._narrow(bits)
        may_stop = self._matcher.is_accepting()
        if may_stop:
            for stop in self._owner.stop_ids:
                bits[stop >> 5] &= ~np.uint32(1 << (int(stop) & 31))
        return Mask(bits, self._owner.n_vocab, may_stop)

    def forced(self) -> list[int]:
        """Tokens that must come next (possibly none), tokenised the way the model would."""
        if self._matcher.is_accepting():
            return []
        return list(self._matcher.compute_ff_tokens())

    def narrowed(self, mask: Mask) -> Mask:
        """``mask`` narrowed by the string cap and unique items (for masks that did not come from :meth:`allowed`)."""
        bits = self._narrow(mask.bits)
        return mask if bits is mask.bits else Mask(bits, mask.n_vocab, mask.may_stop)

    def _narrow(self, bits: np.ndarray) -> np.ndarray:
        if self._cap is not None:
            bits = self._cap.narrow(bits)
        if self._unique is not None:
            bits = self._unique.narrow(bits)
        return bits

    def follow(self, token: int) -> None:
        """Follow ``token`` with the string cap and unique items only (where llguidance is no longer fed)."""
        if self._cap is not None:
            self._cap.follow(token)
        if self._unique is not None:
            self._unique.follow(token)

    def consume(self, token: int) -> bool:
        """Take ``token``; False if the constraint does not allow it."""
        self.follow(token)
        return bool(self._matcher.consume_token(token)) and not self._matcher.is_error()
