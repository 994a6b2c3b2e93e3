"""The decoding loop: llama.cpp logits, the constraint's mask, sampling, jump-forward.

One call produces one output. The prompt's KV cache is reused across calls that share it. Masks
and forced tokens come from llguidance (:mod:`formatlock.runtime.masks`). Forced text costs no model
step: its tokens are queued and evaluated in one batch with the next sampled position.
Generation stops only where the constraint accepts.

A constrained output never runs out of budget mid-document: each step only allows tokens after
which the document can still be closed in the tokens left (:mod:`formatlock.runtime.closing`), so a
model that rambles is steered to close its strings and brackets in time. Past the deadline, or
where the shortest way to the end has more bytes than there are tokens left, only tokens that
bring the end closer are allowed. Unconstrained output is simply cut off (marked truncated) at
the budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import llama_cpp
import numpy as np

from ..errors import DecodingError, UsageError
from .backends.base import Decoded
from .closing import Closing
from .guide import Guide
from .masks import Mask
from .models import Model
from .threads import RECHECK

_REJECTIONS = 8  # sampled tokens checked one at a time against the budget before narrowing the mask


class Decoder:
    """Runs constrained (or free) decoding on one model; callers hold ``model.lock``."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.stop_ids = model.stop_ids
        self._prompt_key: tuple[int, ...] | None = None
        self._prompt_logits: np.ndarray | None = None

    def run(
        self,
        prompt_tokens: list[int],
        guide: Guide | None,
        *,
        max_tokens: int,
        temperature: float,
        rng: np.random.Generator,
        deadline: float = float("inf"),
        stop: Callable[[str], bool] | None = None,
    ) -> Decoded:
        """Decode one output for ``prompt_tokens`` under ``guide`` (``None`` = unconstrained).

        Past ``deadline`` (a ``time.monotonic()`` value) a constrained output is closed with tokens
        that each bring acceptance closer; an unconstrained one is cut off like at the budget.
        An unconstrained output also ends, untruncated, once ``stop`` holds for its text so far.
        """
        if len(prompt_tokens) + 1 > self.model.n_ctx:
            raise UsageError(f"the prompt is {len(prompt_tokens)} tokens; {self.model.name} has a context of {self.model.n_ctx}")
        max_tokens = min(max_tokens, self.model.n_ctx - len(prompt_tokens))
        self.model.fit_threads()
        refit = time.monotonic() + RECHECK
        logits = self._start(prompt_tokens)
        steps = 1
        out: list[int] = []
        pending: list[int] = []
        pieces = self.model.vocabulary.pieces
        emitted = bytearray()
        masking = guide.start() if guide is not None else None
        closing = guide.closing() if guide is not None else None
        while True:
            limit, failed = None, False
            if masking is not None and closing is not None:
                failed = masking.failed is not None  # llguidance gave up on this output: the DFA masks alone
                forced = [] if failed else masking.forced()
                if forced:
                    if len(out) + len(forced) > max_tokens:
                        return self._finish(out, steps, truncated=True)
                    for forced_token in forced:
                        if not masking.consume(forced_token):
                            raise DecodingError(f"the mask engine forced token {forced_token} and then refused it")
                        emitted += pieces[forced_token]
                    closing.advance(forced)
                    out += forced
                    pending += forced
                    continue
                mask = None if failed else masking.allowed()
                if mask is None or masking.failed is not None:  # computing the mask may be what failed
                    failed = True
                    closing.take_over(emitted)
                    ids, may_stop = closing.mask()
                    mask = masking.narrowed(Mask.from_ids(ids, self.model.n_vocab, may_stop))
                if mask.empty:
                    return self._finish(out, steps, dead_end=not mask.may_stop)
                left = max_tokens - len(out) - 1  # tokens left after this one
                if left < 0:
                    return self._finish(out, steps, truncated=not mask.may_stop)
                limit = closing.limit(left, emitted, time.monotonic() > deadline)
            else:
                mask = None
                if len(out) >= max_tokens or time.monotonic() > deadline:
                    return self._finish(out, steps, truncated=True)
            if pending:
                if time.monotonic() >= refit:  # the load may have changed since the output began
                    self.model.fit_threads()
                    refit = time.monotonic() + RECHECK
                logits = self._eval(pending)
                pending = []
                steps += 1
            token = self._sample(logits, mask, temperature, rng, closing, limit)
            if token == _CLOSED_OUT:
                return self._finish(out, steps, truncated=True)
            if token is None:
                return self._finish(out, steps)
            out.append(token)
            pending.append(token)
            if stop is not None and guide is None and stop(self._text(out)):
                return self._finish(out, steps)
            if masking is not None and closing is not None:
                if failed:
                    masking.follow(token)
                elif not masking.consume(token):
                    raise DecodingError(f"the decoder chose token {token}, which the constraint does not allow")
                emitted += pieces[token]
                closing.advance([token])

    def _text(self, tokens: list[int]) -> str:
        return self.model.vocabulary.decode(tokens).decode("utf-8", errors="replace")

    def _finish(self, tokens: list[int], steps: int, truncated: bool = False, dead_end: bool = False) -> Decoded:
        text = self._text(tokens)
        return Decoded(text=text, tokens=len(tokens), model_steps=steps, truncated=truncated, dead_end=dead_end)

    def _start(self, prompt_tokens: list[int]) -> np.ndarray:
        """Logits after the prompt, reusing the KV cache (and the last prompt's logits when the
        cache still holds that whole prompt)."""
        key = tuple(prompt_tokens)
        cached = key == self._prompt_key and self.model.cached_prefix(prompt_tokens) == len(prompt_tokens)
        if cached and self._prompt_logits is not None:
            self.model.llm.n_tokens = len(prompt_tokens)
            return self._prompt_logits
        logits = self._eval(self.model.keep_prefix(prompt_tokens)).copy()
        self._prompt_key, self._prompt_logits = key, logits
        return logits

    def _eval(self, tokens: list[int]) -> np.ndarray:
        llm = self.model.llm
        llm.eval(tokens)
        pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,))

    def _sample(
        self,
        logits: np.ndarray,
        mask: Mask | None,
        temperature: float,
        rng: np.random.Generator,
        closing: Closing | None = None,
        limit: int | None = None,
    ) -> int | None:
        """Pick the next token that ``mask`` allows (or stop); ``None`` means stop.

        The model's own choice is tried first and kept if the mask allows it: that is the choice
        masking would give (greedy), or a draw from the same renormalised distribution
        (sampling, where a refused draw is drawn again). Only when that fails are the allowed ids
        unpacked. With a byte ``limit``, a token must also leave acceptance at most that far:
        draws are checked one at a time, then the whole mask is narrowed. If nothing fits and
        the output may not stop, the result is ``_CLOSED_OUT``.
        """
        if mask is None:
            drawn = self._draw(logits, temperature, rng, 1)
            if not drawn:
                raise DecodingError("the model returned no finite logits")
            return None if drawn[0] in self.stop_ids else drawn[0]
        if limit is None:
            for token in self._draw(logits, temperature, rng, 1 if temperature <= 0 else _REJECTIONS):
                if mask.allows(int(token)):
                    return int(token)
                if mask.may_stop and token in self.stop_ids:
                    return None
        allowed = mask.ids
        candidates = np.concatenate([allowed, self.stop_ids]) if mask.may_stop else allowed
        scores = logits[candidates].astype(np.float64)
        if not np.isfinite(scores).any():
            raise DecodingError("the model returned no finite logits for any allowed token")
        for choice in self._draw(scores, temperature, rng, 1 if limit is None else _REJECTIONS, distinct=True):
            if choice >= len(allowed):
                return None
            token = int(candidates[choice])
            if limit is None or (closing is not None and closing.fits(token, limit)):
                return token
        assert closing is not None and limit is not None
        narrowed = closing.narrow(allowed, limit)
        if len(narrowed) == 0 and not mask.may_stop:
            return _CLOSED_OUT
        return self._sample(logits, Mask.from_ids(narrowed, self.model.n_vocab, mask.may_stop), temperature, rng)

    @staticmethod
    def _draw(scores: np.ndarray, temperature: float, rng: np.random.Generator, count: int,
              distinct: bool = False) -> list[int]:
        """Up to ``count`` indices into ``scores``, best first (greedy, temperature 0) or drawn from
        the softmax; ``distinct`` draws without replacement. No index has a score of -inf."""
        finite = np.isfinite(scores)
        if not finite.any():
            return []
        if temperature <= 0:
            if count == 1:
                return [int(np.argmax(scores))]
            order = np.argsort(-scores, kind="stable")[:count]
            return [int(i) for i in order if finite[i]]
        weights = np.exp((np.where(finite, scores, -np.inf) - scores[finite].max()) / temperature)
        p = weights / weights.sum()
        if distinct:
            count = min(count, int(np.count_nonzero(p)))
            return [int(i) for i in rng.choice(len(scores), size=count, replace=False, p=p)]
        cumulative = np.cumsum(p)
        return [int(i) for i in np.minimum(np.searchsorted(cumulative, rng.random(count) * cumulative[-1], side="right"),
                                           len(scores) - 1)]


_CLOSED_OUT = -1  # no allowed token closes the output in time (token ids are never negative)
