"""Compile a JSON Schema into a regex over compact JSON text, and say how each keyword is enforced.

Every assertion keyword met while walking the schema is recorded with its JSON pointer and one
of three enforcements:

- ``mask``: compiled into the regex, so decoding cannot violate it;
- ``resample``: not (fully) expressible in the regex; outputs are validated and resampled;
- ``unsupported``: no output can be produced; generation is refused before it starts.

The regex is *sound*: every text it matches is valid JSON for the masked keywords. It may be
narrower than the schema (e.g. no optional whitespace, no exponent in numbers).
Recursive ``$ref`` is unrolled to a bounded depth; past it only non-recursive choices remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import regexes as rx
from .regexes import Frag
from .schemas import pointer_token

MASK, RESAMPLE, UNSUPPORTED = "mask", "resample", "unsupported"
MAX_REF_DEPTH = 3
MAX_GENERIC_DEPTH = 1
# Bounded repetitions multiply automaton states; past these sizes a bound is checked after
# decoding instead (see README "How keywords are enforced").
MAX_MASKED_STRING_LENGTH = 64
MAX_REPEAT_COST = 100_000  # regex characters spent on copies of one array item
MAX_REGEX_CHARS = 500_000
FREE_ARRAY_ITEMS = 16
MAX_LISTED_MULTIPLES = 256  # integer multipleOf is masked by listing the values when there are this few  # arrays without maxItems get at most minItems + this many items

# Keywords that never constrain output (annotations, structure we walk into ourselves).
_ANNOTATIONS = {
    "$schema", "$id", "id", "$comment", "$defs", "definitions", "title", "description", "default",
    "examples", "deprecated", "readOnly", "writeOnly", "$anchor", "$dynamicAnchor", "$vocabulary",
    "contentEncoding", "contentMediaType", "contentSchema", "$recursiveAnchor",
}
_STRING_KEYS = {"minLength", "maxLength", "pattern", "format"}
_NUMBER_KEYS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
_OBJECT_KEYS = {"properties", "required", "additionalProperties", "patternProperties", "minProperties",
                "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas", "dependencies",
                "unevaluatedProperties"}
_ARRAY_KEYS = {"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems",
               "contains", "minContains", "maxContains", "unevaluatedItems"}
_ALWAYS_RESAMPLED = {"not", "if", "then", "else", "uniqueItems", "contains", "minContains", "maxContains",
                     "dependentRequired", "dependentSchemas", "dependencies", "propertyNames",
                     "unevaluatedItems", "minProperties", "maxProperties"}


@dataclass(frozen=True)
class KeywordUse:
    """How one keyword at one place in the schema is enforced."""

    pointer: str
    keyword: str
    enforcement: str
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "keyword": self.keyword, "enforcement": self.enforcement, "note": self.note}


@dataclass
class CompiledSchema:
    """The regex for a schema, the most bytes a match can have, and per-keyword enforcement."""

    regex: str | None
    max_bytes: int | None
    uses: list[KeywordUse] = field(default_factory=list)

    @property
    def unsupported(self) -> list[KeywordUse]:
        return [u for u in self.uses if u.enforcement == UNSUPPORTED]


class _TooLarge(Exception):
    """The regex outgrew its budget at the current recursion depth."""


def compile_schema(document: Any, max_regex_chars: int = MAX_REGEX_CHARS) -> CompiledSchema:
    """Compile a (meta-validated) schema document into a regex and an enforcement report.

    Recursive references are unrolled to depth MAX_REF_DEPTH, then less, until the regex fits
    ``max_regex_chars``; a schema that does not fit even without recursion is refused.
    """
    for depth in range(MAX_REF_DEPTH, 0, -1):
        compiler = _Compiler(document, depth, max_regex_chars)
        try:
            frag = compiler.node(document, "")
        except (_TooLarge, RecursionError):
            continue
        if frag is None or len(frag.re) <= max_regex_chars:
            break
    else:
        compiler = _Compiler(document, 0, max_regex_chars)
        compiler.record("", "schema", UNSUPPORTED, f"the constraint exceeds {max_regex_chars} regex characters even without recursion")
        return CompiledSchema(None, None, sorted(compiler.uses.values(), key=lambda u: (u.pointer, u.keyword)))
    if frag is None and not any(u.enforcement == UNSUPPORTED for u in compiler.uses.values()):
        compiler.record("", "schema", UNSUPPORTED, "no value can satisfy the schema within the recursion bound")
    uses = sorted(compiler.uses.values(), key=lambda u: (u.pointer, u.keyword))
    if frag is None:
        return CompiledSchema(None, None, uses)
    return CompiledSchema(frag.re, frag.max, uses)


_STRENGTH = {MASK: 0, RESAMPLE: 1, UNSUPPORTED: 2}


class _Compiler:
    def __init__(self, root: Any, max_depth: int, budget: int) -> None:
        self.root = root
        self.max_depth = max_depth
        self.budget = budget
        self.uses: dict[tuple[str, str], KeywordUse] = {}
        self.ref_stack: list[str] = []

    # -- bookkeeping ------------------------------------------------------------------------
    def record(self, pointer: str, keyword: str, how: str, note: str = "") -> None:
        key = (pointer, keyword)
        old = self.uses.get(key)
        if old is None or _STRENGTH[how] > _STRENGTH[old.enforcement]:
            self.uses[key] = KeywordUse(pointer, keyword, how, note)

    # -- the walk ---------------------------------------------------------------------------
    def node(self, schema: Any, ptr: str) -> Frag | None:
        """The fragment for ``schema`` at ``ptr``; None when no value can be produced."""
        if schema is True or schema == {}:
            return generic_value(MAX_GENERIC_DEPTH)
        if schema is False:
            self.record(ptr, "false", UNSUPPORTED, "the schema `false` admits no value")
            return None
        if not isinstance(schema, dict):
            return generic_value(MAX_GENERIC_DEPTH)
        if "$ref" in schema and isinstance(schema["$ref"], str):
            return self.ref(schema, ptr)
        if "allOf" in schema:
            return self.all_of(schema, ptr)
        if "anyOf" in schema or "oneOf" in schema:
            return self.any_of(schema, ptr)
        for key in schema:
            if key in _ALWAYS_RESAMPLED:
                self.record(ptr, key, RESAMPLE, "checked after decoding")
        if "const" in schema:
            self.record(ptr, "const", MASK)
            return rx.json_literal(schema["const"])
        if "enum" in schema:
            return self.enum(schema, ptr)
        types = self.types(schema)
        frags = [f for f in (self.typed(t, schema, ptr) for t in types) if f is not None]
        if not frags:
            self.record(ptr, "type", UNSUPPORTED, "no value of an allowed type satisfies the schema")
            return None
        return rx.alt(*frags)

    def types(self, schema: dict[str, Any]) -> list[str]:
        declared = schema.get("type")
        if isinstance(declared, str):
            return [declared]
        if isinstance(declared, list) and declared:
            return [t for t in declared if isinstance(t, str)]
        keys = set(schema)
        if keys & _OBJECT_KEYS:
            return ["object"]
        if keys & _ARRAY_KEYS:
            return ["array"]
        if keys & _STRING_KEYS:
            return ["string"]
        if keys & _NUMBER_KEYS:
            return ["number"]
        return ["string", "number", "boolean", "null", "array", "object"]

    def typed(self, kind: str, schema: dict[str, Any], ptr: str) -> Frag | None:
        if "type" in schema:
            self.record(ptr, "type", MASK)
        if kind == "string":
            return self.string(schema, ptr)
        if kind == "integer":
            return self.number(schema, ptr, integer=True)
        if kind == "number":
            return self.number(schema, ptr, integer=schema.get("multipleOf") == 1)
        if kind == "boolean":
            return Frag("(?:true|false)", 5)
        if kind == "null":
            return rx.literal("null")
        if kind == "object":
            return self.object(schema, ptr)
        if kind == "array":
            return self.array(schema, ptr)
        self.record(ptr, "type", UNSUPPORTED, f"unknown type {kind!r}")
        return None

    # -- combinators ------------------------------------------------------------------------
    def ref(self, schema: dict[str, Any], ptr: str) -> Frag | None:
        ref = schema["$ref"]
        target, target_ptr = self.resolve(ref)
        if target_ptr is None:
            self.record(ptr, "$ref", UNSUPPORTED, f"cannot resolve {ref!r} inside the schema")
            return None
        if self.ref_stack.count(target_ptr) >= self.max_depth:
            self.record(ptr, "$ref", MASK, f"recursion unrolled to depth {self.max_depth}")
            return None
        self.record(ptr, "$ref", MASK)
        siblings = {k: v for k, v in schema.items() if k != "$ref" and k not in _ANNOTATIONS}
        self.ref_stack.append(target_ptr)
        try:
            if siblings:
                frag = self.all_of({"allOf": [target, siblings]}, ptr, pointers=[target_ptr, ptr])
            else:
                frag = self.node(target, target_ptr)
        finally:
            self.ref_stack.pop()
        if frag is not None and len(frag.re) > self.budget:
            raise _TooLarge
        return frag

    def resolve(self, ref: str) -> tuple[Any, str | None]:
        """Resolve a local reference: JSON pointers, ``$anchor`` names and the root's own ``$id``."""
        base, _, fragment = ref.partition("#")
        root_id = self.root.get("$id", self.root.get("id")) if isinstance(self.root, dict) else None
        if base and base != root_id:
            found = _find_by_id(self.root, base)
            if found is None:
                return None, None
            node, node_ptr = found
        else:
            node, node_ptr = self.root, ""
        if fragment and not fragment.startswith("/"):
            anchored = _find_anchor(node, fragment, node_ptr)
            return anchored if anchored is not None else (None, None)
        for token in fragment.split("/")[1:] if fragment else []:
            token = unquote(token).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return None, None
            node_ptr += "/" + pointer_token(token)
        return node, node_ptr

    def all_of(self, schema: dict[str, Any], ptr: str, pointers: list[str] | None = None) -> Frag | None:
        parts = list(schema["allOf"])
        if pointers is None:
            self.record(ptr, "allOf", MASK)
            pointers = [f"{ptr}/allOf/{i}" for i in range(len(parts))]
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        merged: dict[str, Any] = dict(rest)
        exact = True
        for part, part_ptr in zip(parts, pointers):
            part = self.inline(part, part_ptr)
            if part is None:
                return None
            merged, ok = merge_schemas(merged, part)
            exact = exact and ok
        if not exact:
            self.record(ptr, "allOf", RESAMPLE, "subschemas could not be merged exactly; checked after decoding")
        return self.node(merged, ptr)

    def inline(self, schema: Any, ptr: str) -> Any:
        """Follow a chain of pure ``$ref``s (for merging); None when recursion is exhausted."""
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < MAX_REF_DEPTH:
            target, target_ptr = self.resolve(schema["$ref"])
            if target_ptr is None or self.ref_stack.count(target_ptr) >= self.max_depth:
                return None
            self.record(ptr, "$ref", MASK)
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = merge_schemas(target, siblings)[0] if siblings else target
            seen += 1
        return schema

    def any_of(self, schema: dict[str, Any], ptr: str) -> Frag | None:
        key = "anyOf" if "anyOf" in schema else "oneOf"
        base = {k: v for k, v in schema.items() if k != key}
        if key == "oneOf":
            self.record(ptr, "oneOf", RESAMPLE, "branches are masked; exclusivity is checked after decoding")
        else:
            self.record(ptr, "anyOf", MASK)
        frags = []
        for i, branch in enumerate(schema[key]):
            branch_ptr = f"{ptr}/{key}/{i}"
            if base:
                branch = self.inline(branch, branch_ptr)
                if branch is None:
                    continue
                merged, _ = merge_schemas(base, branch)
                frag = self.node(merged, branch_ptr)
            else:
                frag = self.node(branch, branch_ptr)
            if frag is not None:
                frags.append(frag)
        if not frags:
            return None
        return rx.alt(*frags)

    def enum(self, schema: dict[str, Any], ptr: str) -> Frag | None:
        values = schema["enum"]
        if not values:
            self.record(ptr, "enum", UNSUPPORTED, "empty enum")
            return None
        self.record(ptr, "enum", MASK)
        return rx.alt(*(rx.json_literal(v) for v in values))

    # -- scalars ----------------------------------------------------------------------------
    def string(self, schema: dict[str, Any], ptr: str) -> Frag | None:
        lo = int(schema.get("minLength", 0))
        hi = schema.get("maxLength")
        hi = None if hi is None else int(hi)
        if hi is not None and hi < lo:
            self.record(ptr, "maxLength", UNSUPPORTED, "maxLength is below minLength")
            return None
        fmt = schema.get("format")
        special: Frag | None = None
        if isinstance(fmt, str):
            special = rx.format_string(fmt)
            self.record(ptr, "format", MASK if special else RESAMPLE,
                        "" if special else f"no pattern for format {fmt!r}; checked after decoding")
        if "pattern" in schema:
            if special is None:
                try:
                    special = rx.pattern_string(schema["pattern"])
                    self.record(ptr, "pattern", MASK)
                except rx.PatternUnsupported as exc:
                    self.record(ptr, "pattern", RESAMPLE, f"{exc}; checked after decoding")
            else:
                self.record(ptr, "pattern", RESAMPLE, "format is masked instead; pattern checked after decoding")
        if special is not None:
            for key in ("minLength", "maxLength"):
                if key in schema:
                    self.record(ptr, key, RESAMPLE, "format/pattern is masked instead; checked after decoding")
            return special
        if hi is not None and hi > MAX_MASKED_STRING_LENGTH:
            self.record(ptr, "maxLength", RESAMPLE, f"over {MAX_MASKED_STRING_LENGTH}; checked after decoding")
            hi = None
        elif "maxLength" in schema:
            self.record(ptr, "maxLength", MASK)
        if lo > MAX_MASKED_STRING_LENGTH:
            self.record(ptr, "minLength", RESAMPLE, f"over {MAX_MASKED_STRING_LENGTH}; checked after decoding")
            lo = 0
        elif "minLength" in schema:
            self.record(ptr, "minLength", MASK)
        return rx.string_of_length(lo, hi)

    def number(self, schema: dict[str, Any], ptr: str, integer: bool) -> Frag | None:
        lo, hi, exact = rx.integer_bounds(schema)
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if key in schema:
                bound = schema[key]
                whole = isinstance(bound, bool) or float(bound).is_integer()
                how = MASK if (integer or whole) and exact else RESAMPLE
                self.record(ptr, key, how, "" if how == MASK else "integer part masked; exact bound checked after decoding")
        step = schema.get("multipleOf")
        multiples = _integer_multiples(lo, hi, step) if integer and step not in (None, 1) else None
        if step is not None:
            masked = step == 1 or multiples is not None
            self.record(ptr, "multipleOf", MASK if masked else RESAMPLE,
                        "" if masked else "checked after decoding (unbounded range, or not an integer step)")
        if multiples is not None:
            if not multiples:
                self.record(ptr, "multipleOf", UNSUPPORTED, "no multiple of the step lies within the bounds")
                return None
            return rx.alt(*(rx.literal(str(v)) for v in multiples))
        frag = rx.integer_range(lo, hi) if integer else rx.number_range(lo, hi)
        if frag is None:
            self.record(ptr, "minimum" if "minimum" in schema else "exclusiveMinimum", UNSUPPORTED, "empty range")
        return frag

    # -- containers -------------------------------------------------------------------------
    def object(self, schema: dict[str, Any], ptr: str) -> Frag | None:
        props = schema.get("properties") or {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        extra = schema.get("additionalProperties", True)
        if "properties" in schema:
            self.record(ptr, "properties", MASK)
        if "required" in schema:
            self.record(ptr, "required", MASK)
        if "patternProperties" in schema:
            self.record(ptr, "patternProperties", RESAMPLE, "no pattern-named keys are generated; checked after decoding")
        if "additionalProperties" in schema:
            self.record(ptr, "additionalProperties", MASK)
        if "unevaluatedProperties" in schema:
            self.record(ptr, "unevaluatedProperties", MASK if not props or extra is False or schema["unevaluatedProperties"] is not False else RESAMPLE)
        members: list[tuple[bool, Frag]] = []
        for name, sub in props.items():
            value = self.node(sub, f"{ptr}/properties/{pointer_token(name)}")
            is_required = name in required
            if value is None:
                if is_required:
                    return None
                continue
            members.append((is_required, rx.seq(rx.json_literal(name), rx.literal(":"), value)))
        for name in required:
            if name not in props:
                value_schema = extra if isinstance(extra, dict) else True
                value = self.node(value_schema, f"{ptr}/additionalProperties")
                if value is None:
                    return None
                members.append((True, rx.seq(rx.json_literal(name), rx.literal(":"), value)))
        if not props and isinstance(extra, dict) and not required:
            value = self.node(extra, f"{ptr}/additionalProperties")
            pair = rx.seq(rx.ANY_STRING, rx.literal(":"), value) if value is not None else None
            if pair is None:
                return rx.literal("{}")
            return rx.seq(rx.literal("{"), rx.repeat(rx.seq(pair, rx.repeat(rx.seq(rx.literal(","), pair), 0, None)), 0, 1), rx.literal("}"))
        if not props and not required and extra is not False and "patternProperties" not in schema:
            return generic_object(MAX_GENERIC_DEPTH)
        return rx.seq(rx.literal("{"), ordered_members(members), rx.literal("}"))

    def array(self, schema: dict[str, Any], ptr: str) -> Frag | None:
        lo = int(schema.get("minItems", 0))
        hi = schema.get("maxItems")
        hi = None if hi is None else int(hi)
        if hi is not None and hi < lo:
            self.record(ptr, "maxItems", UNSUPPORTED, "maxItems is below minItems")
            return None
        items = schema.get("items")
        prefix = schema.get("prefixItems")
        rest_key = "items"
        if isinstance(items, list):  # draft 4-2019 tuple form
            prefix, items, rest_key = items, schema.get("additionalItems", True), "additionalItems"
        for key in ("items", "prefixItems", "additionalItems"):
            if key in schema:
                self.record(ptr, key, MASK)
        head: list[Frag] = []
        for i, sub in enumerate(prefix or []):
            if hi is not None and i >= hi:
                break
            frag = self.node(sub, f"{ptr}/{'prefixItems' if 'prefixItems' in schema else 'items'}/{i}")
            if frag is None:
                if i < lo:
                    return None
                break
            head.append(frag)
        item = None if items is False else self.node(True if items is None else items, f"{ptr}/{rest_key}")
        n_head = len(head)
        if item is None:
            if lo > n_head:
                return None
            hi = n_head if hi is None else min(hi, n_head)
        tail_lo, tail_hi = max(0, lo - n_head), None if hi is None else max(0, hi - n_head)
        if tail_hi is None and item is not None and len(item.re) * (tail_lo + FREE_ARRAY_ITEMS) <= MAX_REPEAT_COST:
            tail_hi = tail_lo + FREE_ARRAY_ITEMS  # a narrower, still valid bound: output cannot run away
        for key in ("minItems", "maxItems"):
            if key in schema:
                self.record(ptr, key, MASK)
        if item is not None and tail_hi is not None and len(item.re) * tail_hi > MAX_REPEAT_COST:
            self.record(ptr, "maxItems", RESAMPLE, "too many item copies for the mask; checked after decoding")
            tail_hi = None
        if item is not None and len(item.re) * tail_lo > MAX_REPEAT_COST:
            self.record(ptr, "minItems", RESAMPLE, "too many item copies for the mask; checked after decoding")
            tail_lo = 0
        return rx.seq(rx.literal("["), array_body(head, lo, item, tail_lo, tail_hi), rx.literal("]"))


def _integer_multiples(lo: int | None, hi: int | None, step: Any) -> list[int] | None:
    """The multiples of an integer ``step`` within [lo, hi], when few enough to list in the mask."""
    if lo is None or hi is None or isinstance(step, bool) or not float(step).is_integer() or step <= 0:
        return None
    step = int(step)
    first = -(-lo // step) * step
    if (hi - first) // step + 1 > MAX_LISTED_MULTIPLES:
        return None
    return list(range(first, hi + 1, step))


def array_body(head: list[Frag], lo: int, item: Frag | None, tail_lo: int, tail_hi: int | None) -> Frag:
    """Comma-separated elements: the prefix items (those past minItems optional), then the tail."""
    comma = rx.literal(",")
    # Build from the right: after element i, what may follow.
    def after(i: int) -> Frag:
        if i < len(head):
            nxt = rx.seq(comma, head[i], after(i + 1))
            return nxt if i < lo else rx.repeat(nxt, 0, 1)
        if item is None or tail_hi == 0:
            return Frag("", 0)
        return rx.repeat(rx.seq(comma, item), tail_lo, tail_hi)

    if head:
        first = rx.seq(head[0], after(1))
        return first if lo > 0 else rx.repeat(first, 0, 1)
    if item is None or tail_hi == 0:
        return Frag("", 0)
    rest = rx.repeat(rx.seq(comma, item), max(0, tail_lo - 1), None if tail_hi is None else tail_hi - 1)
    body = rx.seq(item, rest)
    return body if tail_lo > 0 else rx.repeat(body, 0, 1)


def ordered_members(members: list[tuple[bool, Frag]]) -> Frag:
    """Object members in declared order; optional ones may be left out, commas stay right.

    ``first(i)`` is the text for members i.. when nothing was written yet, ``later(i)`` when
    something was; the size is quadratic in the number of optional members, not exponential.
    """
    comma = rx.literal(",")
    n = len(members)
    later: list[Frag] = [Frag("", 0)] * (n + 1)
    for i in range(n - 1, -1, -1):
        required, member = members[i]
        step = rx.seq(comma, member)
        later[i] = rx.seq(step if required else rx.repeat(step, 0, 1), later[i + 1])
    first = Frag("", 0)
    for i in range(n - 1, -1, -1):
        required, member = members[i]
        with_it = rx.seq(member, later[i + 1])
        first = with_it if required else rx.alt(with_it, first) if first.re else rx.repeat(with_it, 0, 1)
    return first


# -- values of any type (bounded depth) -----------------------------------------------------

_SCALAR = rx.alt(rx.ANY_STRING, rx.number_range(None, None), Frag("(?:true|false|null)", 5))  # type: ignore[arg-type]


def generic_value(depth: int) -> Frag:
    """Any JSON value, nested at most ``depth`` containers deep."""
    if depth <= 0:
        return _SCALAR
    return rx.alt(_SCALAR, generic_array(depth), generic_object(depth))


def generic_array(depth: int) -> Frag:
    inner = generic_value(depth - 1)
    return rx.seq(rx.literal("["), rx.repeat(rx.seq(inner, rx.repeat(rx.seq(rx.literal(","), inner), 0, None)), 0, 1), rx.literal("]"))


def generic_object(depth: int) -> Frag:
    pair = rx.seq(rx.ANY_STRING, rx.literal(":"), generic_value(depth - 1))
    return rx.seq(rx.literal("{"), rx.repeat(rx.seq(pair, rx.repeat(rx.seq(rx.literal(","), pair), 0, None)), 0, 1), rx.literal("}"))


# -- merging (allOf) ------------------------------------------------------------------------

_MIN_KEYS = {"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"}
_MAX_KEYS = {"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"}


def merge_schemas(a: Any, b: Any) -> tuple[Any, bool]:
    """The conjunction of two schemas as one schema, and whether the merge is exact.

    Where two values cannot be combined the first is kept and ``exact`` is False: the result
    is then checked after decoding against the original schema.
    """
    if a is True or a == {}:
        return b, True
    if b is True or b == {}:
        return a, True
    if a is False or b is False:
        return False, True
    if not isinstance(a, dict) or not isinstance(b, dict):
        return a, False
    out = dict(a)
    exact = True
    for key, value in b.items():
        if key in _ANNOTATIONS or key not in out:
            out.setdefault(key, value)
            continue
        current = out[key]
        if current == value:
            continue
        if key in _MIN_KEYS and _is_number(current) and _is_number(value):
            out[key] = max(current, value)
        elif key in _MAX_KEYS and _is_number(current) and _is_number(value):
            out[key] = min(current, value)
        elif key == "required":
            out[key] = list(dict.fromkeys([*current, *value]))
        elif key == "properties":
            props = dict(current)
            for name, sub in value.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            out[key] = props
        elif key == "type":
            left = current if isinstance(current, list) else [current]
            right = value if isinstance(value, list) else [value]
            both = [t for t in left if t in right or (t == "integer" and "number" in right)]
            both += [t for t in right if t == "integer" and "number" in left and t not in both]
            out[key] = both[0] if len(both) == 1 else both
        elif key == "enum":
            out[key] = [v for v in current if v in value]
        elif key in ("items", "additionalProperties", "additionalItems") and isinstance(current, (dict, bool)) and isinstance(value, (dict, bool)):
            out[key] = {"allOf": [current, value]} if current is not True and value is not True else (value if current is True else current)
        elif key == "allOf":
            out[key] = [*current, *value]
        elif key in ("anyOf", "oneOf"):
            out["allOf"] = [*out.get("allOf", []), {key: value}]
        else:
            exact = False
    return out, exact


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _find_by_id(root: Any, uri: str) -> tuple[Any, str] | None:
    return _find(root, lambda n: n.get("$id") == uri or n.get("id") == uri, "")


def _find_anchor(root: Any, name: str, ptr: str) -> tuple[Any, str] | None:
    return _find(root, lambda n: n.get("$anchor") == name or n.get("$dynamicAnchor") == name, ptr)


def _find(node: Any, predicate: Any, ptr: str) -> tuple[Any, str] | None:
    """Depth-first search for the first subschema matching ``predicate``, with its pointer."""
    if isinstance(node, dict):
        if predicate(node):
            return node, ptr
        children: Any = node.items()
    elif isinstance(node, list):
        children = ((str(i), v) for i, v in enumerate(node))
    else:
        return None
    for key, value in children:
        if key in ("enum", "const", "examples", "default"):
            continue
        found = _find(value, predicate, f"{ptr}/{pointer_token(key)}")
        if found is not None:
            return found
    return None
