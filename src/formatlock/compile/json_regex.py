"""Compile a JSON Schema into a regex over compact JSON text, and say how each keyword is enforced.

Every assertion keyword met while walking the schema is recorded with its JSON pointer and one
of three enforcements:

- ``mask``: compiled into the regex, so decoding cannot violate it;
- ``resample``: not (fully) expressible in the regex; outputs are validated and resampled;
- ``unsupported``: no output can be produced; generation is refused before it starts.

The regex is *sound*: every text it matches is JSON that meets the masked keywords. It may be
narrower than the schema (no whitespace, no exponents, bounded lengths, optional members in
declared order, recursion unrolled to a bounded depth), but it is never empty when it is
returned. :class:`~formatlock.compile.compiled.Limits` holds every bound; docs/keywords.md explains
them. The rules live with their keyword family (:mod:`.combinators`, :mod:`.scalars`,
:mod:`.containers`, on the shared :mod:`.walk`); this module joins them.
"""

from __future__ import annotations

from typing import Any

from ..schema.references import Resolver
from .algebra import ref_of
from .combinators import Combinators
from .compiled import DEFAULT_LIMITS, MASK, UNSUPPORTED, CompiledSchema, KeywordUse, Limits
from .containers import Containers
from .fragments.base import Frag, alt, literal
from .keywords import ASSERTIONS, CHECKED_AFTER_DECODING
from .scalars import Scalars
from .unique_arrays import unique_arrays
from .walk import TooLargeError


def compile_schema(document: Any, limits: Limits = DEFAULT_LIMITS) -> CompiledSchema:
    """Compile a (meta-validated) schema document into a regex and an enforcement report.

    When the regex outgrows ``limits.max_size``, the free-length bounds and then the recursion
    depth are lowered; a schema that fits none of these is refused (``unsupported``).
    """
    attempt: Limits | None = limits
    reason = ""
    refs = Resolver(document)  # one index of the document for every attempt
    while attempt is not None:
        compiler = _Compiler(document, attempt, refs)
        try:
            compiled = compiler.result(compiler.compile())
        except TooLargeError as exc:
            reason = str(exc)
            attempt = compiler.relaxed()
            continue
        if compiled.regex is not None:
            compiled.unique_arrays = unique_arrays(document, refs)
        return compiled
    note = f"the mask would be too large even with its bounds relaxed: {reason}"
    return CompiledSchema(None, None, [KeywordUse("", "schema", UNSUPPORTED, note)])


class _Compiler(Combinators, Scalars, Containers):
    """One walk of a schema under one set of limits: the keyword families joined.

    ``node`` returns None when no value of a subschema can be produced (within the bounds); the
    reason is kept in ``failure``, and a parent that can do without the value (an optional
    member, another branch) drops it along with the keyword uses recorded inside it.
    """

    def dispatch(self, schema: dict[str, Any], ptr: str, exact: Any) -> Frag | None:
        if ref_of(schema) is not None:
            return self.ref(schema, ptr, exact)
        if "if" in schema or "allOf" in schema:
            rewritten = self.split_conditionals(schema, ptr)
            if rewritten is not None:
                return self.dispatch(rewritten, ptr, exact)
        if "allOf" in schema:
            return self.all_of(schema, ptr, exact)
        if "anyOf" in schema or "oneOf" in schema:
            return self.any_of(schema, ptr, exact)
        if "const" in schema or "enum" in schema:
            return self.choices(schema, ptr, exact)
        if "not" in schema and _admits_all(schema["not"]):
            self.fail(ptr, "not", "`not` of a schema that admits every value: no value is valid")
            return None
        for key in schema.keys() & CHECKED_AFTER_DECODING:
            if key == "uniqueItems" and schema[key] is False:
                self.record(ptr, key, MASK, "false: no constraint")
            elif key == "uniqueItems":
                self.checked(ptr, key, "held by the decoder for string, number and literal items")
            else:
                self.checked(ptr, key)
        types = self.types(schema)
        if "type" in schema:
            self.record(ptr, "type", MASK)
        frags = []
        for kind in types:
            mark = len(self.log)
            frag = self.typed(kind, schema, ptr)
            if frag is None:
                del self.log[mark:]
            else:
                frags.append(frag)
        if not frags:
            if len(types) != 1:
                self.fail(ptr, "type", "no value of an allowed type satisfies the schema")
            return None
        return alt(*frags)

    def typed(self, kind: str, schema: dict[str, Any], ptr: str) -> Frag | None:
        if kind == "string":
            return self.string(schema, ptr)
        if kind in ("integer", "number"):
            return self.number(schema, ptr, integer=kind == "integer")
        if kind == "boolean":
            return Frag("(?:true|false)", 5)
        if kind == "null":
            return literal("null")
        if kind in ("object", "array"):
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)
            try:
                return self.object(schema, ptr) if kind == "object" else self.array(schema, ptr)
            finally:
                self.depth -= 1
        self.fail(ptr, "type", f"unknown type {kind!r}")
        return None


def _admits_all(schema: Any) -> bool:
    """Whether every JSON value is valid against ``schema`` (``true``, or nothing but annotations)."""
    return schema is True or (isinstance(schema, dict) and not schema.keys() & ASSERTIONS)
