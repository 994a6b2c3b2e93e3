"""The five generation paths the benchmarks compare, behind one small interface.

Each engine gets the same rendered prompt (the model's chat template and the schema instruction
from :mod:`formatlock.compile.constraints`), greedy or seeded sampling, and the same token budget.
``prepare`` compiles a constraint and reports its time; ``run`` generates one output.
"""

from __future__ import annotations

import json
import time
from typing import Any

import llama_cpp
import llguidance
import numpy as np
import outlines
from outlines.types import JsonSchema

from ..compile.constraints import for_schema, schema_instruction
from ..errors import EnforcementError, RefusedError
from ..generation import run
from ..runtime.backends.local import decoder_for
from ..runtime.backends.server import Server, parse_ref
from ..runtime.guide import Guide, guide
from ..runtime.masks import Grammar, for_model
from ..runtime.models import load_model
from ..runtime.prompting import prompt_tokens, render

RUN_TIMEOUT_S = 120  # formatlock refuses (typed) past this; the workers are killed only later


class _Engine:
    def __init__(self, model: str) -> None:
        self.model = load_model(model)
        self.schema: Any = None

    def prepare(self, schema: Any) -> dict[str, Any]:
        started = time.perf_counter()
        self._compile(schema)
        first = time.perf_counter() - started
        started = time.perf_counter()
        self._compile(schema)
        return {"compile_s": first, "compile_cached_s": time.perf_counter() - started}

    def _compile(self, schema: Any) -> None:
        self.schema = schema

    def run(self, prompt: str, max_tokens: int, seed: int, temperature: float = 0.0) -> dict[str, Any]:
        text = render(self.model, prompt, schema_instruction(self.schema))
        prefill = self._prefill(self.model.llm.tokenize(text.encode("utf-8"), special=True))  # as create_completion does
        started = time.perf_counter()
        output, tokens, steps = self._generate(text, max_tokens, seed, temperature)
        decode = time.perf_counter() - started
        return {"text": output, "tokens": tokens, "model_steps": steps, "seconds": prefill + decode, "decode_s": decode}

    def _prefill(self, tokens: list[int]) -> float:
        """Evaluate the prompt into the KV cache and return the seconds it took.

        The prefix left in the cache by the previous call is kept, as formatlock and llama-cpp-python's
        completion do (the schema instruction leads the prompt; Outlines resets the context after
        each call, so nothing is left). The call that follows finds the whole prompt cached and
        times decoding alone.
        """
        started = time.perf_counter()
        self.model.llm.eval(self.model.keep_prefix(tokens))
        return time.perf_counter() - started

    def _generate(self, text: str, max_tokens: int, seed: int, temperature: float) -> tuple[str, int, int]:
        raise NotImplementedError


class _Completion(_Engine):
    """llama-cpp-python's own completion, optionally with a GBNF grammar."""

    grammar: Any = None

    def _generate(self, text: str, max_tokens: int, seed: int, temperature: float) -> tuple[str, int, int]:
        out = self.model.llm.create_completion(
            text, max_tokens=max_tokens, temperature=temperature, seed=seed, grammar=self.grammar
        )
        tokens = out["usage"]["completion_tokens"]
        return out["choices"][0]["text"], tokens, tokens


class Unconstrained(_Completion):
    pass


class LlamaGrammar(_Completion):
    def _compile(self, schema: Any) -> None:
        self.schema = schema
        self.grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


class Outlines(_Engine):
    """Plain ``outlines.Generator`` on the same llama.cpp model."""

    def _compile(self, schema: Any) -> None:
        self.schema = schema
        self.generator = outlines.Generator(outlines.from_llamacpp(self.model.llm, chat_mode=False),
                                            JsonSchema(json.dumps(schema)))

    def _generate(self, text: str, max_tokens: int, seed: int, temperature: float) -> tuple[str, int, int]:
        output = self.generator(text, max_tokens=max_tokens, temperature=temperature, seed=seed)
        assert isinstance(output, str)  # the llama.cpp model is synchronous
        tokens = len(self.model.llm.tokenize(output.encode("utf-8"), add_bos=False, special=False))
        return output, tokens, tokens


class Llguidance(_Engine):
    """llguidance's own JSON Schema grammar and masks (with its forced tokens), in formatlock's
    decoding loop; no budget guard, since llguidance knows no distance to acceptance."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.masks = for_model(self.model)  # the tokenizer: once per model, not part of any compile

    def _compile(self, schema: Any) -> None:
        self.schema = schema
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            schema, defaults={"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"})
        matcher = llguidance.LLMatcher(self.masks.tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise ValueError(f"llguidance: {matcher.get_error()}")
        self.guide = Guide(Grammar(self.masks, matcher), reach=lambda: 0, max_bytes=None, automaton=None)

    def _generate(self, text: str, max_tokens: int, seed: int, temperature: float) -> tuple[str, int, int]:
        tokens = self.model.llm.tokenize(text.encode("utf-8"), special=True)
        decoded = decoder_for(self.model).run(tokens, self.guide, max_tokens=max_tokens, temperature=temperature,
                                             rng=np.random.default_rng(seed))
        return decoded.text, decoded.tokens, decoded.model_steps


class Formatlock(_Engine):
    """formatlock's constrained decoder, with validation and resampling."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.model.vocabulary  # noqa: B018 - built once per model, not part of any schema's compile
        for_model(self.model)  # the mask engine's tokenizer: likewise once per model

    def _compile(self, schema: Any) -> None:
        self.schema = schema
        self.constraint = for_schema(schema)
        guide(self.constraint, self.model)

    def run(self, prompt: str, max_tokens: int, seed: int, temperature: float = 0.0) -> dict[str, Any]:
        """One output; the token budget comes from the schema (formatlock never truncates a valid output)."""
        prefill = self._prefill(prompt_tokens(self.model, prompt, self.constraint.instruction))
        return _guaranteed(self.constraint, prompt, self.model, prefill, temperature=temperature, seed=seed)


class ServerPath(_Engine):
    """A model on an OpenAI-compatible server: its own constraint in the dialect it honours, then
    formatlock's validation and retries with the errors fed back (the guarantee over a server)."""

    dialect = "auto"

    def __init__(self, model: str) -> None:
        url, name, _ = parse_ref(model)
        self.backend = Server(url, name, dialect=self.dialect)
        self.backend.open()  # the model check and the dialect probe: once, not part of any compile
        self.schema = None

    def _compile(self, schema: Any) -> None:
        self.schema = schema
        self.constraint = for_schema(schema, masked=False)

    def run(self, prompt: str, max_tokens: int, seed: int, temperature: float = 0.0) -> dict[str, Any]:
        """One output; a server's time is all one request (prefill and decoding are not told apart)."""
        row = _guaranteed(self.constraint, prompt, self.backend, 0.0, temperature=temperature, seed=seed,
                          max_tokens=max_tokens)
        row["model_steps"] = row["tokens"]  # a request is one span: one step per output token
        return row


class ServerPromptOnly(ServerPath):
    """The same server with no server-side constraint: the prompt, validation and retries alone."""

    dialect = "none"


def _guaranteed(constraint: Any, prompt: str, model: Any, prefill: float, **options: Any) -> dict[str, Any]:
    """One output of formatlock's guarantee loop on ``model`` as a bench row (``prefill`` seconds
    already spent); a typed failure or refusal is reported in the row, not raised."""
    started = time.perf_counter()
    try:
        result = run(constraint, prompt, model=model, timeout=RUN_TIMEOUT_S, **options)[0]
    except (EnforcementError, RefusedError) as exc:
        decode = time.perf_counter() - started
        return {"text": getattr(exc, "last_output", None) or "", "tokens": 0, "model_steps": 0,
                "refused": str(exc)[:300], "seconds": prefill + decode, "decode_s": decode}
    decode = time.perf_counter() - started
    return {"text": result.text, "tokens": result.tokens, "model_steps": result.model_steps,
            "attempts": len(result.attempts), "seconds": prefill + decode, "decode_s": decode}


def make_engine(name: str, model: str) -> _Engine:
    """The engine called ``name`` on ``model``."""
    classes = {"formatlock": Formatlock, "llguidance": Llguidance, "outlines": Outlines, "llama-grammar": LlamaGrammar,
               "unconstrained": Unconstrained, "server": ServerPath, "server-prompt-only": ServerPromptOnly}
    return classes[name](model)
