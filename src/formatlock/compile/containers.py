"""The compiler's rules for containers: objects (named, required and free members, member counts)
and arrays (head items, repeated items, item counts)."""

from __future__ import annotations

import re
from typing import Any

from ..schema.loading import count_keyword
from ..schema.references import pointer_token
from .algebra import conjoin
from .compiled import MASK
from .fragments.base import Frag, PatternUnsupportedError, json_literal, literal, repeat, seq
from .fragments.containers import array_items, object_members
from .fragments.patterns import pattern_string
from .walk import Walk


class Containers(Walk):
    """Objects and arrays, on the shared walk."""

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
            members.append((name in required, seq(json_literal(name), literal(":"), value)))
        if left_out:
            why = "nested too deep for the size budget" if trim else "no value within the bounds"
            self.record(ptr, "properties", MASK, f"left out of the mask ({why}): " + ", ".join(left_out))
        needed = count_keyword(schema.get("minProperties"), 0) if not props else 0  # a trimmed map still needs these
        pair = None if props or (trim and not needed) else self.free_member(extra, patterns, ptr)
        if patterns and (props or (trim and not needed)):
            self.record(ptr, "patternProperties", MASK, "applied to the named members; no other keys are generated")
        body = object_members(members, self.limits.optional_start_size)
        least: int = len(required)
        most: int | None = len(members)
        if pair is not None and members:
            more = self.free_count(0)
            most = None if more is None else len(members) + more
            body = seq(body, repeat(seq(literal(","), pair), 0, more))
        elif pair is not None:  # a map: its member count is the number of free pairs
            least = needed
            most = least if trim else self.free_count(least)
            cap = count_keyword(schema.get("maxProperties"), None)
            if cap is not None:
                if cap < least:
                    self.fail(ptr, "maxProperties", "maxProperties is below minProperties")
                    return None
                most = cap if most is None else min(most, cap)
            body = array_items([], 0, pair, least, most)
        self.object_counts(schema, ptr, least, most)
        return seq(literal("{"), body, literal("}"))

    def member_schema(self, name: str, props: dict[str, Any], extra: Any, patterns: dict[str, Any], ptr: str) -> Any:
        """The schema a member's value must meet: its property (or additionalProperties) and
        every patternProperties entry whose pattern the name matches."""
        matching = []
        for pattern, sub in patterns.items():
            try:
                if re.search(pattern, name):
                    matching.append(sub)
            except re.error:
                self.checked(ptr, "patternProperties", "a pattern cannot be evaluated here")
        if name in props:
            return _conjoin_all([props[name], *matching])
        return _conjoin_all(matching) if matching else extra

    def free_member(self, extra: Any, patterns: dict[str, Any], ptr: str) -> Frag | None:
        """A ``"key":value`` pair for members beyond the named ones, when the schema leaves keys free."""
        if patterns:
            if len(patterns) == 1:
                (pattern, sub), = patterns.items()
                try:
                    key, _ = pattern_string(pattern, self.pattern_limits)
                except PatternUnsupportedError:
                    key = None
                if key is not None:
                    self.record(ptr, "patternProperties", MASK)
                    value = self.optional_node(sub, f"{ptr}/patternProperties/{pointer_token(pattern)}")
                    return None if value is None else seq(key, literal(":"), value)
            self.record(ptr, "patternProperties", MASK, "no keys are generated for the patterns")
            return None
        if extra is False:
            return None
        value = self.optional_node(extra, f"{ptr}/additionalProperties")
        return None if value is None else seq(self.free_key(), literal(":"), value)

    def object_counts(self, schema: dict[str, Any], ptr: str, least: int, most: int | None) -> None:
        """minProperties/maxProperties: masked when the members the mask allows already keep them
        (a repeated key, which JSON parsers collapse into one, is caught by the check after decoding)."""
        for key, holds in (("minProperties", lambda n: least >= n), ("maxProperties", lambda n: most is not None and most <= n)):
            if key in schema:
                ok = holds(schema[key])
                self.masked_if(ok, ptr, key)

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
                self.checked(ptr, "minItems", "too many item copies for the mask")
                tail_lo = 0
            if tail_hi is not None and tail_hi > affordable:
                tail_hi = affordable if affordable >= max(tail_lo, 1) else None  # fewer is still valid
                if tail_hi is None and "maxItems" in schema:
                    self.checked(ptr, "maxItems", "too many item copies for the mask")
        return seq(literal("["), array_items(head, lo, item, tail_lo, tail_hi), literal("]"))


def _conjoin_all(schemas: list[Any]) -> Any:
    out: Any = True
    for schema in schemas:
        out = conjoin(out, schema)
    return out
