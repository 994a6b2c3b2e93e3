"""formatlock: make local LLMs return output that always matches a schema.

The data flow is schema -> compiled constraint -> generation -> validation -> record -> dataset;
each step has its own module. The public API is re-exported here and imported lazily, so
``import formatlock`` stays fast and does not load llama.cpp.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .schema.formats import defer_slow_imports

defer_slow_imports()  # before anything imports jsonschema: its `iri` checker loads at first use

from .enforce import enforce  # noqa: E402 - eager: a lazy attribute would be shadowed by the submodule
from .errors import (  # noqa: E402 - after the deferral above
    CompileError,
    DecodingError,
    EnforcementError,
    FormatlockError,
    InputError,
    ModelError,
    RefusedError,
    SchemaError,
    ServerError,
    UnsupportedSchemaError,
    UsageError,
)
from .schema.loading import Schema, load_schema  # noqa: E402
from .schema.validation import Validator  # noqa: E402

__all__ = [
    "CompileError", "DecodingError", "EnforcementError", "FormatlockError", "InputError", "ModelError", "RefusedError",
    "SchemaError", "ServerError", "UnsupportedSchemaError", "UsageError", "Schema", "Validator", "load_schema",
    "generate", "generate_results", "enforce", "CallLog", "load_llama",
]

_LAZY = {"generate": "generation", "generate_results": "generation", "CallLog": "calllog",
         "load_llama": "runtime.models"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'formatlock' has no attribute {name!r}")
