"""OpenAI's strict structured outputs for any schema: rewritten into the strict subset, replies mapped back.

Strict mode takes a subset of JSON Schema: an object at the root, every property required,
``additionalProperties: false`` on every object, and a short list of keywords. Instead of refusing
a schema outside that subset (as Outlines' adapter does), formatlock rewrites it:

- an optional property becomes required and nullable (``anyOf: [S, {"type": "null"}]``); a null
  that comes back for a property whose own schema takes no null is dropped before validation;
- a root that is not an object is sent as ``{"value": ...}`` and unwrapped;
- keywords strict mode does not take are left out of what is sent: they rest on the check after
  decoding, and each call records them (``Enforced.checked``);
- a schema the subset cannot say at all (a free value such as ``{}``, a ``$ref`` that is not into
  ``$defs``) is sent with ``strict: false``, as a hint.

Either way the check after decoding stays the guarantee.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from ...compile.keywords import NUMBER_KEYS
from ...schema.loading import pointer_token

# What strict mode takes (OpenAI's "Supported schemas"); anything else is left to the check.
_KEPT = frozenset(("type", "enum", "const", "pattern", *NUMBER_KEYS, "minItems", "maxItems"))
_FORMATS = frozenset(("date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"))
_TEXT = ("title", "description")  # annotations worth sending: they tell the model what a field is
_IGNORED = frozenset(("$schema", "$id", "$comment", "$anchor", "examples", "default", "deprecated", "readOnly",
                      "writeOnly", "contentEncoding", "contentMediaType"))
_DEFS = ("$defs", "definitions")
_SHAPES = ("type", "enum", "const", "anyOf", "$ref")  # a node with none of these admits any value


@dataclass
class StrictSchema:
    """A schema in OpenAI's strict form, and what is needed to map a reply back to the original."""

    document: dict[str, Any] = field(default_factory=dict)
    strict: bool = True  # False: the subset cannot say this schema; it is sent as a hint (strict: false)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (pointer, keyword) left to the check
    wrapped: bool = False  # the original root is the property "value" of the sent one
    nullable: dict[str, frozenset[str]] = field(default_factory=dict)  # sent object -> its optional properties
    dropped: dict[str, frozenset[str]] = field(default_factory=dict)  # ... those whose schema takes no null

    def move_root(self, under: str) -> None:
        """Re-key the object tables after the root moved ``under`` a wrapper (definitions stay at the root)."""
        for table in (self.nullable, self.dropped):
            for pointer in list(table):
                if not pointer.startswith(tuple(f"/{key}/" for key in _DEFS)):
                    table[under + pointer] = table.pop(pointer)

    def restore(self, value: Any) -> Any:
        """A reply to the strict schema as a value of the original one (no nulls for absent properties)."""
        if not self.strict:
            return value
        if self.wrapped:
            if not (isinstance(value, dict) and set(value) == {"value"}):
                return value  # not what was asked for: the check says why
            value = value["value"]
        self._restore(value, "/properties/value" if self.wrapped else "", 0)
        return value

    def _restore(self, value: Any, pointer: str, depth: int) -> None:
        node = _resolve(self.document, pointer)
        if depth > 200 or not isinstance(node, dict):
            return
        if isinstance(node.get("$ref"), str):
            self._restore(value, node["$ref"][1:], depth + 1)
            return
        if isinstance(value, dict):
            for name in self.dropped.get(pointer, ()):
                if name in value and value[name] is None:
                    del value[name]
            nullable = self.nullable.get(pointer, frozenset())
            for name, item in value.items():
                if name in node.get("properties", {}):
                    inner = "/anyOf/0" if name in nullable else ""
                    self._restore(item, f"{pointer}/properties/{pointer_token(name)}{inner}", depth + 1)
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for item in value:
                self._restore(item, f"{pointer}/items", depth + 1)
        for i in range(len(node.get("anyOf", []))):
            if isinstance(value, dict | list):
                self._restore(value, f"{pointer}/anyOf/{i}", depth + 1)


def strict_schema(document: Any) -> StrictSchema:
    """``document`` in OpenAI's strict form (see the module docstring)."""
    return _strict(json.dumps(document, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _strict(text: str) -> StrictSchema:
    document = json.loads(text)
    out = StrictSchema()
    rewritten = _Rewriter(out).node(document, "", "")
    if rewritten.get("type") != "object" or "anyOf" in rewritten or "$ref" in rewritten:
        defs = {key: rewritten.pop(key) for key in _DEFS if key in rewritten}
        out.move_root("/properties/value")
        rewritten = {"type": "object", "properties": {"value": rewritten}, "required": ["value"],
                     "additionalProperties": False, **defs}
        out.wrapped = True
    out.document = rewritten if out.strict else document
    return out


class _Rewriter:
    def __init__(self, out: StrictSchema) -> None:
        self.out = out

    def node(self, schema: Any, src: str, dst: str) -> dict[str, Any]:
        """The strict form of ``schema`` (at ``src`` in the original), to be placed at ``dst``."""
        if not isinstance(schema, dict) or not any(key in schema for key in (*_SHAPES, "properties", "oneOf")):
            self.out.strict = False  # true, {}, false or a node that constrains no shape
            return {}
        out: dict[str, Any] = {key: schema[key] for key in _TEXT if isinstance(schema.get(key), str)}
        for key, value in schema.items():
            if key in _KEPT:
                out[key] = value
            elif key == "format":
                self._keep_if(value in _FORMATS, out, src, key, value)
            elif key == "$ref":
                self._keep_if(isinstance(value, str) and value.startswith(("#/$defs/", "#/definitions/")),
                              out, src, key, value, hint_only=True)
            elif key in _DEFS and isinstance(value, dict):
                out[key] = {name: self.node(sub, f"{src}/{key}/{pointer_token(name)}", f"{dst}/{key}/{pointer_token(name)}")
                            for name, sub in value.items()}
            elif key in ("anyOf", "oneOf") and isinstance(value, list):
                if key == "oneOf":
                    self.out.moved.append((src, key))  # sent as anyOf: which one branch matches rests on the check
                    if "anyOf" in schema:
                        continue
                out["anyOf"] = [self.node(sub, f"{src}/{key}/{i}", f"{dst}/anyOf/{i}") for i, sub in enumerate(value)]
            elif key == "items" and isinstance(value, dict):
                out["items"] = self.node(value, f"{src}/items", f"{dst}/items")
            elif key not in (*_TEXT, *_IGNORED, "properties", "required", "additionalProperties"):
                self.out.moved.append((src, key))
        if "properties" in schema or schema.get("type") == "object":
            self._object(schema, out, src, dst)
        elif _admits(schema, "array") and "items" not in out:
            self.out.strict = False  # an array of anything
        return out

    def _keep_if(self, kept: bool, out: dict[str, Any], src: str, key: str, value: Any, hint_only: bool = False) -> None:
        if kept:
            out[key] = value
        elif hint_only:
            self.out.strict = False
        else:
            self.out.moved.append((src, key))

    def _object(self, schema: dict[str, Any], out: dict[str, Any], src: str, dst: str) -> None:
        found = schema.get("properties")
        properties: dict[str, Any] = found if isinstance(found, dict) else {}
        required = [name for name in schema.get("required", []) if isinstance(name, str)]
        if any(name not in properties for name in required):
            self.out.strict = False  # a required property the schema does not describe
        if not properties and schema.get("additionalProperties", True) is not False:
            self.out.strict = False  # a map with keys of its own choosing: strict mode would only allow {}
        optional = [name for name in properties if name not in required]
        sent: dict[str, Any] = {}
        for name, sub in properties.items():
            at = f"{dst}/properties/{pointer_token(name)}"
            if name in optional:
                sent[name] = {"anyOf": [self.node(sub, f"{src}/properties/{pointer_token(name)}", f"{at}/anyOf/0"),
                                        {"type": "null"}]}
            else:
                sent[name] = self.node(sub, f"{src}/properties/{pointer_token(name)}", at)
        out.update(type="object", properties=sent, required=list(properties), additionalProperties=False)
        if optional:
            self.out.nullable[dst] = frozenset(optional)
            self.out.dropped[dst] = frozenset(name for name in optional if not _takes_null(properties[name]))


def _admits(schema: dict[str, Any], kind: str) -> bool:
    kinds = schema.get("type")
    return kinds == kind or (isinstance(kinds, list) and kind in kinds)


def _takes_null(schema: Any) -> bool:
    """Whether ``schema`` plainly admits null (a null type, enum or const); else a null is read as absent."""
    if not isinstance(schema, dict):
        return schema is True
    return _admits(schema, "null") or None in schema.get("enum", [1]) or ("const" in schema and schema["const"] is None)


def _resolve(document: Any, pointer: str) -> Any:
    node = document
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node
