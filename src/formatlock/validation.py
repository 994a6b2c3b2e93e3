"""Validation: the one place that decides whether a document satisfies a schema.

Uses jsonschema with the schema's own draft, formats asserted (by default), and a registry that
never reaches the network. Build a :class:`Validator` once and reuse it across documents.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from .errors import Issue
from .schemas import Schema, local_registry, pointer_token, validator_class


class Validator:
    """A compiled validator for one schema; cheap to call for many documents."""

    def __init__(self, schema: Schema, formats: bool = True) -> None:
        cls = validator_class(schema.document, schema.source)
        format_checker = _stricter(cls.FORMAT_CHECKER) if formats else None
        self.schema = schema
        self._validator = cls(schema.document, registry=local_registry(schema.document), format_checker=format_checker)

    def errors(self, document: Any, limit: int | None = None) -> list[Issue]:
        """Every problem with ``document`` (up to ``limit``), most specific first, in document order."""
        found: list[Issue] = []
        for error in sorted(self._validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
            found.append(_issue(error))
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found

    def is_valid(self, document: Any) -> bool:
        return self._validator.is_valid(document)

    def check_text(self, text: str) -> tuple[Any, list[Issue]]:
        """Parse JSON text and validate it; a parse failure is reported as an issue, not raised."""
        try:
            document = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nesting too deep"
            return None, [Issue(pointer="", keyword="json", message=f"not valid JSON: {message}")]
        return document, self.errors(document)


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf'(?:{_ATOM}(?:\.{_ATOM})*|"(?:[^"\\\r\n]|\\.)*")@(?:{_LABEL}(?:\.{_LABEL})*|\[[^\[\]\s]+\])')


def _stricter(checker: Any) -> Any:
    """The draft's format checker with stricter ``uuid`` and ``email`` (jsonschema's accept any '@')."""
    import ipaddress

    def email(value: object) -> bool:
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

    stricter = copy.deepcopy(checker)
    stricter.checkers["uuid"] = (lambda v: not isinstance(v, str) or bool(_UUID.fullmatch(v)), ())
    stricter.checkers["email"] = (email, ())
    return stricter


def _issue(error: Any) -> Issue:
    pointer = "".join(f"/{pointer_token(p)}" for p in error.absolute_path)
    return Issue(pointer=pointer, keyword=str(error.validator), message=error.message)
