"""The decoding loop: llama.cpp logits, the constraint's mask, sampling, jump-forward.

One call produces one output. The prompt's KV cache is reused across calls that share it.
Forced text costs no model step: its tokens are queued and evaluated in one batch with the next
sampled position. Generation stops only in a final state of the automaton.

A constrained output never runs out of budget mid-document: each step only allows tokens after
which the document can still be closed in the tokens left, so a model that rambles is steered to
close its strings and brackets in time. Past the deadline, or where the shortest way to the end
has more bytes than there are tokens left, only tokens that bring the end closer are allowed.
Unconstrained output is simply cut off (marked truncated) at the budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .automaton import Automaton
from .errors import DecodingError, UsageError
from .models import Model


@dataclass
class Decoded:
    """One raw output and how it ended."""

    text: str
    tokens: int
    model_steps: int
    truncated: bool = False
    dead_end: bool = False


class Decoder:
    """Runs constrained (or free) decoding on one model; callers hold ``model.lock``."""

    def __init__(self, model: Model) -> None:
        import llama_cpp

        self.model = model
        self._llama_cpp = llama_cpp
        vocab = llama_cpp.llama_model_get_vocab(model.llm.model)
        self.stop_ids = np.array(
            [t for t in range(model.n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)] or [model.eos_id], dtype=np.int64
        )
        self._prompt_key: tuple[int, ...] | None = None
        self._prompt_logits: np.ndarray | None = None

    def run(
        self,
        prompt_tokens: list[int],
        automaton: Automaton | None,
        *,
        max_tokens: int,
        temperature: float,
        rng: np.random.Generator,
        deadline: float = float("inf"),
        stop: Callable[[str], bool] | None = None,
    ) -> Decoded:
        """Decode one output for ``prompt_tokens`` under ``automaton`` (``None`` = unconstrained).

        Past ``deadline`` (a ``time.monotonic()`` value) a constrained output is closed with tokens
        that each bring acceptance closer; an unconstrained one is cut off like at the budget.
        An unconstrained output also ends, untruncated, once ``stop`` holds for its text so far.
        """
        if len(prompt_tokens) + 1 > self.model.n_ctx:
            raise UsageError(f"the prompt is {len(prompt_tokens)} tokens; {self.model.name} has a context of {self.model.n_ctx}")
        max_tokens = min(max_tokens, self.model.n_ctx - len(prompt_tokens))
        logits = self._start(prompt_tokens)
        steps = 1
        out: list[int] = []
        pending: list[int] = []
        state = automaton.initial_state if automaton is not None else 0
        while True:
            if automaton is not None:
                forced, after = automaton.forced(state)
                if forced:
                    if len(out) + len(forced) > max_tokens:
                        return self._finish(out, steps, truncated=True)
                    out += forced
                    pending += forced
                    state = after
                    continue
                info = automaton.info(state)
                if len(info.allowed) == 0:
                    return self._finish(out, steps, dead_end=not info.may_stop)
                allowed, may_stop = info.allowed, info.may_stop
                left = max_tokens - len(out) - 1  # tokens left after this one
                needed = automaton.distance(state) - 1  # bytes, so tokens at the most
                if left >= 0 and (needed > left or time.monotonic() > deadline):
                    # Past the deadline, or when even one token per byte would not fit (multi-byte
                    # tokens may still): close by the shortest way, each token bringing the end closer.
                    left = needed
                if info.reach > left:
                    allowed = automaton.within(state, left)
                    if len(allowed) == 0 and not may_stop:
                        return self._finish(out, steps, truncated=True)
            else:
                allowed, may_stop = None, True
                if len(out) >= max_tokens or time.monotonic() > deadline:
                    return self._finish(out, steps, truncated=True)
            if pending:
                logits = self._eval(pending)
                pending = []
                steps += 1
            token = self._sample(logits, allowed, may_stop, temperature, rng)
            if token is None:
                return self._finish(out, steps)
            out.append(token)
            pending.append(token)
            if stop is not None and automaton is None and stop(self._text(out)):
                return self._finish(out, steps)
            if automaton is not None:
                following = automaton.advance(state, token)
                if following is None:
                    raise DecodingError(f"the decoder chose token {token}, which the constraint does not allow")
                state = following

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
        pointer = self._llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,))

    def _sample(
        self,
        logits: np.ndarray,
        allowed: np.ndarray | None,
        may_stop: bool,
        temperature: float,
        rng: np.random.Generator,
    ) -> int | None:
        """Pick the next token among ``allowed`` (or stop); ``None`` means stop."""
        if allowed is None:
            candidates = np.arange(len(logits))
        elif may_stop:
            candidates = np.concatenate([allowed, self.stop_ids])
        else:
            candidates = allowed
        scores = logits[candidates].astype(np.float64)
        if not np.isfinite(scores).any():
            raise DecodingError("the model returned no finite logits for any allowed token")
        if temperature <= 0:
            choice = int(np.argmax(scores))
        else:
            scores = (scores - scores.max()) / temperature
            weights = np.exp(scores)
            choice = int(rng.choice(len(candidates), p=weights / weights.sum()))
        token = int(candidates[choice])
        stops = token in self.stop_ids if allowed is None else choice >= len(allowed)
        return None if stops else token
