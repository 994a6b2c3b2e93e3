"""Compiled constraints: what output must look like (schema, regex or choice) and how to check it.

A :class:`Constraint` holds the regex the decoder masks with, the most bytes a match can have
(to pick a token budget that never truncates) and the checker that every output passes before
it is returned. :meth:`Constraint.guide` gives the decoder what it needs on one model: the mask
engine's grammar (:mod:`formatlock.runtime.masks`) and, for the budget guard, the closing automaton
(:mod:`formatlock.runtime.closing`), built only when an output's budget can run short.
"""

from __future__ import annotations

import json
import re
import threading
import typing
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .automata.fsm import canonical
from .compile.json_regex import KeywordUse, compile_schema
from .compile.regexes import alt, literal
from .errors import CompileError, Issue, UnsupportedSchemaError, UsageError
from .runtime import automaton_store, closing, masks
from .runtime.decoding import Guide
from .runtime.models import Model
from .runtime.prompting import schema_instruction
from .schema.loading import Schema, load_schema
from .schema.validation import Validator

Kind = typing.Literal["schema", "regex", "choice"]
_LOCK = threading.Lock()
_MAX_SCHEMAS = 32
_SCHEMAS: OrderedDict[tuple[str, Any], Constraint] = OrderedDict()


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

    _bounds: tuple[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def bounds(self) -> tuple[int, int]:
        """(fewest bytes of a match, most bytes from any point of a match to acceptance), read once."""
        if self._bounds is None:
            self._bounds = closing.bounds(self.masked_regex())
        return self._bounds

    def masked_regex(self) -> str:
        """The regex a local mask enforces; a constraint made for a server (``masked=False``) has none."""
        if self.regex is None:
            raise UsageError("this constraint was made for a server (masked=False) and cannot mask a local model")
        return self.regex

    def guide(self, model: Model) -> Guide:
        """What the decoder needs to produce outputs of this constraint on ``model``."""
        regex = self.masked_regex()
        return Guide(masks.for_model(model).grammar(regex), lambda: self.bounds()[1], self.max_bytes,
                     lambda: automaton_store.closing_automaton(regex, model), self.string_cap)


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
    with _LOCK:
        found = _SCHEMAS.get(key)
    if found is None:
        found = _compile(schema)
        with _LOCK:
            _SCHEMAS[key] = found
            while len(_SCHEMAS) > _MAX_SCHEMAS:
                _SCHEMAS.popitem(last=False)
    return found


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
    refused = masks.grammar_error(compiled.regex)
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
    )


def for_regex(pattern: str) -> Constraint:
    """Outputs that fully match ``pattern`` (Python ``re`` syntax common to the Rust engine)."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"invalid regex {pattern!r}: {exc}") from None
    try:
        regex = canonical(pattern)  # what re reads, spelled so that llguidance reads the same
        bounds = closing.bounds(regex)  # reads every construct the budget guard and closing automaton must
    except CompileError as exc:  # the user's regex, not formatlock's compiler: the caller's to change
        raise UsageError(f"regex {pattern!r} cannot be masked: {exc}") from None
    refused = masks.grammar_error(regex)
    if refused is not None:
        raise UsageError(f"regex {pattern!r} cannot be masked: {refused}")

    def check(text: str) -> tuple[Any, list[Issue]]:
        if compiled.fullmatch(text):
            return text, []
        return None, [Issue("", "pattern", f"{text!r} does not match {pattern!r}")]

    constraint = Constraint(kind="regex", regex=regex, max_bytes=None, check=check, pattern=pattern)
    constraint._bounds = bounds  # read once above, while the errors could still be worded for the user
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
