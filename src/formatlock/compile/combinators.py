"""The compiler's rules for references and combinators: ``$ref``, ``allOf`` (merged), ``anyOf`` /
``oneOf`` (branches; ``oneOf`` masked where its branches exclude each other), ``if``/``then``/``else``
rewritten as branches, and ``enum``/``const``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..schema.json_text import dumps as compact_json
from . import conditionals
from .algebra import conjoin, json_key, merge_schemas, ref_of
from .compiled import MASK, RESAMPLE
from .fragments.base import Frag, alt, literal
from .keywords import ALL_TYPES, ANNOTATIONS, REF_KEYWORDS
from .walk import Walk


class Combinators(Walk):
    """References, combinators and enumerations, on the shared walk."""

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
                    self.checked(ptr, "$ref", "sibling keywords merged inexactly")
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
                self.checked(ptr, key, "resolved statically")
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
        self.masked_if(precise, ptr, "allOf", "subschemas merged inexactly")
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
            self.masked_if(precise, ptr, key, "merged inexactly")
        else:
            self.checked(ptr, key, "a text may match more than one branch")
        if not frags:
            self.fail(ptr, key, f"no branch of {key} can be produced")
            return None
        return alt(*frags)

    def disjoint(self, branches: list[Any]) -> bool:
        """Whether no output of one branch can be valid for another (so oneOf holds by masking)."""
        if any(b is None for b in branches):
            return False
        signatures = [self.signature(b) for b in branches]
        return all(_excludes(a, b) and _excludes(b, a)
                   for i, a in enumerate(signatures) for b in signatures[i + 1:])

    def signature(self, schema: Any) -> _Signature:
        if not isinstance(schema, dict):
            return _Signature(frozenset(ALL_TYPES), frozenset(ALL_TYPES), None, {}, {})
        values = _choices(schema)
        produced = frozenset(_type_of(v) for v in values) if values is not None else frozenset(self.types(schema))
        declared = schema.get("type")
        accepted = frozenset([declared] if isinstance(declared, str) else declared or ALL_TYPES)
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
                text = compact_json(value)
                text.encode("utf-8")
            except (ValueError, UnicodeEncodeError):  # NaN, lone surrogates: no text to write
                continue
            frags.append(literal(text))
        if not frags:
            self.fail(ptr, keyword, f"no {keyword} value satisfies the rest of the schema")
            return None
        self.record(ptr, keyword, how, note)
        for key in others:
            self.record(ptr, key, how, f"holds for every {keyword} value" if how == MASK else note)
        return alt(*frags)

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
