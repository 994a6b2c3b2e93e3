"""The local backend: a GGUF model run by llama.cpp in this process, masked by formatlock.

Outputs are constrained while they are made (:mod:`formatlock.runtime.decoding`), so a failed attempt is
simply sampled again; the previous attempt is not shown to the model.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from ...compile.constraints import Constraint
from ...errors import Attempt, Enforced
from .. import automaton_store
from ..decoding import Decoder
from ..guide import Guide
from ..guide import guide as guide_for
from ..models import Model, load_model
from ..prompting import Prompt, prompt_tokens
from .base import Backend, Decoded, Session

_decoders: dict[int, Decoder] = {}
_decoders_lock = threading.Lock()


def decoder_for(model: Model) -> Decoder:
    """The one decoder of ``model`` (it keeps the last prompt's logits)."""
    with _decoders_lock:
        if id(model) not in _decoders:
            _decoders[id(model)] = Decoder(model)
        return _decoders[id(model)]


class Local(Backend):
    """A loaded GGUF model; its lock serialises calls, so it is not ``concurrent``."""

    masks_locally = True

    def __init__(self, model: Model) -> None:
        self.model = model
        self.name = model.name

    @classmethod
    def open(cls, ref: str | os.PathLike[str] | Model | None) -> Local:
        return cls(load_model(ref))

    @property
    def local_model(self) -> Model:
        return self.model

    @contextmanager
    def session(self, constraint: Constraint, prompt: Prompt) -> Iterator[Session]:
        guide = guide_for(constraint, self.model)
        with self.model.lock:
            tokens = prompt_tokens(self.model, prompt, constraint.instruction)
            try:
                yield _LocalSession(decoder_for(self.model), tokens, guide, constraint.enforced("mask"))
            finally:
                automaton_store.save(constraint.masked_regex(), self.model)

    def free(self, prompt: Prompt, *, instruction: str | None, max_tokens: int, temperature: float,
             seed: int | None, stop: Callable[[str], bool] | None = None) -> Decoded:
        with self.model.lock:
            tokens = prompt_tokens(self.model, prompt, instruction)
            return decoder_for(self.model).run(tokens, None, max_tokens=max_tokens, temperature=temperature,
                                               rng=np.random.default_rng(seed), stop=stop)


class _LocalSession(Session):
    def __init__(self, decoder: Decoder, tokens: list[int], guide: Guide, enforced: Enforced) -> None:
        self.decoder, self.tokens, self.guide, self.enforced = decoder, tokens, guide, enforced

    def draw(self, *, max_tokens: int, temperature: float, seed: list[int] | None, deadline: float,
             failed: Attempt | None) -> Decoded:
        return self.decoder.run(self.tokens, self.guide, max_tokens=max_tokens, temperature=temperature,
                                rng=np.random.default_rng(seed), deadline=deadline)
