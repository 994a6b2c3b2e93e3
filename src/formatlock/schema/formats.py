"""Format checkers: python-jsonschema's, made stricter for ``email``/``uuid``, loaded at first use.

``jsonschema`` imports every optional format library when it is imported. One of them,
``rfc3987_syntax`` (the ``iri`` formats), builds a Lark grammar at import time: about 1.3 s of every
command's start. :func:`defer_slow_imports` puts a stand-in in its place whose one function loads
the real module on its first call, so only a schema that uses ``iri`` pays for it.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import ipaddress
import re
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

_DEFERRED = "rfc3987_syntax"


class _Deferred(types.ModuleType):
    """Stands in for a module until something uses it; then the real module takes its place."""

    def _load(self) -> types.ModuleType:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__["_real"] = real
        return real

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system's own probes (__path__, ...) must not load it
            raise AttributeError(name)
        real = self.__dict__.get("_real") or self._load()
        return getattr(real, name)


def defer_slow_imports() -> None:
    """Install the stand-in for ``rfc3987_syntax`` unless it is absent or already imported."""
    spec = None if _DEFERRED in sys.modules else importlib.util.find_spec(_DEFERRED)
    if spec is None:
        return
    stub = _Deferred(_DEFERRED)
    stub.__spec__ = spec

    def is_valid_syntax(*args: Any, **kwargs: Any) -> Any:
        return stub.__getattr__("is_valid_syntax")(*args, **kwargs)

    # jsonschema does `from rfc3987_syntax import is_valid_syntax` at import: give it the
    # delegating function instead of loading the grammar there and then.
    stub.__dict__["is_valid_syntax"] = is_valid_syntax
    sys.modules[_DEFERRED] = stub


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf'(?:{_ATOM}(?:\.{_ATOM})*|"(?:[^"\\\r\n]|\\.)*")@(?:{_LABEL}(?:\.{_LABEL})*|\[[^\[\]\s]+\])')


def _is_email(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _EMAIL.fullmatch(value):
        return False
    domain = value.rsplit("@", 1)[1]
    if domain.startswith("["):
        literal = domain[1:-1]
        try:
            ipaddress.ip_address(literal[5:] if literal.startswith("IPv6:") else literal)
        except ValueError:
            return False
    return True


def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(_UUID.fullmatch(value))


def is_pattern(value: object) -> bool:
    """A schema's ``pattern`` is a regex in Python's syntax or in ECMA-262's (``\\p{Letter}``, ``\\cA``),
    which JSON Schema names and jsonschema-rs, the verdict engine, reads."""
    if not isinstance(value, str):
        return True
    try:
        re.compile(value)
        return True
    except (re.error, OverflowError, RecursionError):
        pass
    import jsonschema_rs  # start-up: `import formatlock` loads this module

    try:
        jsonschema_rs.validator_for({"pattern": value})
    except (jsonschema_rs.ValidationError, ValueError):
        return False
    return True


def for_schemas(checker: Any) -> Any:
    """The checker schemas are meta-validated with: ``regex`` takes ECMA-262 patterns too."""
    result = copy.deepcopy(checker)
    result.checkers["regex"] = (is_pattern, ())
    return result


def stricter(checker: Any) -> Any:
    """The draft's format checker with stricter ``uuid`` and ``email`` (jsonschema's accept any '@')."""
    result = copy.deepcopy(checker)
    result.checkers["uuid"] = (_is_uuid, ())
    result.checkers["email"] = (_is_email, ())
    return result


def used_formats(node: Any) -> set[str]:
    """Every ``format`` name a schema mentions (values of ``enum``/``const``/examples skipped)."""
    return set(_formats(node))


def _formats(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            yield node["format"]
        for key, value in node.items():
            if key not in ("enum", "const", "examples", "default"):
                yield from _formats(value)
    elif isinstance(node, list):
        for value in node:
            yield from _formats(value)


def callables(checker: Any, names: set[str]) -> dict[str, Callable[[str], bool]]:
    """One predicate per format name: the checker's where it knows the name, else always true.

    Handing these to another engine keeps its format verdicts those of ``checker`` exactly,
    including which names are mere annotations.
    """
    def conforms(name: str) -> Callable[[str], bool]:
        check, raises = checker.checkers[name]  # what checker.conforms does, without its FormatError

        def predicate(value: str) -> bool:
            try:
                return bool(check(value))
            except raises:
                return False
        return predicate

    known = checker.checkers
    return {name: conforms(name) if name in known else (lambda value: True)
            for name in names}
