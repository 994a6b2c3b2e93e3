"""Compile a JSON Schema into a regex over compact JSON text, and say how each keyword is enforced.

Every assertion keyword met while walking the schema is recorded with its JSON pointer and one
of three enforcements:

- ``mask``: compiled into the regex, so decoding cannot violate it;
- ``resample``: not (fully) expressible in the regex; outputs are validated and resampled;
- ``unsupported``: no output can be produced; generation is refused before it starts.

The regex is *sound*: every text it matches is JSON that meets the masked keywords. It may be
narrower than the schema (no whitespace, no exponents, bounded lengths, optional members in
declared order, recursion unrolled to a bounded depth), but it is never empty when it is
returned. :class:`Limits` holds every bound; docs/keywords.md explains them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal

from ..errors import SchemaError
from ..schema.loading import count_keyword, validator_class
from ..schema.references import Resolver, pointer_token
from . import conditionals
from . import regexes as rx
from .algebra import ANNOTATIONS, REF_KEYWORDS, conjoin, json_key, merge_schemas, ref_of
from .regexes import Frag

Enforcement = Literal["mask", "resample", "unsupported"]
MASK: Enforcement = "mask"
RESAMPLE: Enforcement = "resample"
UNSUPPORTED: Enforcement = "unsupported"


@dataclass(frozen=True)
class Limits:
    """Bounds on the regex; each one narrows the language (never widens it) or refuses the schema.

    *Sizes* are regex characters with bounded repeats unrolled, about the number of automaton
    states a regex costs (see :attr:`regexes.Frag.size`).
    """

    max_size: int = 150_000  # the whole regex; past it the limits below are relaxed, then refused
    max_ref_depth: int = 3  # how often one recursive $ref target may be entered on one path
    max_nesting: int = 100  # regex group nesting (parsers limit it: Rust's regex to 250)
    max_string_length: int = 64  # minLength and pattern repeats masked up to this many characters
    # The string cap: the decoder closes every string by this many characters (runtime.string_cap),
    # so the regex leaves a string with no maxLength, or a larger one, unbounded; a maxLength up
    # to it is counted in the regex. None: no cap, and a maxLength over max_string_length is resampled.
    free_string_chars: int | None = 200
    free_pattern_repeats: int | None = None  # `*`/`+` in patterns: at most lo + this repeats (None: the cap)
    free_array_items: int | None = 16  # arrays get at most minItems + this many items
    free_any_chars: int | None = None  # strings in free values ({} / true), free keys, text around
                                       # an unanchored pattern: at most this many characters (None: the cap)
    max_repeat_size: int = 20_000  # unrolled size of one array's items before maxItems is resampled
    max_listed_multiples: int = 256  # integer multipleOf masked by listing up to this many values
    optional_start_size: int = 4_000  # size spent on letting objects start at later optional members
    generic_depth: int = 1  # container depth of values a schema leaves free ({} / true)
    optional_depth: int | None = None  # containers nested deeper hold only what is required


DEFAULT_LIMITS = Limits()
# For engines that build the full token index up front (outlines-core's Index): its cost grows
# with states x vocabulary, so bounded repeats (one state per character) are kept very short.
EAGER_INDEX_LIMITS = Limits(max_size=20_000, max_string_length=8, free_string_chars=None,
                            free_pattern_repeats=None, free_array_items=None, free_any_chars=None,
                            max_repeat_size=2_000, max_listed_multiples=64, optional_start_size=1_000)


@dataclass(frozen=True)
class KeywordUse:
    """How one keyword at one place in the schema is enforced."""

    pointer: str
    keyword: str
    enforcement: Enforcement
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "keyword": self.keyword, "enforcement": self.enforcement, "note": self.note}


@dataclass
class CompiledSchema:
    """The regex for a schema, the most bytes a match can have, and per-keyword enforcement."""

    regex: str | None
    max_bytes: int | None
    uses: list[KeywordUse] = field(default_factory=list)
    size: int = 0  # the regex's unrolled size (about its automaton states)
    string_cap: int | None = None  # the decoder must close every string by this many characters

    @property
    def unsupported(self) -> list[KeywordUse]:
        return [u for u in self.uses if u.enforcement == UNSUPPORTED]

    @property
    def fully_masked(self) -> bool:
        """Every match is valid: no keyword is left to the check after decoding."""
        return self.regex is not None and all(u.enforcement == MASK for u in self.uses)


def left_to_check(uses: list[KeywordUse]) -> list[tuple[str, str]]:
    """(pointer, keyword) of every use the mask does not enforce: it rests on the check after decoding."""
    return [(use.pointer, use.keyword) for use in uses if use.enforcement != MASK]


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
            return compiler.result(compiler.compile())
        except _TooLargeError as exc:
            reason = str(exc)
            attempt = compiler.relaxed()
    note = f"the mask would be too large even with its bounds relaxed: {reason}"
    return CompiledSchema(None, None, [KeywordUse("", "schema", UNSUPPORTED, note)])


# -- the walk --------------------------------------------------------------------------------

_MAX_VISITS = 100_000  # subschemas compiled per attempt: bounds compile time whatever the schema
_BOUND_KEYS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
_OBJECT_KEYS = {"properties", "required", "additionalProperties", "patternProperties", "minProperties",
                "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas", "dependencies",
                "unevaluatedProperties"}
_ARRAY_KEYS = {"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems",
               "contains", "minContains", "maxContains", "unevaluatedItems"}
_STRING_KEYS = {"minLength", "maxLength", "pattern", "format"}
_NUMBER_KEYS = {*_BOUND_KEYS, "multipleOf"}
_ALL_TYPES = ("string", "number", "integer", "boolean", "null", "array", "object")
# Assertions the mask does not express: every output is checked against them after decoding.
_RESAMPLED = {
    "not", "if", "uniqueItems", "contains", "minContains", "maxContains", "dependentRequired",
    "dependentSchemas", "dependencies", "propertyNames", "unevaluatedItems", "unevaluatedProperties",
    "$dynamicRef", "$recursiveRef", "disallow", "extends", "divisibleBy",
}
# Every keyword that constrains an instance in some draft; anything else is an annotation.
_ASSERTIONS = frozenset({
    "type", "enum", "const", "multipleOf", *_BOUND_KEYS, *_STRING_KEYS, *_OBJECT_KEYS, *_ARRAY_KEYS,
    *_RESAMPLED, "allOf", "anyOf", "oneOf", "$ref",
})
_LEGACY_REF_DRAFTS = ("Draft3Validator", "Draft4Validator", "Draft6Validator", "Draft7Validator")


class _TooLargeError(Exception):
    """The regex outgrew its budget under the current limits."""


class _Compiler:
    """One walk of a schema under one set of limits.

    ``node`` returns None when no value of a subschema can be produced (within the bounds); the
    reason is kept in ``failure``, and a parent that can do without the value (an optional
    member, another branch) drops it along with the keyword uses recorded inside it.
    """

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
        self.pattern_limits = rx.PatternLimits(limits.free_any_chars, limits.free_pattern_repeats,
                                               limits.max_string_length)
        self._generic: Frag | None = None

    # -- bookkeeping ----------------------------------------------------------------------
    def record(self, pointer: str, keyword: str, how: Enforcement, note: str = "") -> None:
        self.log.append(KeywordUse(pointer, keyword, how, note))

    def fail(self, pointer: str, keyword: str, note: str) -> None:
        self.failure = KeywordUse(pointer, keyword, UNSUPPORTED, note)

    def compile(self) -> Frag | None:
        try:
            frag = self.node(self.root, "")
        except RecursionError:
            raise _TooLargeError("the schema nests too deeply") from None
        if frag is not None and frag.depth > self.limits.max_nesting:
            raise _TooLargeError(f"groups nest more than {self.limits.max_nesting} deep")
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
            self._generic = rx.any_value(self.limits.generic_depth, self.free_key(), self.free_count(0))
        return self._generic

    def free_string(self, lo: int) -> Frag:
        """A string of at least ``lo`` characters with no end in the regex (the string cap closes it)."""
        return rx.string_of_length(lo, None)

    def free_key(self) -> Frag:
        """A string in a free value, or a free object key."""
        top = self.limits.free_any_chars
        self.used_free = self.used_free or top is not None
        return rx.string_of_length(0, top)

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
        if self.visits > _MAX_VISITS:
            raise _TooLargeError(f"more than {_MAX_VISITS:,} subschemas to compile")
        if schema is False:
            self.fail(ptr, "false", "the schema `false` admits no value")
            return None
        if not isinstance(schema, dict) or not schema.keys() & _ASSERTIONS:
            return self.generic()
        frag = self.dispatch(schema, ptr, schema if exact is None else exact)
        if frag is not None and frag.size > self.limits.max_size:
            raise _TooLargeError(f"more than {self.limits.max_size:,} regex states")
        return frag

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
        for key in schema.keys() & _RESAMPLED:
            if key == "uniqueItems" and schema[key] is False:
                self.record(ptr, key, MASK, "false: no constraint")
            else:
                self.record(ptr, key, RESAMPLE, "checked after decoding")
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
        return rx.alt(*frags)

    def types(self, schema: dict[str, Any]) -> list[str]:
        """The types to produce: the declared ones, else those the keywords speak of (narrower)."""
        declared = schema.get("type", None)
        if isinstance(declared, str):
            kinds = [declared]
        elif isinstance(declared, list):
            kinds = [t for t in declared if isinstance(t, str)]
        else:
            keys = set(schema)
            kinds = (["object"] if keys & _OBJECT_KEYS else ["array"] if keys & _ARRAY_KEYS
                     else ["string"] if keys & _STRING_KEYS else ["number"] if keys & _NUMBER_KEYS
                     else list(_ALL_TYPES))
        return [t for t in kinds if not (t == "integer" and "number" in kinds)]

    def typed(self, kind: str, schema: dict[str, Any], ptr: str) -> Frag | None:
        if kind == "string":
            return self.string(schema, ptr)
        if kind in ("integer", "number"):
            return self.number(schema, ptr, integer=kind == "integer")
        if kind == "boolean":
            return Frag("(?:true|false)", 5)
        if kind == "null":
            return rx.literal("null")
        if kind in ("object", "array"):
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)
            try:
                return self.object(schema, ptr) if kind == "object" else self.array(schema, ptr)
            finally:
                self.depth -= 1
        self.fail(ptr, "type", f"unknown type {kind!r}")
        return None

    # -- references and combinators ---------------------------------------------------------
    def inline(self, schema: Any, ptr: str) -> tuple[Any, str, list[str], bool] | None:
        """Follow ``$ref`` chains at the top of ``schema``: the resolved schema, the pointer to
        compile it at, the targets entered, and whether siblings were merged in (None: cut)."""
        entered: list[str] = []
        merged = False
        while isinstance(schema, dict) and (ref := ref_of(schema)) is not None:
            found = self.refs.lookup(ref, schema)
            if found is None:
                self.fail(ptr, "$ref", f"cannot resolve {ref!r} within the schema")
                return None
            target, target_ptr = found
            seen = self.ref_stack.count(target_ptr) + entered.count(target_ptr)
            if seen >= self.limits.max_ref_depth:
                self.cut.add(ptr)
                self.fail(ptr, "$ref", f"recursion deeper than {self.limits.max_ref_depth} levels has no finite value")
                return None
            self.recursed = self.recursed or seen > 0
            entered.append(target_ptr)
            self.record(ptr, "$ref", MASK)
            siblings = {} if self.legacy_ref else {k: v for k, v in schema.items() if k not in REF_KEYWORDS and k not in ANNOTATIONS}
            if siblings:
                schema, exact = merge_schemas(target, siblings)
                merged = True
                if not exact:
                    self.record(ptr, "$ref", RESAMPLE, "sibling keywords merged inexactly; checked after decoding")
            else:
                schema, ptr = target, target_ptr
        return schema, ptr, entered, merged

    def entered(self, targets: list[str], schema: Any, ptr: str, exact: Any = None,
                via: Callable[[Any, str, Any], Frag | None] | None = None) -> Frag | None:
        """Compile ``schema`` (with ``via``, else as a node) with ``targets`` on the reference stack."""
        self.ref_stack.extend(targets)
        try:
            return (via or self.node)(schema, ptr, exact)
        finally:
            del self.ref_stack[len(self.ref_stack) - len(targets):]

    def ref(self, schema: dict[str, Any], ptr: str, exact: Any) -> Frag | None:
        for key in ("$dynamicRef", "$recursiveRef"):
            if key in schema:
                self.record(ptr, key, RESAMPLE, "resolved statically; checked after decoding")
        resolved = self.inline(schema, ptr)
        if resolved is None:
            return None
        target, target_ptr, targets, merged = resolved
        return self.entered(targets, target, target_ptr, exact if merged else None)

    def all_of(self, schema: dict[str, Any], ptr: str, exact: Any) -> Frag | None:
        merged: Any = {k: v for k, v in schema.items() if k != "allOf"}
        targets: list[str] = []
        precise = True
        for i, part in enumerate(schema["allOf"]):
            resolved = self.inline(part, f"{ptr}/allOf/{i}")
            if resolved is None:
                return None
            targets += resolved[2]
            merged, ok = merge_schemas(merged, resolved[0])
            precise = precise and ok
        self.record(ptr, "allOf", MASK if precise else RESAMPLE, "" if precise else "subschemas merged inexactly; checked after decoding")
        # Two alternations do not merge into one (the second is left in allOf): compiling the result
        # as a schema would come back here forever, so take our branches one by one, each merging the rest.
        alternation = isinstance(merged, dict) and "allOf" in merged and ("anyOf" in merged or "oneOf" in merged)
        return self.entered(targets, merged, ptr, exact, via=self.any_of if alternation else None)

    def split_conditionals(self, schema: dict[str, Any], ptr: str) -> dict[str, Any] | None:
        """``schema`` with the ``if``/``then``/``else`` rules (its own and its allOf parts') that test
        one property rewritten as ``anyOf`` branches (:mod:`formatlock.compile.conditionals`); None when
        none can be. The rules on the property tested most often go first."""
        parts = schema["allOf"] if isinstance(schema.get("allOf"), list) else []
        candidates = {i: self.follow(part) for i, part in enumerate(parts)}
        candidates[-1] = {k: v for k, v in schema.items() if k in ("if", "then", "else")}  # its own rule
        found = {}
        for i, part in candidates.items():
            if isinstance(part, dict) and "if" in part:
                rule = conditionals.as_conditional({**part, "if": self.follow(part["if"])})
                if rule is not None:
                    found[i] = rule
        if not found:
            return None
        view = {k: v for k, v in schema.items() if k not in ("if", "then", "else", "allOf")}
        for i in range(len(parts)):
            if i not in found:
                view = merge_schemas(view, candidates[i])[0]
        if not isinstance(view, dict) or self.types(view) != ["object"]:
            return None
        required: list[Any] = view["required"] if isinstance(view.get("required"), list) else []
        names = [c.name for c in found.values()]
        for name in sorted(dict.fromkeys(names), key=names.count, reverse=True):
            group = {i: c for i, c in found.items() if c.name == name}
            host = self.follow((view.get("properties") or {}).get(name, {}))
            values = _choices(host) if isinstance(host, dict) else None
            if values is None and isinstance(host, dict) and host.get("type") == "boolean":
                values = [True, False]
            listed = values if values is not None else conditionals.named_values(list(group.values()))
            if listed is None:
                continue
            alternatives = conditionals.branches(name, listed, values is None, name not in required,
                                                 list(group.values()), self.admissible)
            if alternatives is None:
                continue
            self.record(ptr, "if", MASK, f"rewritten as anyOf over the values of {name!r}")
            out = {k: v for k, v in schema.items() if k != "allOf" and not (-1 in group and k in ("if", "then", "else"))}
            out["allOf"] = [*(part for i, part in enumerate(parts) if i not in group), {"anyOf": alternatives}]
            return out
        return None

    def follow(self, schema: Any) -> Any:
        """The schema a bare ``$ref`` (annotations aside) leads to; anything else as it is."""
        seen: set[str] = set()
        while isinstance(schema, dict) and (ref := ref_of(schema)) is not None and ref not in seen:
            found = self.refs.lookup(ref, schema)
            if found is None or schema.keys() - ANNOTATIONS - set(REF_KEYWORDS):
                break
            seen.add(ref)
            schema = found[0]
        return schema

    def any_of(self, schema: dict[str, Any], ptr: str, exact: Any) -> Frag | None:
        key = "anyOf" if "anyOf" in schema else "oneOf"
        base = {k: v for k, v in schema.items() if k != key}
        frags, branches = [], []
        precise = True
        singles = _required_singletons(schema[key]) if key == "oneOf" and schema.get("type") in ("object", ["object"]) else None
        for i, branch in enumerate(schema[key]):
            mark = len(self.log)
            resolved = self.inline(branch, f"{ptr}/{key}/{i}")
            frag = None
            if resolved is not None:
                target, target_ptr, targets, _ = resolved
                if singles is not None:  # "exactly one of these members": the others are left out
                    target, ok = merge_schemas(target, {"properties": {k: False for j, k in enumerate(singles) if j != i}})
                    precise = precise and ok
                    target_ptr = f"{ptr}/{key}/{i}"
                if base:
                    target, ok = merge_schemas(base, target)
                    precise = precise and ok
                    target_ptr = f"{ptr}/{key}/{i}"
                branches.append(target)
                frag = self.entered(targets, target, target_ptr, conjoin(exact, branch) if base else None)
            else:
                branches.append(None)
            if frag is None:
                del self.log[mark:]
            else:
                frags.append(frag)
        if key == "anyOf" or (precise and (singles is not None or self.disjoint(branches))):
            self.record(ptr, key, MASK if precise else RESAMPLE, "" if precise else "merged inexactly; checked after decoding")
        else:
            self.record(ptr, key, RESAMPLE, "a text may match more than one branch; checked after decoding")
        if not frags:
            self.fail(ptr, key, f"no branch of {key} can be produced")
            return None
        return rx.alt(*frags)

    def disjoint(self, branches: list[Any]) -> bool:
        """Whether no output of one branch can be valid for another (so oneOf holds by masking)."""
        if any(b is None for b in branches):
            return False
        signatures = [self.signature(b) for b in branches]
        return all(_excludes(a, b) and _excludes(b, a)
                   for i, a in enumerate(signatures) for b in signatures[i + 1:])

    def signature(self, schema: Any) -> _Signature:
        if not isinstance(schema, dict):
            return _Signature(frozenset(_ALL_TYPES), frozenset(_ALL_TYPES), None, {}, {})
        values = _choices(schema)
        produced = frozenset(_type_of(v) for v in values) if values is not None else frozenset(self.types(schema))
        declared = schema.get("type")
        accepted = frozenset([declared] if isinstance(declared, str) else declared or _ALL_TYPES)
        allowed = {}
        for name, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict) and (ref := ref_of(sub)) is not None:
                found = self.refs.lookup(ref, sub)
                sub = found[0] if found else {}
            choices = _choices(sub) if isinstance(sub, dict) else None
            if choices is not None:
                allowed[name] = frozenset(json_key(v) for v in choices)
        required = set(schema.get("required", [])) if isinstance(schema.get("required"), list) else set()
        forced = {name: keys for name, keys in allowed.items() if name in required}
        keys = None if values is None else frozenset(json_key(v) for v in values)
        return _Signature(produced, accepted, keys, forced, allowed)

    def choices(self, schema: dict[str, Any], ptr: str, exact: Any) -> Frag | None:
        keyword = "const" if "const" in schema else "enum"
        values = _choices(schema) or []
        others = [k for k in schema if k not in ANNOTATIONS and k not in ("enum", "const")]
        if exact is schema:  # the values are in the enum by construction: check the rest only
            check = bool(others)
            exact = {k: v for k, v in schema.items() if k not in ("enum", "const")}
        else:  # merged: the original schemas decide
            check = True
        checked = self.admissible(values, exact) if check else values
        if checked is None:
            checked, how, note = values, RESAMPLE, "values could not be checked against the rest of the schema"
        else:
            how, note = MASK, ""
        frags = []
        for value in checked:
            try:
                text = rx.compact_json(value)
                text.encode("utf-8")
            except (ValueError, UnicodeEncodeError):  # NaN, lone surrogates: no text to write
                continue
            frags.append(rx.literal(text))
        if not frags:
            self.fail(ptr, keyword, f"no {keyword} value satisfies the rest of the schema")
            return None
        self.record(ptr, keyword, how, note)
        for key in others:
            self.record(ptr, key, how, f"holds for every {keyword} value" if how == MASK else note)
        return rx.alt(*frags)

    def admissible(self, values: list[Any], schema: Any) -> list[Any] | None:
        """The values that are valid against ``schema`` (an original subschema); None if unknown."""
        try:
            if self._validator is None:
                cls = self.validator_cls
                self._validator = cls(self.root, registry=self.refs.registry, format_checker=cls.FORMAT_CHECKER)
            check = self._validator.evolve(schema=schema)
            return [v for v in values if check.is_valid(v)]
        except Exception:  # noqa: BLE001 - unresolvable references, invalid patterns: leave it to the check after decoding
            return None

    # -- scalars ----------------------------------------------------------------------------
    def string(self, schema: dict[str, Any], ptr: str) -> Frag | None:
        lo, hi = count_keyword(schema.get("minLength"), 0), count_keyword(schema.get("maxLength"), None)
        if hi is not None and hi < lo:
            self.fail(ptr, "maxLength", "maxLength is below minLength")
            return None
        special = self.formatted(schema, ptr, lo, hi)
        if special is not None:
            frag, fits = special
            for key in ("minLength", "maxLength"):
                if key in schema:
                    self.record(ptr, key, MASK if fits else RESAMPLE, "" if fits else "format/pattern is masked instead; checked after decoding")
            return frag
        cap = self.limits.max_string_length
        if lo > cap:
            self.record(ptr, "minLength", RESAMPLE, f"over {cap} characters; checked after decoding")
            top = None
            lo = 0
        elif self.limits.free_string_chars is not None and (hi is None or hi > self.limits.free_string_chars):
            return self.bounded_string(schema, ptr, lo)
        elif self.limits.free_string_chars is not None:
            top = hi  # within the string cap: counted in the regex, masked exactly
        else:
            top = hi if hi is not None and hi <= cap else None
        if "minLength" in schema and lo <= cap:
            self.record(ptr, "minLength", MASK)
        if "maxLength" in schema:
            self.record(ptr, "maxLength", MASK if top is not None else RESAMPLE, "" if top is not None else f"over {cap} characters; checked after decoding")
        return rx.string_of_length(lo, top)

    def bounded_string(self, schema: dict[str, Any], ptr: str, lo: int) -> Frag:
        """A string of at least ``lo`` characters, left to the string cap (under any maxLength)."""
        if "minLength" in schema:
            self.record(ptr, "minLength", MASK)
        if "maxLength" in schema:
            self.record(ptr, "maxLength", MASK, f"closed by the decoder at {self.limits.free_string_chars} characters")
        return self.free_string(lo)

    def formatted(self, schema: dict[str, Any], ptr: str, lo: int, hi: int | None) -> tuple[Frag, bool] | None:
        """The string fragment a format or pattern gives, and whether it keeps to the lengths."""
        fmt = schema.get("format")
        known = rx.format_string(fmt) if isinstance(fmt, str) else None
        by_format = None
        if known is not None:
            frag, (low, high) = known
            by_format = frag, low >= lo and (hi is None or high <= hi)
        by_pattern = None
        # Both must hold; the mask takes one. A pattern anchored at both ends spells out the whole
        # string (usually narrower than the format), else the format is the safer mask.
        if "pattern" in schema and (by_format is None or rx.whole_match(schema["pattern"])):
            try:
                by_pattern = rx.pattern_string(schema["pattern"], self.pattern_limits, (lo, hi))
            except rx.PatternUnsupportedError as exc:
                self.record(ptr, "pattern", RESAMPLE, f"{exc}; checked after decoding")
            else:
                self.used_free = self.used_free or self.limits.free_pattern_repeats is not None
                self.record(ptr, "pattern", MASK)
        elif "pattern" in schema:
            self.record(ptr, "pattern", RESAMPLE, "the format is masked instead; checked after decoding")
        if by_format is not None:
            self.record(ptr, "format", *((MASK,) if by_pattern is None else
                                         (RESAMPLE, "the pattern is masked instead; checked after decoding")))
        elif isinstance(fmt, str) and fmt not in self.checked_formats:
            self.record(ptr, "format", MASK, "not asserted by the validator: an annotation")
        elif isinstance(fmt, str):
            self.record(ptr, "format", RESAMPLE, f"no mask for format {fmt!r}; checked after decoding")
        return by_pattern or by_format

    def number(self, schema: dict[str, Any], ptr: str, integer: bool) -> Frag | None:
        lower, upper = rx.number_bounds(schema)
        keys = [k for k in _BOUND_KEYS if k in schema]
        step = schema.get("multipleOf")
        if _is_whole(step):
            integer = True  # multiples of a whole step are whole numbers: narrower, still valid
        if integer:
            lo, hi = rx.integer_limits(lower, upper)
            frag = self.multiples(lo, hi, step, ptr) if step is not None else rx.integer_range(lo, hi)
        else:
            if step is not None:
                self.record(ptr, "multipleOf", RESAMPLE, "checked after decoding")
            try:
                frag = rx.decimal_range(*rx.unit_limits(lower, upper))
            except OverflowError:
                frag = None
        for key in keys:
            self.record(ptr, key, MASK)
        if frag is None:
            self.fail(ptr, keys[0] if keys else "multipleOf", "no number within the bounds can be written")
        return frag

    def multiples(self, lo: int | None, hi: int | None, step: Any, ptr: str) -> Frag | None:
        """Integers in [lo, hi] that are multiples of ``step``: listed when few, else checked later."""
        if not _is_whole(step):
            every = _divides_one(step)  # a step like 0.5 divides every integer exactly
            self.record(ptr, "multipleOf", MASK if every else RESAMPLE, "" if every else "checked after decoding")
            return rx.integer_range(lo, hi)
        whole = int(step)
        if whole == 1:
            self.record(ptr, "multipleOf", MASK)
            return rx.integer_range(lo, hi)
        if lo is None or hi is None or (hi - lo) // whole + 1 > self.limits.max_listed_multiples:
            self.record(ptr, "multipleOf", RESAMPLE, "too many multiples to list; checked after decoding")
            return rx.integer_range(lo, hi)
        self.record(ptr, "multipleOf", MASK)
        first = -(-lo // whole) * whole
        values = range(first, hi + 1, whole)
        return rx.alt(*(rx.literal(str(v)) for v in values)) if values else None

    # -- containers -------------------------------------------------------------------------
    def trimmed(self) -> bool:
        """Whether containers here hold only what is required (the size budget ran out)."""
        return self.limits.optional_depth is not None and self.depth > self.limits.optional_depth

    def object(self, schema: dict[str, Any], ptr: str) -> Frag | None:
        props = schema.get("properties") or {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)] if isinstance(schema.get("required"), list) else []
        extra = schema.get("additionalProperties", True)
        patterns = schema.get("patternProperties") or {}
        for key in ("properties", "required", "additionalProperties"):
            if key in schema:
                self.record(ptr, key, MASK)
        members: list[tuple[bool, Frag]] = []
        left_out = []
        trim = self.trimmed()
        for name in dict.fromkeys([*props, *required]):
            if trim and name not in required:
                left_out.append(name)
                continue
            where = f"{ptr}/properties/{pointer_token(name)}" if name in props else f"{ptr}/additionalProperties"
            value_schema = self.member_schema(name, props, extra, patterns, ptr)
            mark = len(self.log)
            value = self.node(value_schema, where)
            if value is None:
                if name in required:
                    return None
                del self.log[mark:]
                left_out.append(name)
                continue
            members.append((name in required, rx.seq(rx.json_literal(name), rx.literal(":"), value)))
        if left_out:
            why = "nested too deep for the size budget" if trim else "no value within the bounds"
            self.record(ptr, "properties", MASK, f"left out of the mask ({why}): " + ", ".join(left_out))
        needed = count_keyword(schema.get("minProperties"), 0) if not props else 0  # a trimmed map still needs these
        pair = None if props or (trim and not needed) else self.free_member(extra, patterns, ptr)
        if patterns and (props or (trim and not needed)):
            self.record(ptr, "patternProperties", MASK, "applied to the named members; no other keys are generated")
        body = rx.object_members(members, self.limits.optional_start_size)
        least: int = len(required)
        most: int | None = len(members)
        if pair is not None and members:
            more = self.free_count(0)
            most = None if more is None else len(members) + more
            body = rx.seq(body, rx.repeat(rx.seq(rx.literal(","), pair), 0, more))
        elif pair is not None:  # a map: its member count is the number of free pairs
            least = needed
            most = least if trim else self.free_count(least)
            cap = count_keyword(schema.get("maxProperties"), None)
            if cap is not None:
                if cap < least:
                    self.fail(ptr, "maxProperties", "maxProperties is below minProperties")
                    return None
                most = cap if most is None else min(most, cap)
            body = rx.array_items([], 0, pair, least, most)
        self.object_counts(schema, ptr, least, most)
        return rx.seq(rx.literal("{"), body, rx.literal("}"))

    def member_schema(self, name: str, props: dict[str, Any], extra: Any, patterns: dict[str, Any], ptr: str) -> Any:
        """The schema a member's value must meet: its property (or additionalProperties) and
        every patternProperties entry whose pattern the name matches."""
        matching = []
        for pattern, sub in patterns.items():
            try:
                if re.search(pattern, name):
                    matching.append(sub)
            except re.error:
                self.record(ptr, "patternProperties", RESAMPLE, "a pattern cannot be evaluated here; checked after decoding")
        if name in props:
            return _conjoin_all([props[name], *matching])
        return _conjoin_all(matching) if matching else extra

    def free_member(self, extra: Any, patterns: dict[str, Any], ptr: str) -> Frag | None:
        """A ``"key":value`` pair for members beyond the named ones, when the schema leaves keys free."""
        if patterns:
            if len(patterns) == 1:
                (pattern, sub), = patterns.items()
                try:
                    key, _ = rx.pattern_string(pattern, self.pattern_limits)
                except rx.PatternUnsupportedError:
                    key = None
                if key is not None:
                    self.record(ptr, "patternProperties", MASK)
                    value = self.optional_node(sub, f"{ptr}/patternProperties/{pointer_token(pattern)}")
                    return None if value is None else rx.seq(key, rx.literal(":"), value)
            self.record(ptr, "patternProperties", MASK, "no keys are generated for the patterns")
            return None
        if extra is False:
            return None
        value = self.optional_node(extra, f"{ptr}/additionalProperties")
        return None if value is None else rx.seq(self.free_key(), rx.literal(":"), value)

    def optional_node(self, schema: Any, ptr: str) -> Frag | None:
        """``node``, with the keyword uses inside dropped when no value can be produced."""
        mark = len(self.log)
        frag = self.node(schema, ptr)
        if frag is None:
            del self.log[mark:]
        return frag

    def object_counts(self, schema: dict[str, Any], ptr: str, least: int, most: int | None) -> None:
        """minProperties/maxProperties: masked when the members the mask allows already keep them
        (a repeated key, which JSON parsers collapse into one, is caught by the check after decoding)."""
        for key, holds in (("minProperties", lambda n: least >= n), ("maxProperties", lambda n: most is not None and most <= n)):
            if key in schema:
                ok = holds(schema[key])
                self.record(ptr, key, MASK if ok else RESAMPLE, "" if ok else "checked after decoding")

    def array(self, schema: dict[str, Any], ptr: str) -> Frag | None:
        lo, hi = count_keyword(schema.get("minItems"), 0), count_keyword(schema.get("maxItems"), None)
        if hi is not None and hi < lo:
            self.fail(ptr, "maxItems", "maxItems is below minItems")
            return None
        if isinstance(schema.get("items"), list):  # drafts 4-2019: tuple form
            prefix, rest, prefix_key, rest_key = schema["items"], schema.get("additionalItems", True), "items", "additionalItems"
        else:
            prefix, rest, prefix_key, rest_key = schema.get("prefixItems") or [], schema.get("items", True), "prefixItems", "items"
        for key in ("items", "prefixItems", "additionalItems"):
            if key in schema:
                self.record(ptr, key, MASK)
        if self.trimmed():
            hi = lo
        head: list[Frag] = []
        blocked = False  # a prefix position no value can fill: the array must end before it
        for i, sub in enumerate(prefix[:hi]):
            frag = self.node(sub, f"{ptr}/{prefix_key}/{i}") if i < lo else self.optional_node(sub, f"{ptr}/{prefix_key}/{i}")
            if frag is None:
                if i < lo:
                    return None
                blocked = True
                break
            head.append(frag)
        item = None if rest is False or blocked else (
            self.node if lo > len(head) else self.optional_node)(rest, f"{ptr}/{rest_key}")
        if item is None:
            if lo > len(head):
                if rest is False:
                    self.fail(ptr, "minItems", "more items are required than the schema allows")
                return None
            hi = len(head) if hi is None else min(hi, len(head))
        tail_lo = max(0, lo - len(head))
        tail_hi = None if hi is None else hi - len(head)
        for key in ("minItems", "maxItems"):
            if key in schema:
                self.record(ptr, key, MASK)
        if item is not None:
            if tail_hi is None:
                tail_hi = self.free_count(tail_lo)
            affordable = self.limits.max_repeat_size // max(item.size, 1)  # item copies the mask can hold
            if tail_lo > affordable:
                self.record(ptr, "minItems", RESAMPLE, "too many item copies for the mask; checked after decoding")
                tail_lo = 0
            if tail_hi is not None and tail_hi > affordable:
                tail_hi = affordable if affordable >= max(tail_lo, 1) else None  # fewer is still valid
                if tail_hi is None and "maxItems" in schema:
                    self.record(ptr, "maxItems", RESAMPLE, "too many item copies for the mask; checked after decoding")
        return rx.seq(rx.literal("["), rx.array_items(head, lo, item, tail_lo, tail_hi), rx.literal("]"))


@dataclass(frozen=True)
class _Signature:
    """What a oneOf branch's outputs look like, and what the branch accepts."""

    produced: frozenset[str]  # types the branch's regex can produce
    accepted: frozenset[str]  # types the branch's schema accepts
    values: frozenset[Any] | None  # its const/enum values (as JSON keys), if it has them
    forced: dict[str, frozenset[Any]]  # required properties with const/enum: values outputs hold
    allowed: dict[str, frozenset[Any]]  # properties with const/enum: values the schema accepts


def _excludes(a: _Signature, b: _Signature) -> bool:
    """Whether no output of branch ``a`` is valid for branch ``b``."""
    if not any(t in b.accepted or {t, *b.accepted} >= {"integer", "number"} for t in a.produced):
        return True
    if a.values is not None and b.values is not None and not a.values & b.values:
        return True
    return a.produced == {"object"} and any(
        name in b.allowed and not keys & b.allowed[name] for name, keys in a.forced.items())


def _choices(schema: dict[str, Any]) -> list[Any] | None:
    """The values const/enum allow (both: those in both), or None when neither is present."""
    if "const" in schema:
        const = schema["const"]
        if "enum" in schema and json_key(const) not in {json_key(v) for v in schema["enum"]}:
            return []
        return [const]
    return list(schema["enum"]) if isinstance(schema.get("enum"), list) else None


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(value), "null")


def _conjoin_all(schemas: list[Any]) -> Any:
    out: Any = True
    for schema in schemas:
        out = conjoin(out, schema)
    return out


def _is_whole(step: Any) -> bool:
    return isinstance(step, (int, float)) and not isinstance(step, bool) and float(step).is_integer() and step > 0


def _divides_one(step: Any) -> bool:
    """Whether ``step`` is 1/2**k, so that every integer (below 2**50) is an exact multiple."""
    if not isinstance(step, float) or step <= 0:
        return False
    inverse = 1 / Fraction(step)
    return inverse.denominator == 1 and inverse.numerator & (inverse.numerator - 1) == 0


def _at_most(value: int | None, cap: int) -> int | None:
    return None if value is None else min(value, cap)


def _required_singletons(branches: list[Any]) -> list[str] | None:
    """The member names of a ``oneOf`` whose branches each only require one distinct member
    ("give either wkid or wkt"), else None. On an object, exactly one branch holds iff exactly one
    of them is present (a non-object would pass every branch, hence the caller's type check)."""
    names = []
    for branch in branches:
        if not isinstance(branch, dict) or any(k not in ANNOTATIONS and k != "required" for k in branch):
            return None
        required = branch.get("required")
        if not isinstance(required, list) or len(required) != 1 or not isinstance(required[0], str):
            return None
        names.append(required[0])
    return names if len(set(names)) == len(names) and len(names) > 1 else None


def _admits_all(schema: Any) -> bool:
    """Whether every JSON value is valid against ``schema`` (``true``, or nothing but annotations)."""
    return schema is True or (isinstance(schema, dict) and not schema.keys() & _ASSERTIONS)
