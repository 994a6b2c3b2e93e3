"""The one ``$ref`` registry: every reference in formatlock resolves through ``referencing``.

A schema's registry holds the schema itself and the bundled metaschemas; anything else (another
file, a remote URL) is refused. :func:`check_refs` proves at load time that every reference
resolves; :class:`Resolver` answers the compiler, which also needs each target's JSON pointer
(to unroll recursion a bounded number of times).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from ..errors import SchemaError

if TYPE_CHECKING:  # start-up: `import formatlock` loads this module
    from referencing import Registry

_VALUES = ("enum", "const", "examples", "default")  # JSON values, never walked for subschemas
_NAME_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies")
_ROOT_URN = "urn:formatlock:schema"


def pointer_token(token: Any) -> str:
    """Escape one JSON pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer_of(path: Iterable[Any]) -> str:
    """The JSON pointer of a path of keys and indexes (``["items", 0]`` -> ``/items/0``)."""
    return "".join(f"/{pointer_token(step)}" for step in path)


def base_uri(document: Any) -> str:
    """The URI the schema's root is known by: its ``$id`` (``id`` before draft 6), else a fixed URN."""
    if isinstance(document, dict):
        for key in ("$id", "id"):
            if isinstance(document.get(key), str):
                return document[key].removesuffix("#")  # an empty fragment names the same resource
    return _ROOT_URN


def iter_refs(document: Any) -> Iterator[tuple[str, str, str, str]]:
    """Every ``$ref``/``$dynamicRef``: the pointer of the object holding it, the ref, its base URI, the keyword."""
    for pointer, node, base in _schemas(document, _id_reader(document)):
        for keyword in ("$ref", "$dynamicRef"):
            if isinstance(node.get(keyword), str):
                yield pointer, node[keyword], base, keyword


def _id_reader(document: Any) -> Callable[[Any], str | None]:
    """The identifier keyword of the document's draft (``$id``, or ``id`` before draft 6), as referencing reads it."""
    from referencing.jsonschema import (  # start-up: `import formatlock` loads this module
        DRAFT202012,
        specification_with,
    )

    dialect = document.get("$schema") if isinstance(document, dict) else None
    spec = specification_with(dialect, default=DRAFT202012) if isinstance(dialect, str) else DRAFT202012
    return spec.id_of


def _schemas(document: Any, id_of: Callable[[Any], str | None]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Every object of the document, with its JSON pointer and base URI, outside JSON values
    (``enum``, ``const``, ...). Members of a name map (``properties``, ``$defs``, ...) are names,
    so a definition called ``enum`` is walked like any other."""
    stack: list[tuple[Any, str, str, bool]] = [(document, "", base_uri(document), False)]
    while stack:
        node, pointer, base, in_map = stack.pop()
        if isinstance(node, dict):
            if not in_map:
                # A member named "id" or "$id" holds a schema, not a string: only a string identifies.
                if pointer and any(isinstance(node.get(key), str) for key in ("$id", "id")):
                    own = id_of(node)
                    base = urljoin(base, own) if isinstance(own, str) else base
                yield pointer, node, base
            children = [(value, f"{pointer}/{pointer_token(key)}", base, not in_map and key in _NAME_MAPS)
                        for key, value in node.items() if in_map or key not in _VALUES]
        elif isinstance(node, list):
            children = [(value, f"{pointer}/{i}", base, False) for i, value in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))


def check_refs(document: Any, source: str) -> None:
    """Raise SchemaError, in one line, for the first reference that does not resolve inside the schema."""
    from referencing.exceptions import PointerToNowhere, Unresolvable  # start-up: `import formatlock` loads this module

    registry = local_registry(document)
    for pointer, ref, base, keyword in iter_refs(document):
        where = f"{keyword} {ref!r} at {pointer or '/'}"
        try:
            registry.resolver(base).lookup(ref)
        except PointerToNowhere:
            raise SchemaError(f"{source}: {where} points to nothing in the schema") from None
        except Unresolvable:
            if ref.startswith("#"):
                raise SchemaError(f"{source}: {where} names no anchor or place in the schema") from None
            if urlsplit(ref).scheme in ("", "file"):
                raise SchemaError(f"{source}: {where} names another file; formatlock resolves references inside "
                                  "the schema only: move that schema into $defs") from None
            raise SchemaError(f"{source}: remote {where} is not fetched; formatlock resolves only local "
                              "references and bundled metaschemas") from None


def local_registry(document: Any) -> Registry[Any]:
    """The document (a private copy) plus the bundled metaschemas; retrieving anything else fails."""
    return _cached_registry(json.dumps(document, sort_keys=True))


@lru_cache(maxsize=64)
def _cached_registry(canonical: str) -> Registry[Any]:
    return _registry_over(json.loads(canonical))


def _registry_over(document: Any) -> Registry[Any]:
    """A registry whose resource is ``document`` itself (not a copy), so lookups return its own objects."""
    from jsonschema_specifications import REGISTRY as METASCHEMAS  # start-up: `import formatlock` loads this module
    from referencing import Registry, Resource  # start-up: `import formatlock` loads this module
    from referencing.exceptions import NoSuchResource  # start-up: `import formatlock` loads this module
    from referencing.jsonschema import DRAFT202012  # start-up: `import formatlock` loads this module

    def refuse(uri: str) -> NoReturn:
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # mypy's attrs plugin misreads referencing's fields

    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = METASCHEMAS.combine(Registry(retrieve=refuse))  # type: ignore[call-arg]
    return registry.with_resource(base_uri(document), resource)


class Resolver:
    """Resolves references inside one schema document, giving each target with its JSON pointer.

    Relative references resolve against the base URI of the subschema that holds them (nested
    ``$id`` included); a subschema that is not part of the document (one the compiler merged)
    resolves against the root's. Dynamic references resolve statically, to their own anchor.
    """

    def __init__(self, document: Any) -> None:
        self.registry = _registry_over(document)  # also what a validator of this document can resolve with
        self._root_base = base_uri(document)
        self._where: dict[int, tuple[str, str]] = {}  # id(subschema) -> (JSON pointer, base URI)
        for pointer, node, base in _schemas(document, _id_reader(document)):
            self._where.setdefault(id(node), (pointer, base))

    def lookup(self, ref: str, at: Any = None) -> tuple[Any, str] | None:
        """The subschema ``ref`` (held by ``at``) points to, and its pointer; None if not in this document."""
        from referencing.exceptions import Unresolvable  # start-up: `import formatlock` loads this module

        base = self._where[id(at)][1] if id(at) in self._where else self._root_base
        try:
            resolved = self.registry.resolver(base).lookup(ref)
        except Unresolvable:
            return None
        target = resolved.contents
        if isinstance(target, dict):
            found = self._where.get(id(target))
            return None if found is None else (target, found[0])
        # A boolean (or other non-object) target: its pointer is its resource's plus the fragment.
        resource, fragment = urldefrag(ref)
        holder = self.lookup(resource or "#", at) if fragment.startswith("/") else None
        return None if holder is None else (target, holder[1] + unquote(fragment))
