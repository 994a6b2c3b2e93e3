"""Schema loading: the one place that turns what a user names into a JSON Schema.

A schema reference is a path to a JSON Schema file, the name of a bundled schema
(``invoice`` -> ``schemas/invoice.json``), a ``module:Class`` naming a Pydantic model, a dict,
or a Pydantic model class. Every schema is meta-validated against its own draft here, and
remote ``$ref`` is refused, so later stages can trust what they get.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from ..errors import InputError, SchemaError
from . import json_text
from .documents import read_limited
from .formats import for_schemas
from .references import check_refs, pointer_token

if TYPE_CHECKING:  # start-up: `import formatlock` loads this module
    from jsonschema.protocols import Validator as ValidatorClass

DEFAULT_DRAFT_URI = "https://json-schema.org/draft/2020-12/schema"
_CHECKED: set[str] = set()  # canonical JSON of schemas that passed check_schema in this process


@dataclass(frozen=True)
class Schema:
    """A loaded, meta-validated JSON Schema and where it came from."""

    document: dict[str, Any] | bool
    name: str
    source: str
    pydantic_model: type | None = None

    @property
    def id(self) -> str:
        """A stable content hash: the schema's identity in caches, logs and manifests."""
        return schema_hash(self.document)

    @property
    def title(self) -> str:
        if isinstance(self.document, dict) and isinstance(self.document.get("title"), str):
            return self.document["title"]
        return self.name


def schema_hash(document: Any) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON form of a schema."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def bundled_dir() -> Path:
    """The folder of bundled example schemas (inside the wheel, or ``schemas/`` in a checkout)."""
    packaged = resources.files("formatlock") / "bundled_schemas"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "schemas"


def bundled_names() -> list[str]:
    """Names of the bundled schemas, sorted."""
    folder = bundled_dir()
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def load_schema(ref: Any) -> Schema:
    """Load and meta-validate a schema from any of the accepted references."""
    if isinstance(ref, Schema):
        return ref
    if isinstance(ref, type) and hasattr(ref, "model_json_schema"):
        return _from_pydantic(ref, ref.__name__)
    if isinstance(ref, (dict, bool)):
        return _checked(ref, name=_title_or(ref, "schema"), source="<dict>")
    if isinstance(ref, Path):
        return _from_file(ref)
    if not isinstance(ref, str) or not ref:
        raise SchemaError(f"a schema must be a path, a bundled name, module:Class or a dict, not {type(ref).__name__}")
    path = Path(ref)
    if path.suffix == ".json" or path.exists():
        return _from_file(path)
    if ref in bundled_names():
        return _from_file(bundled_dir() / f"{ref}.json", name=ref)
    if ":" in ref:
        return _from_import(ref)
    known = ", ".join(bundled_names()) or "none"
    raise SchemaError(f"schema {ref!r} is not a file, a bundled schema ({known}) or module:Class")


def _title_or(document: Any, default: str) -> str:
    if isinstance(document, dict) and isinstance(document.get("title"), str):
        return document["title"]
    return default


def _from_file(path: Path, name: str | None = None) -> Schema:
    try:
        text = read_limited(path).decode("utf-8")
    except InputError as exc:
        raise SchemaError(f"schema file {exc}") from None
    except FileNotFoundError:
        raise SchemaError(f"schema file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read schema file {path}: {exc}") from None
    try:
        document = json_text.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"schema file {path} is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise SchemaError(f"schema file {path} nests too deeply to be read (Python's recursion limit)") from None
    except json_text.NotJSONError as exc:
        raise SchemaError(f"schema file {path} is not JSON: {exc}") from None
    return _checked(document, name=name or path.stem, source=str(path))


def _from_import(ref: str) -> Schema:
    module_name, _, attr = ref.partition(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - an import can fail in any way; report it in one line
        raise SchemaError(f"cannot import {module_name!r} for schema {ref!r}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise SchemaError(f"{module_name!r} has no attribute {attr!r}")
    if not (isinstance(target, type) and hasattr(target, "model_json_schema")):
        raise SchemaError(f"{ref!r} is not a Pydantic model class")
    return _from_pydantic(target, attr)


def _from_pydantic(model: type, name: str) -> Schema:
    try:
        document = model.model_json_schema()  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - Pydantic raises several types for unserialisable models
        raise SchemaError(f"cannot build a JSON Schema from {name}: {exc}") from None
    return _checked(document, name=name, source=f"{model.__module__}:{model.__qualname__}", pydantic_model=model)


def _checked(document: Any, name: str, source: str, pydantic_model: type | None = None) -> Schema:
    check_schema(document, source)
    return Schema(document=document, name=name, source=source, pydantic_model=pydantic_model)


def check_schema(document: Any, source: str = "schema") -> None:
    """Meta-validate against the schema's own draft; every reference must resolve inside it."""
    from jsonschema.exceptions import SchemaError as MetaError  # start-up: `import formatlock` loads this module

    if not isinstance(document, (dict, bool)):
        raise SchemaError(f"{source}: a schema must be a JSON object or boolean, not {type(document).__name__}")
    try:
        canonical = json.dumps(document, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"{source}: not a JSON document: {exc}") from None
    except RecursionError:
        raise SchemaError(f"{source}: the schema nests too deeply") from None
    if canonical in _CHECKED:
        return
    cls = validator_class(document, source)
    try:
        cls.check_schema(document, format_checker=for_schemas(cls.FORMAT_CHECKER))
        check_refs(document, source)
    except MetaError as exc:
        pointer = "/" + "/".join(str(p) for p in exc.absolute_path)
        raise SchemaError(f"{source}: invalid schema at {pointer}: {exc.message}") from None
    except RecursionError:
        raise SchemaError(f"{source}: the schema nests too deeply to be checked (Python's recursion limit)") from None
    _CHECKED.add(canonical)


def validator_class(document: Any, source: str = "schema") -> type[ValidatorClass]:
    """The jsonschema validator class for the schema's ``$schema`` (default draft 2020-12)."""
    from jsonschema import validators  # start-up: `import formatlock` loads this module

    if isinstance(document, dict) and "$schema" in document:
        uri = document["$schema"]
        if not isinstance(uri, str):
            raise SchemaError(f"{source}: $schema must be a URI string, not {json.dumps(uri)[:80]}")
        cls = validators.validator_for(document, default=None)
        if cls is None:
            raise SchemaError(f"{source}: unknown $schema {uri!r}")
        return cls
    return validators.validator_for({"$schema": DEFAULT_DRAFT_URI})


# Keywords with no validation function that a schema may still carry (annotations, identifiers,
# content vocabulary): not typos.
_ANNOTATIONS = frozenset({
    "$schema", "$id", "id", "$anchor", "$dynamicAnchor", "$recursiveAnchor", "$defs", "definitions", "$comment",
    "$vocabulary", "title", "description", "default", "examples", "readOnly", "writeOnly", "deprecated",
    "contentMediaType", "contentEncoding", "contentSchema", "format",
})
SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")  # names -> subschemas
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_VALUES = ("not", "if", "then", "else", "additionalProperties", "additionalItems", "contains", "propertyNames",
                  "unevaluatedProperties", "unevaluatedItems", "items", "contentSchema")


@overload
def count_keyword(value: Any, default: int) -> int: ...
@overload
def count_keyword(value: Any, default: None) -> int | None: ...
def count_keyword(value: Any, default: int | None) -> int | None:
    """A count keyword's value (minLength, maxItems, ...), or ``default`` where it is not a number."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def iter_nodes(document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema that is an object, with its JSON pointer, the root first."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        pointer, node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield pointer, node
        children: list[tuple[str, Any]] = []
        for key in SCHEMA_MAPS:
            if isinstance(node.get(key), dict):
                children += [(f"{pointer}/{pointer_token(key)}/{pointer_token(name)}", child)
                             for name, child in node[key].items()]
        for key in _SCHEMA_LISTS:
            if isinstance(node.get(key), list):
                children += [(f"{pointer}/{key}/{i}", child) for i, child in enumerate(node[key])]
        for key in _SCHEMA_VALUES:
            if key in node:
                children.append((f"{pointer}/{pointer_token(key)}", node[key]))
        if isinstance(node.get("dependencies"), dict):  # draft 7: schemas or lists of names
            children += [(f"{pointer}/dependencies/{pointer_token(name)}", child)
                         for name, child in node["dependencies"].items()]
        stack.extend(reversed(children))


def unknown_keywords(document: Any) -> list[tuple[str, str, str | None]]:
    """Keywords the schema's draft does not know, as (pointer, keyword, closest known keyword or None).

    JSON Schema ignores them, so a typo such as ``maxLenght`` silently constrains nothing.
    """
    import difflib  # start-up: `import formatlock` loads this module

    known = set(validator_class(document).VALIDATORS) | _ANNOTATIONS
    candidates = sorted(known)
    found: list[tuple[str, str, str | None]] = []
    for pointer, node in iter_nodes(document):
        for key in node:
            if key not in known and not key.startswith("x-"):
                close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
                found.append((pointer, key, close[0] if close else None))
    return found
