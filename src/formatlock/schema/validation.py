"""Validation: the one place that decides whether a document satisfies a schema.

The verdict comes from jsonschema-rs (compiled, drafts 4 to 2020-12, no network) with the format
checks of python-jsonschema (stricter ``email``/``uuid``, see :mod:`formatlock.schema.formats`), so a
format means the same whichever engine runs. python-jsonschema, loaded only for a document that
fails, words the errors. It also decides alone where jsonschema-rs cannot take the schema
(draft 3, a pattern in Python-only syntax) or the document: then :attr:`Validator.engine` says so.
Build a :class:`Validator` once and reuse it across documents.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import Issue
from . import json_text
from .formats import callables, stricter, used_formats
from .loading import Schema, load_schema, validator_class
from .messages import Wording
from .references import local_registry, pointer_of

_RUST_DRAFTS = ("Draft4Validator", "Draft6Validator", "Draft7Validator", "Draft201909Validator", "Draft202012Validator")


def typed(schema: Schema, document: Any) -> tuple[Any, list[Issue]]:
    """The one Pydantic step: the model instance for a schema made from a Pydantic model (else the
    document itself), or why not, one issue per Pydantic error. It runs after the JSON Schema check
    passed and is stricter than the JSON Schema in rare cases."""
    if schema.pydantic_model is None:
        return document, []
    from pydantic import ValidationError  # start-up: `import formatlock` loads this module

    try:
        return schema.pydantic_model.model_validate(document), []  # type: ignore[attr-defined]
    except ValidationError as exc:
        return None, [Issue(pointer_of(error["loc"]), "pydantic", error["msg"])
                      for error in exc.errors()]


class Validator:
    """A compiled validator for one schema; cheap to call for many documents."""

    def __init__(self, schema: Schema | Any, formats: bool = True) -> None:
        """``schema``: a loaded :class:`Schema`, or anything :func:`load_schema` takes."""
        schema = schema if isinstance(schema, Schema) else load_schema(schema)
        self.schema = schema
        self._cls = validator_class(schema.document, schema.source)
        self._checker = stricter(self._cls.FORMAT_CHECKER) if formats else None
        self._fast = _compiled(schema.document, self._cls, self._checker)
        self._reference: Any = None
        self._wording: Wording | None = None
        self.engine = "jsonschema-rs" if self._fast is not None else "jsonschema"

    def is_valid(self, document: Any) -> bool:
        """The verdict: jsonschema-rs where it took the schema, else python-jsonschema."""
        if self._fast is not None:
            try:
                return self._fast.is_valid(document)
            except (ValueError, OverflowError, TypeError):  # a value it cannot convert
                pass
        return self._python().is_valid(document)

    def errors(self, document: Any, limit: int | None = None) -> list[Issue]:
        """Every problem with ``document`` (up to ``limit``), most specific first, in document order."""
        if self.is_valid(document):
            return []
        try:
            found = self._located(document, limit)
            if found is None:
                found = _limited(self._python().iter_errors(document), _issue, limit)
        except re.error:  # an ECMA-262 pattern (\p{Letter}) that only the verdict engine reads: its words
            found = []
        if not found and self._fast is not None:
            # The two engines disagree: report the deciding one's own words rather than nothing.
            found = _limited(self._fast.iter_errors(document), _rust_issue, limit)
        return found or [Issue("", "schema", "does not match the schema")]

    def check_text(self, text: str) -> tuple[Any, list[Issue]]:
        """Parse JSON text and validate it; a parse failure is reported as an issue, not raised."""
        try:
            document = json_text.loads(text)
        except json_text.ERRORS as exc:
            return None, [Issue(pointer="", keyword="json", message=f"not valid JSON: {json_text.why_not(exc)}")]
        return document, self.errors(document)

    def _located(self, document: Any, limit: int | None) -> list[Issue] | None:
        """python-jsonschema's issues, asked only at the places jsonschema-rs found errors (see
        :mod:`formatlock.schema.messages`); None where that cannot be done for this document."""
        if self._fast is None:
            return None
        if self._wording is None:
            self._wording = Wording(self.schema.document, self._python())
        try:
            found = self._wording.issues(document, self._fast.iter_errors(document))
        except (ValueError, OverflowError, TypeError):  # a value jsonschema-rs cannot convert
            return None
        if found is None:
            return None
        issues = [issue for _, issue in sorted(found, key=lambda f: (f[1].pointer.split("/"), f[0]))]
        return issues if limit is None else issues[:limit]

    def _python(self) -> Any:
        if self._reference is None:
            document = self.schema.document
            self._reference = self._cls(document, registry=local_registry(document), format_checker=self._checker)
        return self._reference


def _compiled(document: Any, cls: type, checker: Any) -> Any:
    """A jsonschema-rs validator for the schema, or None where it cannot take it."""
    if cls.__name__ not in _RUST_DRAFTS:
        return None
    import jsonschema_rs  # start-up: `import formatlock` loads this module

    engine = getattr(jsonschema_rs, cls.__name__)
    options: dict[str, Any] = {"offline": True, "ignore_unknown_formats": True, "validate_formats": checker is not None}
    if checker is not None:
        options["formats"] = callables(checker, used_formats(document))
    try:
        return engine(document, **options)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError):
        return None


def _limited(errors: Any, convert: Any, limit: int | None) -> list[Issue]:
    found = sorted((convert(e) for e in errors), key=lambda i: i.pointer.split("/"))
    return found if limit is None else found[:limit]


def _issue(error: Any) -> Issue:
    return Issue(pointer=pointer_of(error.absolute_path), keyword=str(error.validator), message=error.message)


def _rust_issue(error: Any) -> Issue:
    keyword = str(error.schema_path[-1]) if error.schema_path else "schema"
    return Issue(pointer=pointer_of(error.instance_path), keyword=keyword, message=error.message)
