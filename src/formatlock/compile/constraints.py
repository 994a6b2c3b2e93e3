"""Compiled constraints: what output must look like (schema, regex or choice) and how to check it.

A :class:`Constraint` is a plain compiled value: the regex the decoder masks with, the most bytes
a match can have (to pick a token budget that never truncates), the words that ask a model for it,
and the checker that every output passes before it is returned. It knows no model: the runtime
turns it into masks and a budget guard for one model (:mod:`formatlock.runtime.guide`).
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import llguidance

from ..automata.distance import bounds as regex_bounds
from ..automata.fsm import canonical
from ..errors import CompileError, Enforced, Issue, UnsupportedSchemaError, UsageError
from ..lru import LRU
from ..schema.json_text import dumps as compact_json
from ..schema.loading import Schema, load_schema
from ..schema.validation import Validator
from .compiled import KeywordUse, left_to_check
from .fragments.base import alt, literal
from .json_regex import compile_schema
from .unique_arrays import Path

Kind = typing.Literal["schema", "regex", "choice"]
_SCHEMAS: LRU[tuple[str, Any], Constraint] = LRU(32)
_MAX_SCHEMA_IN_PROMPT = 3000


def schema_instruction(document: Any) -> str:
    """Words that ask for JSON matching ``document``; the schema itself when it is short enough."""
    try:
        text = compact_json(document)
    except ValueError:  # an infinite bound from a Pydantic model: JSON has no text for it
        text = ""
    if 0 < len(text) <= _MAX_SCHEMA_IN_PROMPT:
        return f"Reply with only a JSON value that matches this JSON Schema:\n{text}"
    return "Reply with only a JSON value that matches the requested schema."


def _engine_refusal(regex: str) -> str | None:
    """Why the mask engine (llguidance) cannot take ``regex``, None if it can; needs no model."""
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(llguidance.LLMatcher.grammar_from_regex(regex))
    if not is_error:
        return None
    lines = [line.strip() for line in messages[0].splitlines()]
    return next((line[len("error: "):] for line in lines if line.startswith("error: ")), lines[0] if lines else "refused")


@dataclass
class Constraint:
    """A regex to mask with, a bound on output size, and the check every output must pass."""

    kind: Kind
    regex: str | None  # None: not masked, only checked (see for_schema)
    max_bytes: int | None
    check: Callable[[str], tuple[Any, list[Issue]]]
    instruction: str | None = None
    schema: Schema | None = None
    uses: list[KeywordUse] = field(default_factory=list)
    pattern: str | None = None  # the user's regex, as given (kind "regex"), for servers that take one
    choices: tuple[str, ...] | None = None  # kind "choice"
    string_cap: int | None = None  # kind "schema": the decoder closes every JSON string by this many characters
    unique_arrays: tuple[Path, ...] = ()  # kind "schema": arrays whose items the decoder keeps unique

    _bounds: tuple[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def bounds(self) -> tuple[int, int]:
        """(fewest bytes of a match, most bytes from any point of a match to acceptance), read once."""
        if self._bounds is None:
            self._bounds = regex_bounds(self.masked_regex())
        return self._bounds

    def enforced(self, by: str) -> Enforced:
        """Decoding followed this constraint's compiled regex (``by`` a mask, or a server's grammar):
        what the compiler left to the check rests on it."""
        return Enforced(by, tuple(left_to_check(self.uses)))

    def masked_regex(self) -> str:
        """The regex a local mask enforces; a constraint made for a server (``masked=False``) has none."""
        if self.regex is None:
            raise UsageError("this constraint was made for a server (masked=False) and cannot mask a local model")
        return self.regex


def for_schema(ref: Any, *, cached: bool = True, masked: bool = True) -> Constraint:
    """Compile a schema (anything :func:`load_schema` accepts); refuse what cannot be served.

    Compiled constraints are kept in memory; ``cached=False`` compiles afresh (benchmarks).
    ``masked=False`` is for a server, which constrains in its own way or not at all: a schema the
    compiler cannot carry is then not refused but only checked (``regex`` None).
    """
    schema = load_schema(ref)
    try:
        return _compiled(schema) if cached else _compile(schema)
    except (UnsupportedSchemaError, CompileError):
        if masked:
            raise
    return Constraint(kind="schema", regex=None, max_bytes=None, check=Validator(schema).check_text,
                      instruction=schema_instruction(schema.document), schema=schema)


def _compiled(schema: Schema) -> Constraint:
    """``_compile(schema)``, from the in-memory cache where it was compiled before."""
    key = (json.dumps(schema.document, sort_keys=True), schema.pydantic_model)
    return _SCHEMAS.get_or_make(key, lambda: _compile(schema))


def for_output_type(output_type: Any, *, masked: bool = True) -> Constraint:
    """The constraint for anything :func:`formatlock.generate` takes: a Constraint; ``Literal[...]``
    of strings (a choice); Outlines' ``JsonSchema`` and ``Regex``; else a schema (anything
    :func:`load_schema` accepts: a Pydantic model, a dict, a path, a bundled name)."""
    if isinstance(output_type, Constraint):
        return output_type
    if typing.get_origin(output_type) is typing.Literal:
        return for_choice(list(typing.get_args(output_type)))
    if type(output_type).__module__.startswith("outlines.types"):
        kind = type(output_type).__name__
        if kind == "JsonSchema":
            return for_schema(json.loads(output_type.schema), masked=masked)
        if kind == "Regex":
            return for_regex(output_type.pattern)
        raise UsageError(f"formatlock takes Outlines' JsonSchema and Regex output types, not {kind}")
    return for_schema(output_type, masked=masked)


def _compile(schema: Schema) -> Constraint:
    compiled = compile_schema(schema.document)
    if compiled.unsupported or compiled.regex is None:
        first = compiled.unsupported[0] if compiled.unsupported else KeywordUse("", "schema", "unsupported", "")
        raise UnsupportedSchemaError(first.note or "cannot be enforced while decoding", first.keyword, first.pointer)
    refused = _engine_refusal(compiled.regex)
    if refused is not None:
        raise CompileError(f"the mask engine refused the compiled regex: {refused}")
    validator = Validator(schema)
    return Constraint(
        kind="schema",
        regex=compiled.regex,
        max_bytes=compiled.max_bytes,
        check=validator.check_text,
        instruction=schema_instruction(schema.document),
        schema=schema,
        uses=compiled.uses,
        string_cap=compiled.string_cap,
        unique_arrays=compiled.unique_arrays,
    )


def for_regex(pattern: str) -> Constraint:
    """Outputs that fully match ``pattern`` (Python ``re`` syntax common to the Rust engine)."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"invalid regex {pattern!r}: {exc}") from None
    try:
        regex = canonical(pattern)  # what re reads, spelled so that llguidance reads the same
        least_reach = regex_bounds(regex)  # reads every construct the budget guard and closing automaton must
    except CompileError as exc:  # the user's regex, not formatlock's compiler: the caller's to change
        raise UsageError(f"regex {pattern!r} cannot be masked: {exc}") from None
    refused = _engine_refusal(regex)
    if refused is not None:
        raise UsageError(f"regex {pattern!r} cannot be masked: {refused}")

    def check(text: str) -> tuple[Any, list[Issue]]:
        if compiled.fullmatch(text):
            return text, []
        return None, [Issue("", "pattern", f"{text!r} does not match {pattern!r}")]

    constraint = Constraint(kind="regex", regex=regex, max_bytes=None, check=check, pattern=pattern)
    constraint._bounds = least_reach  # read once above, while the errors could still be worded for the user
    return constraint


def for_choice(choices: list[str]) -> Constraint:
    """Outputs that are exactly one of ``choices``."""
    if not choices or any(not isinstance(c, str) or not c for c in choices):
        raise UsageError("choices must be one or more non-empty strings")
    allowed = set(choices)

    def check(text: str) -> tuple[Any, list[Issue]]:
        if text in allowed:
            return text, []
        return None, [Issue("", "enum", f"{text!r} is not one of {sorted(allowed)}")]

    pattern = alt(*(literal(c) for c in choices))
    return Constraint(
        kind="choice",
        regex=pattern.re,
        max_bytes=pattern.max,
        check=check,
        instruction="Reply with exactly one of: " + ", ".join(json.dumps(c) for c in choices),
        choices=tuple(choices),
    )
