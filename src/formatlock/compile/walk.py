"""The walk over a schema that the compiler's keyword families share: bookkeeping of keyword uses,
the size budget and its relaxation, free values, and the step from a subschema to its fragment."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import SchemaError
from ..schema.loading import validator_class
from ..schema.references import Resolver
from .compiled import MASK, RESAMPLE, UNSUPPORTED, CompiledSchema, Enforcement, KeywordUse, Limits
from .fragments.base import Frag
from .fragments.containers import any_value
from .fragments.patterns import PatternLimits
from .fragments.strings import string_of_length
from .keywords import ALL_TYPES, ARRAY_KEYS, ASSERTIONS, NUMBER_KEYS, OBJECT_KEYS, STRING_KEYS

MAX_VISITS = 100_000  # subschemas compiled per attempt: bounds compile time whatever the schema
_LEGACY_REF_DRAFTS = ("Draft3Validator", "Draft4Validator", "Draft6Validator", "Draft7Validator")


class TooLargeError(Exception):
    """The regex outgrew its budget under the current limits."""


class Walk:
    """One walk of a schema under one set of limits: what every keyword family's rules share."""

    def __init__(self, root: Any, limits: Limits, refs: Resolver) -> None:
        self.root = root
        self.refs = refs
        self.limits = limits
        self.log: list[KeywordUse] = []
        self.failure: KeywordUse | None = None
        self.ref_stack: list[str] = []
        self.cut: set[str] = set()  # $ref pointers where recursion was cut
        self.recursed = False  # some $ref target was entered again inside itself
        self.used_free = False  # some free-length bound shaped the regex
        self.visits = 0
        self.depth = self.deepest = 0  # containers around the current subschema, and the most seen
        try:
            cls = validator_class(root)
        except SchemaError:  # an unknown $schema: compile as the default draft
            cls = validator_class({})
        self.validator_cls = cls
        self.legacy_ref = cls.__name__ in _LEGACY_REF_DRAFTS  # $ref siblings are ignored there
        self.checked_formats = set(cls.FORMAT_CHECKER.checkers)
        self._validator: Any = None
        self.pattern_limits = PatternLimits(limits.free_any_chars, limits.free_pattern_repeats, limits.max_string_length)
        self._generic: Frag | None = None

    # -- bookkeeping ----------------------------------------------------------------------
    def record(self, pointer: str, keyword: str, how: Enforcement, note: str = "") -> None:
        self.log.append(KeywordUse(pointer, keyword, how, note))

    def checked(self, pointer: str, keyword: str, why: str = "") -> None:
        """Record a keyword use the mask leaves to the check after decoding (``why``: the reason)."""
        self.record(pointer, keyword, RESAMPLE, f"{why}; checked after decoding" if why else "checked after decoding")

    def masked_if(self, holds: bool, pointer: str, keyword: str, why: str = "") -> None:
        """Record a use as masked where ``holds``, else as left to the check (``why``)."""
        if holds:
            self.record(pointer, keyword, MASK)
        else:
            self.checked(pointer, keyword, why)

    def fail(self, pointer: str, keyword: str, note: str) -> None:
        self.failure = KeywordUse(pointer, keyword, UNSUPPORTED, note)

    def compile(self) -> Frag | None:
        try:
            frag = self.node(self.root, "")
        except RecursionError:
            raise TooLargeError("the schema nests too deeply") from None
        if frag is not None and frag.depth > self.limits.max_nesting:
            raise TooLargeError(f"groups nest more than {self.limits.max_nesting} deep")
        return frag

    def result(self, frag: Frag | None) -> CompiledSchema:
        strongest: dict[tuple[str, str], KeywordUse] = {}
        order = {MASK: 0, RESAMPLE: 1, UNSUPPORTED: 2}
        for use in self.log:
            old = strongest.get((use.pointer, use.keyword))
            stronger = old is None or order[use.enforcement] > order[old.enforcement]
            if stronger or (order[use.enforcement] == order[old.enforcement] and not old.note):  # type: ignore[union-attr]
                strongest[(use.pointer, use.keyword)] = use
        for pointer in self.cut:
            ref_use = strongest.get((pointer, "$ref"))
            if ref_use is not None and ref_use.enforcement == MASK:
                strongest[(pointer, "$ref")] = replace(ref_use, note=f"recursive: unrolled {self.limits.max_ref_depth} deep")
        if frag is None:
            failure = self.failure or KeywordUse("", "schema", UNSUPPORTED, "no value satisfies the schema")
            strongest[(failure.pointer, failure.keyword)] = failure
        uses = sorted(strongest.values(), key=lambda u: (u.pointer, u.keyword))
        if frag is None:
            return CompiledSchema(None, None, uses)
        return CompiledSchema(frag.re, frag.max, uses, frag.size, self.limits.free_string_chars)

    def relaxed(self) -> Limits | None:
        """The next, looser limits worth a try after this walk outgrew its budget (None: none)."""
        limits = self.limits
        if self.used_free:
            shorter = replace(limits, free_pattern_repeats=_at_most(limits.free_pattern_repeats, 16),
                              free_array_items=_at_most(limits.free_array_items, 4),
                              free_any_chars=_at_most(limits.free_any_chars, 16))
            if shorter != limits:
                return shorter
            return replace(limits, free_pattern_repeats=None, free_array_items=None, free_any_chars=None)
        if self.recursed and limits.max_ref_depth > 1:
            return replace(limits, max_ref_depth=limits.max_ref_depth - 1)
        if limits.optional_depth is None:
            return replace(limits, optional_depth=min(self.deepest - 1, 4)) if self.deepest else None
        return replace(limits, optional_depth=limits.optional_depth - 1) if limits.optional_depth > 0 else None

    def generic(self) -> Frag:
        """Any value (bounded nesting) for a subschema that leaves the value free."""
        if self._generic is None:
            self._generic = any_value(self.limits.generic_depth, self.free_key(), self.free_count(0))
        return self._generic

    def free_string(self, lo: int) -> Frag:
        """A string of at least ``lo`` characters with no end in the regex (the string cap closes it)."""
        return string_of_length(lo, None)

    def free_key(self) -> Frag:
        """A string in a free value, or a free object key."""
        top = self.limits.free_any_chars
        self.used_free = self.used_free or top is not None
        return string_of_length(0, top)

    def free_count(self, lo: int) -> int | None:
        extra = self.limits.free_array_items
        self.used_free = self.used_free or extra is not None
        return None if extra is None else lo + extra

    # -- the walk ---------------------------------------------------------------------------
    def node(self, schema: Any, ptr: str, exact: Any = None) -> Frag | None:
        """The fragment for ``schema`` at ``ptr``; None when no value can be produced.

        ``exact`` is an original (unmerged) schema equal to the constraint here, to check
        enum values against; by default ``schema`` itself.
        """
        self.visits += 1
        if self.visits > MAX_VISITS:
            raise TooLargeError(f"more than {MAX_VISITS:,} subschemas to compile")
        if schema is False:
            self.fail(ptr, "false", "the schema `false` admits no value")
            return None
        if not isinstance(schema, dict) or not schema.keys() & ASSERTIONS:
            return self.generic()
        frag = self.dispatch(schema, ptr, schema if exact is None else exact)
        if frag is not None and frag.size > self.limits.max_size:
            raise TooLargeError(f"more than {self.limits.max_size:,} regex states")
        return frag

    def types(self, schema: dict[str, Any]) -> list[str]:
        """The types to produce: the declared ones, else those the keywords speak of (narrower)."""
        declared = schema.get("type", None)
        if isinstance(declared, str):
            kinds = [declared]
        elif isinstance(declared, list):
            kinds = [t for t in declared if isinstance(t, str)]
        else:
            keys = set(schema)
            kinds = (["object"] if keys & OBJECT_KEYS else ["array"] if keys & ARRAY_KEYS
                     else ["string"] if keys & STRING_KEYS else ["number"] if keys & NUMBER_KEYS
                     else list(ALL_TYPES))
        return [t for t in kinds if not (t == "integer" and "number" in kinds)]

    def optional_node(self, schema: Any, ptr: str) -> Frag | None:
        """``node``, with the keyword uses inside dropped when no value can be produced."""
        mark = len(self.log)
        frag = self.node(schema, ptr)
        if frag is None:
            del self.log[mark:]
        return frag

    def dispatch(self, schema: dict[str, Any], ptr: str, exact: Any) -> Frag | None:
        """The fragment for a subschema with assertions; the compiler joins the keyword families here."""
        raise NotImplementedError


def _at_most(value: int | None, cap: int) -> int | None:
    return None if value is None else min(value, cap)
