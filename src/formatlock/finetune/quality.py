"""Quality gates on fine-tuning targets: warnings about content, never about validity.

Every exported target already validates; these gates catch a teacher that wrote valid but useless
answers, field by field (a JSON pointer, array indices as ``*``):

- ``copies-schema``: a string that repeats the schema's own words (a title or description), the
  instruction, the field's name or another property's name (tags ``["category", "priority"]``);
- ``empty``: an empty or blank string where the schema leaves the text free;
- ``at-bound``: a free-text value exactly as long as the mask let it be (``maxLength``, or the
  compiler's cap on unbounded strings): the mask ended it, not the teacher, often mid-word;
- ``repeats``: a free-text value that says the same three words twice, a teacher in a loop;
- ``constant``: a field with (almost) the same value in every target, i.e. a collapsed teacher;
- ``enum-skew``: an enum field where one value takes nearly all targets.

The first four flag single examples (``--strict`` drops them); the last two describe the dataset.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..compile.compiled import DEFAULT_LIMITS
from ..schema.loading import Schema, count_keyword, iter_nodes
from ..schema.references import base_uri, local_registry, pointer_token

MIN_COPIED = 12  # characters a value must have before it counts as copied text
MIN_FOR_SHARE = 5  # targets a field needs before its distribution is judged
CONSTANT_SHARE = 0.9
ENUM_SHARE = 0.8
SMALL_DATASET = 100  # below this many examples, an export is a sample, not a dataset


@dataclass
class Finding:
    """One gate that fired on one field."""

    gate: str
    field: str
    count: int
    of: int
    sample: str

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "field": self.field, "count": self.count, "of": self.of, "sample": self.sample}

    def __str__(self) -> str:
        what = {"copies-schema": "repeat the schema's or the instruction's own words",
                "empty": "are empty strings", "constant": "have the same value",
                "at-bound": "are cut at their length limit", "repeats": "repeat themselves",
                "enum-skew": "take the same enum value"}[self.gate]
        return f"{self.field or '/'}: {self.count} of {self.of} targets {what} (e.g. {self.sample})"


@dataclass
class Report:
    """The gates' findings, and which examples (by index) the per-example gates flagged."""

    warnings: list[Finding] = field(default_factory=list)
    flagged: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"warnings": [w.as_dict() for w in self.warnings], "flagged_examples": len(self.flagged)}


def check(schema: Schema, targets: list[Any], instruction: str = "") -> Report:
    """Run every gate over ``targets`` (parsed JSON values, all valid against ``schema``)."""
    kinds = _FieldKinds(schema)
    texts = [_normal(t) for t in _schema_texts(schema.document) + [instruction]]
    keys = {_normal(key) for _, node in iter_nodes(schema.document)
            for key in node.get("properties") or {} if isinstance(key, str)}
    values: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    names: dict[str, str] = {}
    for index, target in enumerate(targets):
        for pointer, name, value in _leaves(target):
            values[pointer].append((index, value))
            names[pointer] = name
    report = Report()
    for pointer, seen in values.items():
        kind = kinds.of(pointer)
        if kind in ("text", "other"):
            strings = [(i, v) for i, v in seen if isinstance(v, str)]
            hits_of = {"copies-schema": [(i, v) for i, v in strings if _copied(v, names[pointer], texts, keys)]}
            if kind == "text":
                bound = kinds.length_bound(pointer)
                hits_of.update({"empty": [(i, v) for i, v in strings if not v.strip()],
                                "at-bound": [(i, v) for i, v in strings if len(v) == bound],
                                "repeats": [(i, v) for i, v in strings if _loops(v)]})
            for gate, hits in hits_of.items():
                if hits:
                    report.warnings.append(Finding(gate, pointer, len(hits), len(seen), _show(hits[0][1])))
                    report.flagged.update(i for i, _ in hits)
        if kind == "fixed" or len(seen) < MIN_FOR_SHARE:
            continue
        top, count = Counter(json.dumps(v, sort_keys=True) for _, v in seen).most_common(1)[0]
        gate, share = ("enum-skew", ENUM_SHARE) if kind == "enum" else ("constant", CONSTANT_SHARE)
        if count / len(seen) >= share:
            report.warnings.append(Finding(gate, pointer, count, len(seen), _show(json.loads(top))))
    return report


def _leaves(value: Any, pointer: str = "", name: str = "") -> Iterator[tuple[str, str, Any]]:
    """(pointer with indices as ``*``, the last property name, value) for every scalar in ``value``."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, f"{pointer}/{pointer_token(key)}", key)
    elif isinstance(value, list):
        for child in value:
            yield from _leaves(child, f"{pointer}/*", name)
    else:
        yield pointer, name, value


class _FieldKinds:
    """What the schema allows at a pointer: ``fixed`` (one value), ``enum``, free ``text``, or ``other``."""

    def __init__(self, schema: Schema) -> None:
        self.root = schema.document
        self.resolver = local_registry(schema.document).resolver(base_uri(schema.document))

    def of(self, pointer: str) -> str:
        nodes = self._at(pointer)
        if nodes and all(_choices(n) == 1 for n in nodes):
            return "fixed"
        if nodes and all(_choices(n) > 1 for n in nodes):
            return "enum"
        if any(is_free_text(n) for n in nodes):
            return "text"
        return "other"

    def length_bound(self, pointer: str) -> int | None:
        """The longest free text the decoder lets out at ``pointer``: the tightest ``maxLength``, or
        the string cap where that is shorter."""
        texts = [n for n in self._at(pointer) if is_free_text(n)]
        if not texts:
            return None
        cap = DEFAULT_LIMITS.free_string_chars
        limits = [limit for n in texts if (limit := count_keyword(n.get("maxLength"), None)) is not None]
        bounds = limits + ([] if cap is None else [cap])
        return min(bounds) if bounds else None

    def _at(self, pointer: str) -> list[dict[str, Any]]:
        nodes = self._expand(self.root)
        for part in pointer.split("/")[1:]:
            key = part.replace("~1", "/").replace("~0", "~")
            following = []
            for node in nodes:
                if part == "*":
                    children = [node.get("items")] + list(node.get("prefixItems") or [])
                else:
                    props = node.get("properties") or {}
                    children = [props[key]] if key in props else [node.get("additionalProperties")]
                    children += [s for p, s in (node.get("patternProperties") or {}).items() if re.search(p, key)]
                following += [n for c in children for n in self._expand(c)]
            nodes = following
        return nodes

    def _expand(self, node: Any, depth: int = 0) -> list[dict[str, Any]]:
        """``node`` and the schemas it takes in through ``$ref`` and ``allOf``/``anyOf``/``oneOf``."""
        if not isinstance(node, dict) or depth > 8:
            return []
        found = [node]
        if isinstance(node.get("$ref"), str):
            try:
                found += self._expand(self.resolver.lookup(node["$ref"]).contents, depth + 1)
            except Exception:  # noqa: BLE001 - loading already checked every ref; a gate never fails an export
                pass
        for key in ("allOf", "anyOf", "oneOf"):
            for branch in node.get(key) or []:
                found += self._expand(branch, depth + 1)
        return found


def _choices(node: dict[str, Any]) -> int:
    if "const" in node:
        return 1
    if isinstance(node.get("enum"), list):
        return len(node["enum"])
    return 0


def is_free_text(node: dict[str, Any]) -> bool:
    """A string the schema leaves free: no enum, const, format or pattern decides its words."""
    kind = node.get("type")
    is_string = kind == "string" or (isinstance(kind, list) and "string" in kind)
    return is_string and _choices(node) == 0 and "format" not in node and "pattern" not in node


def _loops(value: str, words: int = 3) -> bool:
    """Whether ``value`` says the same ``words`` consecutive words twice."""
    tokens = _normal(value).split()
    runs = [tuple(tokens[i:i + words]) for i in range(len(tokens) - words + 1)]
    return len(set(runs)) < len(runs)


def _schema_texts(node: Any) -> list[str]:
    """Every title and description in the schema."""
    texts: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("title", "description") and isinstance(value, str):
                texts.append(value)
            elif key not in ("enum", "const", "examples", "default"):
                texts += _schema_texts(value)
    elif isinstance(node, list):
        for value in node:
            texts += _schema_texts(value)
    return texts


def _normal(text: str) -> str:
    """Lower-case words, ``_`` and ``-`` separating them as spaces do (``needs_human`` is ``needs human``)."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def _copied(value: str, name: str, texts: list[str], keys: set[str]) -> bool:
    """Whether ``value`` is the field's own name or any property name of the schema, or a longer
    run of words taken from the schema's titles and descriptions or the instruction."""
    words = _normal(value)
    if words and (words == _normal(name) or words in keys):
        return True
    return len(words) >= MIN_COPIED and any(words in text for text in texts)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
